/**
 * Every route the app registers (read from the app itself, so a new route is
 * covered the day it lands) × a fixed corpus of malformed inputs: cookies
 * that do not decode, NUL and other odd bytes in paths and query strings,
 * JSON and YAML nested 20,000 deep, wrong and missing content types, empty,
 * invalid and oversized bodies. Not one answer may be a 5xx: bad input is the
 * client's mistake and gets a 4xx that says what is wrong.
 *
 * The corpus is fixed (no randomness to replay) and bounded: about 3,500
 * requests (about 25 s here), each loop capped at two minutes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import { routesOf } from '../../src/http/app.ts';
import { startHttpHarness, specYaml, type HttpHarness } from './harness.ts';

const DEEP = 20_000;
const deepJsonArray = '['.repeat(DEEP) + ']'.repeat(DEEP);
const deepJsonObject = '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP);
const deepYamlFlow = '['.repeat(DEEP) + ']'.repeat(DEEP);
const deepYamlBlock = `${'- '.repeat(DEEP)}x\n`;
/** A valid spec whose fault params hide a 20,000-deep value: it parses, then must be refused by depth. */
const deepInsideSpec = specYaml('deep-inside').replace('latencyMs: 300 }', `latencyMs: 300, extra: ${deepYamlFlow} }`);

/** Path parameter values: NUL, broken and overlong percent-encodings, traversal, control bytes, huge. */
const ODD_SEGMENTS = ['%00', 'a%00b', '%E0%A4%A', '%ff%fe', '%C0%80', '%2e%2e%2f%2e%2e', '..%5c..', '%0d%0aset-cookie:x=1', '%7F%01', 'x'.repeat(600), '%25', '%u0000'];
const ODD_QUERIES = ['?limit=%ZZ', '?limit=1e999', '?limit=1&limit=2', '?experiment=%00', '?before=%E0%A4%A', '?after=-1', '?state[]=x', '?__proto__[x]=1', '?constructor[prototype][x]=1', `?experiment=${'q'.repeat(5000)}`, '?&&&=&=', '?a=%00%00'];
const BAD_COOKIES = [
  'steadystate_session=%E0%A4%A',
  'steadystate_token=%E0%A4%A',
  'steadystate_session=%00',
  'steadystate_session=%ff; steadystate_session=%fe',
  ';;;=;=',
  'steadystate_session="quoted value"',
  `steadystate_session=${'s'.repeat(5000)}`,
  'steadystate_session',
  '=%E0%A4%A',
];

interface BodyCase {
  name: string;
  contentType?: string;
  payload: string | Buffer;
}

function bodyCases(maxBodyBytes: number): BodyCase[] {
  return [
    { name: 'JSON array nested 20,000 deep', contentType: 'application/json', payload: deepJsonArray },
    { name: 'JSON object nested 20,000 deep', contentType: 'application/json', payload: deepJsonObject },
    { name: 'YAML flow nested 20,000 deep', contentType: 'application/yaml', payload: deepYamlFlow },
    { name: 'YAML block nested 20,000 deep', contentType: 'application/yaml', payload: deepYamlBlock },
    { name: 'a valid spec with a 20,000-deep param', contentType: 'application/yaml', payload: deepInsideSpec },
    { name: 'JSON with NUL in strings', contentType: 'application/json', payload: JSON.stringify({ name: 'a\u0000b', role: 'viewer', metadata: { name: 'x\u0000' } }) },
    { name: 'YAML with an escaped NUL', contentType: 'application/yaml', payload: specYaml('nul-inside').replace('service: shop', 'service: "sh\\0op"') },
    { name: 'invalid JSON', contentType: 'application/json', payload: '{"a": [1, 2' },
    { name: 'JSON proto pollution', contentType: 'application/json', payload: '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}}' },
    { name: 'invalid YAML', contentType: 'application/yaml', payload: ': : :\n\t- [\n  ? {' },
    { name: 'YAML alias bomb', contentType: 'application/yaml', payload: 'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n' },
    { name: 'empty JSON', contentType: 'application/json', payload: '' },
    { name: 'empty YAML', contentType: 'application/yaml', payload: '' },
    { name: 'text/plain spec', contentType: 'text/plain', payload: specYaml('plain-text') },
    { name: 'form-encoded', contentType: 'application/x-www-form-urlencoded', payload: 'a=1&b=%E0%A4%A' },
    { name: 'multipart', contentType: 'multipart/form-data; boundary=x', payload: '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n' },
    { name: 'odd content type', contentType: 'x/y/z;;;', payload: '{}' },
    { name: 'JSON in UTF-16', contentType: 'application/json; charset=utf-16', payload: Buffer.from('{"a":1}', 'utf16le') },
    { name: 'binary under JSON', contentType: 'application/json', payload: Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0xc3, 0x28]) },
    { name: 'no content type', payload: '{"a":1}' },
    { name: 'larger than the body limit', contentType: 'application/json', payload: `{"a":"${'x'.repeat(maxBodyBytes + 10)}"}` },
    { name: 'larger than the spec limit', contentType: 'application/yaml', payload: `# ${'y'.repeat(300 * 1024)}\n${specYaml('huge')}` },
  ];
}

