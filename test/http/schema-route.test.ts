/**
 * GET /api/v1/schema serves the spec's JSON Schema without a credential (an
 * editor cannot send one), the same document as `steadystate schema` and the
 * committed schema/experiment.schema.json; the OpenAPI document embeds the
 * same generator's output for spec bodies.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { experimentJsonSchema, experimentOpenApiSchema } from '../../src/spec/json-schema.ts';
import { startHttpHarness, type HttpHarness } from './harness.ts';

const root = new URL('../../', import.meta.url);

describe('the spec schema over HTTP and on the command line', () => {
  let h: HttpHarness;
  before(async () => {
    h = await startHttpHarness();
  });
  after(async () => h.close());

  it('GET /api/v1/schema answers the JSON Schema, with no token', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/v1/schema' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/schema\+json/);
    assert.deepEqual(res.json(), experimentJsonSchema());
    assert.equal(res.json().$schema, 'http://json-schema.org/draft-07/schema#');
  });

  it('the OpenAPI document describes spec bodies with the same fields and descriptions', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/docs/json', headers: { authorization: `Bearer ${h.tokens.viewer}` } });
    const body = res.json().paths['/api/v1/experiments'].post.requestBody.content['application/yaml'].schema;
    assert.deepEqual(body, JSON.parse(JSON.stringify(experimentOpenApiSchema())));
    assert.match(body.properties.spec.properties.analysis.properties.alpha.description, /Significance level/);
  });

  it('`steadystate schema` prints the committed schema file, exit 0', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [new URL('bin/steadystate.js', root).pathname, 'schema']);
    assert.equal(stdout, await readFile(new URL('schema/experiment.schema.json', root), 'utf8'));
  });
});
