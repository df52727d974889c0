/**
 * Every route × every role: only /healthz answers without a token, and each
 * role gets exactly its rights. The table must cover every registered route,
 * so a new route cannot slip in unprotected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { routesOf } from '../../src/http/app.ts';
import { startHttpHarness, specYaml, type HttpHarness } from './harness.ts';

type Need = 'public' | 'viewer' | 'operator' | 'admin';
const RANK = { viewer: 1, operator: 2, admin: 3 } as const;

// method, url, the role it needs, and a body where one is needed to get past validation.
const ROUTES: { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; url: string; need: Need; pattern: string; body?: string; yaml?: boolean }[] = [
  { method: 'GET', url: '/healthz', need: 'public', pattern: '/healthz' },
  { method: 'POST', url: '/hooks/deploy/github', need: 'public', pattern: '/hooks/deploy/:provider', body: '{}' },
  { method: 'GET', url: '/login', need: 'public', pattern: '/login' },
  { method: 'GET', url: '/api/v1/schema', need: 'public', pattern: '/api/v1/schema' },
  { method: 'POST', url: '/login', need: 'public', pattern: '/login', body: JSON.stringify({ token: 'sst_not-a-real-token' }) },
  { method: 'POST', url: '/logout', need: 'viewer', pattern: '/logout' },
  { method: 'GET', url: '/api/v1/schedules', need: 'viewer', pattern: '/api/v1/schedules' },
  { method: 'GET', url: '/', need: 'viewer', pattern: '/' },
  { method: 'GET', url: '/api/v1/runs/nope/report.html', need: 'viewer', pattern: '/api/v1/runs/:id/report.html' },
  { method: 'GET', url: '/runs/nope', need: 'viewer', pattern: '/runs/:id' },
  { method: 'GET', url: '/api/v1/runs/nope/live', need: 'viewer', pattern: '/api/v1/runs/:id/live' },
  { method: 'GET', url: '/assets/live-run.js', need: 'viewer', pattern: '/assets/live-run.js' },
  { method: 'GET', url: '/readyz', need: 'viewer', pattern: '/readyz' },
  { method: 'GET', url: '/metrics', need: 'viewer', pattern: '/metrics' },
  { method: 'GET', url: '/docs/json', need: 'viewer', pattern: '/docs/json' },
  { method: 'GET', url: '/api/v1/experiments', need: 'viewer', pattern: '/api/v1/experiments' },
  { method: 'POST', url: '/api/v1/experiments', need: 'admin', pattern: '/api/v1/experiments', body: specYaml('acl-new'), yaml: true },
  { method: 'GET', url: '/api/v1/experiments/acl', need: 'viewer', pattern: '/api/v1/experiments/:name' },
  { method: 'GET', url: '/api/v1/experiments/acl/versions', need: 'viewer', pattern: '/api/v1/experiments/:name/versions' },
  { method: 'PUT', url: '/api/v1/experiments/acl', need: 'admin', pattern: '/api/v1/experiments/:name', body: specYaml('acl'), yaml: true },
  { method: 'DELETE', url: '/api/v1/experiments/acl-gone', need: 'admin', pattern: '/api/v1/experiments/:name' },
  { method: 'POST', url: '/api/v1/experiments/acl/runs', need: 'operator', pattern: '/api/v1/experiments/:name/runs' },
  { method: 'GET', url: '/api/v1/runs', need: 'viewer', pattern: '/api/v1/runs' },
  { method: 'GET', url: '/api/v1/runs/nope', need: 'viewer', pattern: '/api/v1/runs/:id' },
  { method: 'GET', url: '/api/v1/runs/nope/events', need: 'viewer', pattern: '/api/v1/runs/:id/events' },
  { method: 'POST', url: '/api/v1/runs/nope/abort', need: 'operator', pattern: '/api/v1/runs/:id/abort' },
  { method: 'GET', url: '/api/v1/runs/nope/report.json', need: 'viewer', pattern: '/api/v1/runs/:id/report.json' },
  { method: 'GET', url: '/api/v1/runs/nope/report.md', need: 'viewer', pattern: '/api/v1/runs/:id/report.md' },
  { method: 'GET', url: '/api/v1/halt-all', need: 'viewer', pattern: '/api/v1/halt-all' },
  { method: 'POST', url: '/api/v1/halt-all', need: 'operator', pattern: '/api/v1/halt-all' },
  { method: 'DELETE', url: '/api/v1/halt-all', need: 'admin', pattern: '/api/v1/halt-all' },
  { method: 'POST', url: '/api/v1/tokens', need: 'admin', pattern: '/api/v1/tokens', body: JSON.stringify({ name: 'x', role: 'viewer' }) },
  { method: 'GET', url: '/api/v1/tokens', need: 'admin', pattern: '/api/v1/tokens' },
  { method: 'DELETE', url: '/api/v1/tokens/nope', need: 'admin', pattern: '/api/v1/tokens/:id' },
];

describe('access control: every route × every role', () => {
  let h: HttpHarness;

  before(async () => {
    h = await startHttpHarness();
    await h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'application/yaml' }, payload: specYaml('acl') });
    await h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'application/yaml' }, payload: specYaml('acl-gone') });
  });
  after(async () => h.close());

  it('the table covers every route the app registers', () => {
    for (const r of routesOf(h.app)) {
      if (r.method === 'HEAD' || r.url.startsWith('/docs')) continue;
      assert.ok(ROUTES.some((t) => t.pattern === r.url && t.method === r.method), `route ${r.method} ${r.url} is missing from the access table`);
      const declared = ROUTES.find((t) => t.pattern === r.url && t.method === r.method);
      assert.equal(r.access ?? 'admin', declared?.need, `${r.method} ${r.url}`);
    }
  });

  for (const route of ROUTES) {
    it(`${route.method} ${route.url} needs ${route.need}`, async () => {
      const send = async (token: string | undefined, auth?: string) =>
        h.app.inject({
          method: route.method,
          url: route.url,
          headers: {
            ...(auth ? { authorization: auth } : token ? { authorization: `Bearer ${token}` } : {}),
            ...(route.body ? { 'content-type': route.yaml ? 'application/yaml' : 'application/json' } : {}),
          },
          ...(route.body ? { payload: route.body } : {}),
        });
      const anonymous = await send(undefined);
      // Webhooks authenticate by signature; in this harness no provider has a secret, so each is disabled (404).
      if (route.need === 'public' && route.pattern.startsWith('/hooks/')) {
        assert.equal(anonymous.statusCode, 404, anonymous.body);
        return;
      }
      // The login page is for strangers; logging in needs this site's Origin (login CSRF), then a valid token.
      if (route.url === '/login') {
        if (route.method === 'GET') assert.equal(anonymous.statusCode, 200);
        else assert.equal(anonymous.statusCode, 403, anonymous.body);
        return;
      }
      // The spec's JSON Schema is public so editors can fetch it: the spec format, nothing about this service's state.
      if (route.url === '/api/v1/schema') {
        assert.equal(anonymous.statusCode, 200);
        assert.equal(anonymous.json().title, 'steadystate Experiment');
        return;
      }
      if (route.need === 'public') {
        assert.equal(anonymous.statusCode, 200);
        // Liveness reveals nothing.
        assert.deepEqual(anonymous.json(), { status: 'ok' });
        return;
      }
      assert.equal(anonymous.statusCode, 401, `anonymous: ${anonymous.body}`);
      assert.equal((await send(undefined, 'Bearer sst_not-a-real-token')).statusCode, 401);
      assert.equal((await send(undefined, `Basic ${Buffer.from('a:b').toString('base64')}`)).statusCode, 401);
      for (const role of ['viewer', 'operator', 'admin'] as const) {
        const res = await send(h.tokens[role]);
        if (RANK[role] < RANK[route.need]) {
          assert.equal(res.statusCode, 403, `${role}: ${res.body}`);
          assert.equal(res.json().error, 'forbidden');
        } else {
          assert.ok(res.statusCode !== 401 && res.statusCode !== 403, `${role} should be allowed, got ${res.statusCode}: ${res.body}`);
          assert.ok(res.statusCode < 500, `${role}: ${res.statusCode} ${res.body}`);
        }
      }
    });
  }

  it('an unknown route needs a token too, so a 404 reveals nothing to strangers', async () => {
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/secret-things' })).statusCode, 401);
    const res = await h.app.inject({ method: 'GET', url: '/api/v1/secret-things', headers: { authorization: `Bearer ${h.tokens.viewer}` } });
    assert.equal(res.statusCode, 404);
  });

  it('a revoked token stops working at once', async () => {
    const created = await h.store.tokens.create({ name: 'temp', role: 'admin' });
    const ok = await h.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: { authorization: `Bearer ${created.token}` } });
    assert.equal(ok.statusCode, 200);
    assert.ok(!ok.body.includes(created.token), 'token list never shows tokens');
    await h.store.tokens.revoke(created.id);
    const denied = await h.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: { authorization: `Bearer ${created.token}` } });
    assert.equal(denied.statusCode, 401);
  });
});
