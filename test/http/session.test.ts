/**
 * The browser session and the CSRF defence through `app.inject`: the login
 * page, the cookie's attributes, the Origin check on every write that rides
 * on a cookie, login CSRF, logout, expiry and revocation. (The same attack in
 * a real browser is test/browser/cross-site.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import { SESSION_TTL_MS } from '../../src/http/session-store.ts';
import { startHttpHarness, specYaml, type HttpHarness } from './harness.ts';

// app.inject addresses requests to Host localhost:80, so this is the service's own origin.
const SELF = 'http://localhost';
const OTHER_PORT = 'http://localhost:8081';

describe('browser session and CSRF', () => {
  let h: HttpHarness;
  let n = 0;

  before(async () => {
    h = await startHttpHarness();
  });
  after(async () => h.close());

  /** Log in with JSON; the session id from Set-Cookie. */
  async function login(token: string): Promise<string> {
    const res = await h.app.inject({ method: 'POST', url: '/login', headers: { origin: SELF }, payload: { token } });
    assert.equal(res.statusCode, 200, res.body);
    const id = /steadystate_session=([^;]+)/.exec(String(res.headers['set-cookie']))?.[1];
    assert.ok(id);
    return id;
  }

  const create = (headers: Record<string, string>): Promise<{ statusCode: number; body: string; json(): any }> =>
    h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: { 'content-type': 'application/yaml', ...headers }, payload: specYaml(`s-${++n}`) } satisfies InjectOptions);

  it('a browser opening a page without a session is sent to /login; API clients get a 401', async () => {
    const page = await h.app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html,application/xhtml+xml' } });
    assert.equal(page.statusCode, 303);
    assert.equal(page.headers.location, '/login');
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/runs', headers: { accept: 'application/json' } })).statusCode, 401);
    assert.equal((await h.app.inject({ method: 'POST', url: '/api/v1/halt-all', headers: { accept: 'text/html' } })).statusCode, 401);
  });

  it('GET /login is a script-free form under a strict CSP', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/login' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-security-policy'], "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.doesNotMatch(res.body, /<script|src=|href="http/i);
    assert.match(res.body, /<form method="post" action="\/login">/);
    assert.match(res.body, /name="token" type="password"/);
  });

  it('POST /login sets an HttpOnly, SameSite=Strict session cookie holding a session id, not the token', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/login', headers: { origin: SELF }, payload: { token: h.tokens.admin } });
    assert.equal(res.statusCode, 200, res.body);
    const cookie = String(res.headers['set-cookie']);
    assert.match(cookie, /^steadystate_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    assert.ok(!cookie.includes(h.tokens.admin));
    assert.deepEqual(res.json().session.role, 'admin');
  });

  it('over TLS (an https public URL) the cookie is Secure', async () => {
    const tls = await startHttpHarness({ STEADYSTATE_PUBLIC_URL: 'https://chaos.example.com' });
    try {
      const res = await tls.app.inject({ method: 'POST', url: '/login', headers: { origin: 'https://chaos.example.com' }, payload: { token: tls.tokens.viewer } });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(String(res.headers['set-cookie']), /; Secure$/);
    } finally {
      await tls.close();
    }
  });

  it('the login form: a valid token redirects to the run index; a bad one shows the form again (401)', async () => {
    const form = { origin: SELF, 'content-type': 'application/x-www-form-urlencoded' };
    const ok = await h.app.inject({ method: 'POST', url: '/login', headers: form, payload: `token=${encodeURIComponent(h.tokens.viewer)}` });
    assert.equal(ok.statusCode, 303, ok.body);
    assert.equal(ok.headers.location, '/');
    const id = /steadystate_session=([^;]+)/.exec(String(ok.headers['set-cookie']))?.[1];
    const index = await h.app.inject({ method: 'GET', url: '/', headers: { cookie: `steadystate_session=${id}` } });
    assert.equal(index.statusCode, 200);
    const bad = await h.app.inject({ method: 'POST', url: '/login', headers: form, payload: 'token=sst_wrong' });
    assert.equal(bad.statusCode, 401);
    assert.match(bad.body, /That token is not valid/);
    assert.equal(bad.headers['set-cookie'], undefined);
  });

  it('login CSRF: POST /login from another origin, or with no Origin, sets no cookie (403)', async () => {
    for (const headers of [{ origin: OTHER_PORT }, { origin: 'null' }, {}]) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/login',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        payload: `token=${encodeURIComponent(h.tokens.admin)}`,
      });
      assert.equal(res.statusCode, 403, JSON.stringify(headers));
      assert.equal(res.json().error, 'cross_origin');
      assert.equal(res.headers['set-cookie'], undefined);
    }
  });

  it('a write on a session needs this site\'s Origin: none or another port is 403; our own is allowed', async () => {
    const id = await login(h.tokens.admin);
    const cookie = `steadystate_session=${id}`;
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/experiments', headers: { cookie } })).statusCode, 200, 'reads need no Origin');
    for (const origin of [undefined, OTHER_PORT, 'http://127.0.0.1', 'null', 'https://localhost.attacker.example']) {
      const res = await create({ cookie, ...(origin ? { origin } : {}) });
      assert.equal(res.statusCode, 403, `${origin}: ${res.body}`);
      assert.equal(res.json().error, 'cross_origin');
    }
    for (const url of ['/api/v1/halt-all', '/api/v1/experiments/x/runs', '/api/v1/runs/x/abort', '/api/v1/tokens']) {
      assert.equal((await h.app.inject({ method: 'POST', url, headers: { cookie } })).statusCode, 403, url);
    }
    assert.equal((await h.app.inject({ method: 'DELETE', url: '/api/v1/halt-all', headers: { cookie } })).statusCode, 403);
    assert.equal((await create({ cookie, origin: SELF })).statusCode, 201);
  });

  it('bearer tokens need no Origin (CLIs, CI), but a foreign Origin is refused on any write', async () => {
    assert.equal((await create({ authorization: `Bearer ${h.tokens.admin}` })).statusCode, 201);
    assert.equal((await create({ authorization: `Bearer ${h.tokens.admin}`, origin: OTHER_PORT })).statusCode, 403);
  });

  it('a viewer\'s session cannot write, even from our own origin (403 forbidden)', async () => {
    const id = await login(h.tokens.viewer);
    const res = await create({ cookie: `steadystate_session=${id}`, origin: SELF });
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().error, 'forbidden');
  });

  it('logout, token revocation and expiry end a session', async () => {
    const id = await login(h.tokens.operator);
    const cookie = `steadystate_session=${id}`;
    const out = await h.app.inject({ method: 'POST', url: '/logout', headers: { cookie, origin: SELF } });
    assert.equal(out.statusCode, 303);
    assert.equal(out.headers.location, '/login');
    assert.match(String(out.headers['set-cookie']), /^steadystate_session=; .*Max-Age=0/);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/runs', headers: { cookie } })).statusCode, 401);

    const temp = await h.store.tokens.create({ name: 'temp', role: 'viewer' });
    const tempSession = await login(temp.token);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/runs', headers: { cookie: `steadystate_session=${tempSession}` } })).statusCode, 200);
    await h.store.tokens.revoke(temp.id);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/runs', headers: { cookie: `steadystate_session=${tempSession}` } })).statusCode, 401);

    const live = await login(h.tokens.viewer);
    assert.ok(await h.store.sessions.verify(live));
    assert.equal(await h.store.sessions.verify(live, new Date(Date.now() + SESSION_TTL_MS + 1000)), undefined);
  });
});
