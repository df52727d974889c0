/**
 * A spec that validates must start. A webhook-injector experiment whose
 * `open.body` holds 600 characters used to be saved (201) and then refused at
 * every start (400 "target: … at most 512 characters"): the run's target is
 * the rendered request. Now the target keeps a readable head and a SHA-256 of
 * the whole, so it fits, and equal targets still lock each other.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { boundedTarget, MAX_TARGET_CHARS } from '../../src/service/spec-checks.ts';
import { startHttpHarness, type HttpHarness } from '../http/harness.ts';
import { startSyntheticWorld, syntheticSpecYaml, type SyntheticWorld } from '../helpers/synthetic-world.ts';

describe('a webhook experiment with a long open body', () => {
  let h: HttpHarness;
  let world: SyntheticWorld;
  const admin = (): Record<string, string> => ({ authorization: `Bearer ${h.tokens.admin}` });

  before(async () => {
    world = await startSyntheticWorld();
    h = await startHttpHarness();
  });
  after(async () => {
    await h?.close();
    await world?.stop();
  });

  it('validates, is saved (201) and starts (201); a second start on the same target is locked (409)', async () => {
    const body = `fault for {{runId}} ${'x'.repeat(600)}`;
    const yaml = syntheticSpecYaml('long-body', world, { openBody: body, duration: '1m' });
    const created = await h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: { ...admin(), 'content-type': 'application/yaml' }, payload: yaml });
    assert.equal(created.statusCode, 201, created.body);
    const started = await h.app.inject({ method: 'POST', url: '/api/v1/experiments/long-body/runs', headers: admin() });
    assert.equal(started.statusCode, 201, started.body);
    const run = started.json<{ run: { id: string; target: string } }>().run;
    assert.ok(run.target.length <= MAX_TARGET_CHARS, `target of ${run.target.length} characters`);
    assert.match(run.target, /^webhook:\{/);
    assert.match(run.target, /… sha256:[0-9a-f]{64}$/);

    const again = await h.app.inject({ method: 'POST', url: '/api/v1/experiments/long-body/runs', headers: admin() });
    assert.equal(again.statusCode, 409, again.body);
    assert.match(again.body, new RegExp(run.id));
    const aborted = await h.app.inject({ method: 'POST', url: `/api/v1/runs/${run.id}/abort`, headers: admin() });
    assert.equal(aborted.statusCode, 200);
  });

  it('bounds only what is too long, and keeps long targets apart by their whole text', () => {
    assert.equal(boundedTarget('http-proxy:http://127.0.0.1:9101'), 'http-proxy:http://127.0.0.1:9101');
    const a = boundedTarget(`webhook:${'a'.repeat(700)}1`);
    const b = boundedTarget(`webhook:${'a'.repeat(700)}2`);
    assert.equal(a.length, MAX_TARGET_CHARS);
    assert.notEqual(a, b, 'same head, different whole: different targets');
    assert.equal(a, boundedTarget(`webhook:${'a'.repeat(700)}1`));
  });
});