describe('malformed input on every registered route: never a 5xx', () => {
  let h: HttpHarness;
  let sent = 0;
  const failures: string[] = [];

  before(async () => {
    h = await startHttpHarness();
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'application/yaml' },
      payload: specYaml('x'),
    });
    assert.equal(res.statusCode, 201, res.body);
  });

  after(async () => {
    // The app still answers, and stopped runs started along the way.
    assert.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    await h.runs.haltAll('fuzz-cleanup');
    await h.close();
  });

  /** Send one request; a 5xx (or a throw) is recorded, so one run reports every failing case at once. */
  const send = async (what: string, req: InjectOptions): Promise<number> => {
    sent += 1;
    try {
      const res = await h.app.inject(req);
      if (res.statusCode >= 500) failures.push(`${res.statusCode} ${what}: ${res.body.slice(0, 200)}`);
      return res.statusCode;
    } catch (err) {
      failures.push(`threw ${what}: ${String(err).slice(0, 200)}`);
      return 0;
    }
  };

  /** Concrete URLs for a route pattern: each `:param` replaced by `value`. */
  const fill = (pattern: string, value: string): string => pattern.replace(/:[A-Za-z_]+/g, value).replace(/\*$/, value);

  it('the route list comes from the app and covers the API, pages, login and hooks', () => {
    const urls = new Set(routesOf(h.app).map((r) => r.url));
    for (const u of ['/api/v1/experiments', '/api/v1/runs/:id', '/hooks/deploy/:provider', '/', '/api/v1/tokens/:id']) assert.ok(urls.has(u), u);
    assert.ok(routesOf(h.app).length >= 25, `${routesOf(h.app).length} routes`);
  });

  it('odd path bytes, bad query strings and undecodable cookies on every route', async () => {
    const admin = { authorization: `Bearer ${h.tokens.admin}` };
    const t0 = Date.now();
    for (const route of routesOf(h.app)) {
      const method = route.method as InjectOptions['method'];
      const hasParams = /[:*]/.test(route.url);
      for (const seg of ODD_SEGMENTS) {
        const url = hasParams ? fill(route.url, seg) : `${route.url.replace(/\/$/, '')}/${seg}`;
        await send(`${route.method} ${url}`, { method, url, headers: admin });
        await send(`${route.method} ${url} (anonymous)`, { method, url });
      }
      for (const q of ODD_QUERIES) {
        const url = fill(route.url, 'x') + q;
        await send(`${route.method} ${url}`, { method, url, headers: admin });
      }
      for (const cookie of BAD_COOKIES) {
        const url = fill(route.url, 'x');
        await send(`${route.method} ${url} cookie ${cookie.slice(0, 40)}`, { method, url, headers: { cookie } });
        await send(`${route.method} ${url} cookie ${cookie.slice(0, 40)} + bearer`, { method, url, headers: { cookie, ...admin } });
      }
      assert.ok(Date.now() - t0 < 120_000, 'the corpus took over two minutes');
    }
    console.log(`malformed paths/queries/cookies: ${sent} requests in ${Date.now() - t0} ms`);
    assert.deepEqual(failures, []);
  });

  it('deep, invalid, empty, oversized and mistyped bodies on every route that takes one', async () => {
    const t0 = Date.now();
    const cases = bodyCases(h.config.limits.maxBodyBytes);
    for (const route of routesOf(h.app)) {
      if (route.method === 'GET' || route.method === 'HEAD') continue;
      const url = fill(route.url, 'x');
      for (const c of cases) {
        const headers: Record<string, string> = { authorization: `Bearer ${h.tokens.admin}` };
        if (c.contentType) headers['content-type'] = c.contentType;
        await send(`${route.method} ${url} with ${c.name}`, { method: route.method, url, headers, payload: c.payload });
      }
      assert.ok(Date.now() - t0 < 120_000, 'the corpus took over two minutes');
    }
    console.log(`malformed bodies: ${sent} requests so far, ${Date.now() - t0} ms`);
    assert.deepEqual(failures, []);
  });

  it('says what is wrong: a bad cookie is 401, NUL in a path is 400, a deep body is 400 naming the limit, text/plain is 415 naming the types', async () => {
    const cookie = await h.app.inject({ method: 'GET', url: '/api/v1/runs', headers: { cookie: 'steadystate_session=%E0%A4%A' } });
    assert.equal(cookie.statusCode, 401, cookie.body);

    const nul = await h.app.inject({ method: 'GET', url: '/api/v1/experiments/a%00b', headers: { authorization: `Bearer ${h.tokens.viewer}` } });
    assert.equal(nul.statusCode, 400, nul.body);
    assert.match(nul.json().message, /NUL/);

    for (const [type, payload] of [['application/json', deepJsonArray], ['application/yaml', deepYamlFlow], ['application/yaml', deepInsideSpec]] as const) {
      const deep = await h.app.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': type },
        payload,
      });
      assert.equal(deep.statusCode, 400, `${type}: ${deep.body.slice(0, 300)}`);
      assert.match(deep.body, /nested deeper than 64 levels/, type);
    }

    const plain = await h.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'text/plain' },
      payload: specYaml('plain'),
    });
    assert.equal(plain.statusCode, 415, plain.body);
    assert.match(plain.json().message, /send content-type application\/yaml or application\/json/);
    assert.equal(await h.store.experiments.get('plain'), undefined);
  });

  it('+json and +yaml forms are specs too', async () => {
    for (const [type, payload, name] of [
      ['application/vnd.steadystate+yaml', specYaml('plus-yaml'), 'plus-yaml'],
      ['application/vnd.steadystate+json; charset=utf-8', JSON.stringify({ ...JSON.parse('{}'), apiVersion: 'steadystate.dev/v1alpha1', kind: 'Experiment', metadata: { name: 'plus-json' }, spec: { source: { kind: 'prometheus', url: 'http://127.0.0.1:9' }, steadyState: [{ name: 'sps', query: 'sum(rate(x{group="$group"}[5s]))' }], fault: { injector: 'http-proxy', params: { admin: 'http://127.0.0.1:9', errorRate: '1%' }, duration: '1m' } } }), 'plus-json'],
    ] as const) {
      const res = await h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': type }, payload });
      assert.equal(res.statusCode, 201, `${type}: ${res.body}`);
      assert.ok(await h.store.experiments.get(name));
    }
  });
});
