/**
 * Cross-site request forgery in a real browser (Debian's chromium through
 * playwright-core). An admin's browser holds credentials for the service on
 * 127.0.0.1:A; a page on 127.0.0.1:B — another port of the same host, which
 * SameSite counts as the same site, so even a SameSite=Strict cookie goes
 * along — tries what the issue #14 report did: create an experiment with a
 * text/plain body (no CORS preflight), start a run, press halt-all, submit
 * text/plain and urlencoded forms, and log the browser into another account.
 *
 * Twice: first with the old `steadystate_token` cookie that the pages used to
 * read (before the fix this created the experiment), then with the session
 * the login form opens. Nothing may change. A same-origin write from the
 * service's own origin, on the same session, succeeds: the refusals come from
 * the Origin check, not from a session that does not work.
 *
 * Skips loudly without chromium; under CI=true or STEADYSTATE_REQUIRE_CHROMIUM=1
 * that is a failure instead.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import type { HttpHarness } from '../http/harness.ts';
import { specYaml } from '../http/harness.ts';
import { checkBinary, missingPrerequisite } from '../helpers/skip.ts';
import { CHROMIUM_ARGS, logInWithForm, startPageHarness } from './page-harness.ts';

const chromiumBinary = checkBinary('chromium', process.env.STEADYSTATE_CHROMIUM ?? '/usr/bin/chromium');
const playwright = chromiumBinary.skip ? undefined : await import('playwright-core').catch((err: unknown) => err as Error);
const skip: string | false =
  chromiumBinary.skip || (playwright instanceof Error || playwright === undefined ? missingPrerequisite('chromium', `playwright-core cannot be loaded: ${String(playwright)}`) : false);

/**
 * The attacker's page. Every request is fire-and-forget (`no-cors`: the page
 * cannot read answers, it does not need to); the forms post into iframes.
 * When everything has been sent and every frame has loaded, the title says so.
 */
function attackPage(base: string, createName: string, attackerToken: string): string {
  const yaml = specYaml(createName);
  const js = (v: string): string => JSON.stringify(v).replace(/</g, '\\u003c');
  return `<!doctype html><html><head><title>attacking</title></head><body>
<iframe name="f1"></iframe><iframe name="f2"></iframe><iframe name="f3"></iframe>
<form id="plain" method="post" enctype="text/plain" target="f1" action="${base}/api/v1/experiments"><input type="hidden" id="plainField" value=""></form>
<form id="start" method="post" target="f2" action="${base}/api/v1/experiments/victim/runs"><input type="hidden" name="x" value="1"></form>
<form id="login" method="post" target="f3" action="${base}/login"><input type="hidden" name="token" value=""></form>
<script>
(async function () {
  var base = ${js(base)};
  var opts = function (method, type, body) {
    var o = { method: method, mode: 'no-cors', credentials: 'include' };
    if (type) o.headers = { 'content-type': type };
    if (body !== undefined) o.body = body;
    return o;
  };
  var sent = [];
  sent.push(fetch(base + '/api/v1/experiments', opts('POST', 'text/plain', ${js(yaml)})).catch(function () {}));
  sent.push(fetch(base + '/api/v1/experiments/victim/runs', opts('POST')).catch(function () {}));
  sent.push(fetch(base + '/api/v1/halt-all', opts('POST', 'text/plain', '')).catch(function () {}));
  sent.push(fetch(base + '/api/v1/tokens', opts('POST', 'text/plain', '{"name":"backdoor","role":"admin"}')).catch(function () {}));
  await Promise.all(sent);
  // A text/plain form: the field name is the YAML, "=" lands in a trailing comment.
  var field = document.getElementById('plainField');
  field.name = ${js(`${specYaml(`${createName}-form`)}#`)};
  document.forms.login.elements.token.value = ${js(attackerToken)};
  var frames = ['f1', 'f2', 'f3'].map(function (n) {
    return new Promise(function (resolve) { document.getElementsByName(n)[0].addEventListener('load', resolve, { once: true }); });
  });
  document.getElementById('plain').submit();
  document.getElementById('start').submit();
  document.getElementById('login').submit();
  await Promise.all(frames);
  document.title = 'done';
})();
</script></body></html>`;
}

describe('cross-site requests in a browser (chromium) change nothing', { skip }, () => {
  let h: HttpHarness;
  let base: string;
  let evil: Server;
  let evilBase: string;
  let browser: Browser;
  let attackerToken: string;
  let pageHtml = '';

  before(async () => {
    if (playwright instanceof Error || playwright === undefined) return;
    h = await startPageHarness();
    const created = await h.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'application/yaml' },
      payload: specYaml('victim'),
    });
    assert.equal(created.statusCode, 201, created.body);
    attackerToken = (await h.store.tokens.create({ name: 'mallory', role: 'viewer' })).token;
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    evil = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(pageHtml));
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', () => resolve()));
    evilBase = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
    browser = await playwright.chromium.launch({ executablePath: chromiumBinary.path, args: CHROMIUM_ARGS, timeout: 60_000 });
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (evil ? evil.close(() => resolve()) : resolve()));
    await h?.runs.haltAll('cleanup');
    await h?.close();
  });

  /** What the attack could have changed. */
  async function state(): Promise<unknown> {
    return {
      experiments: (await h.store.experiments.list()).map((e) => `${e.name}@${e.version}`).sort(),
      runs: (await h.store.runs.list({ limit: 100 })).length,
      haltAll: (await h.store.settings.haltAll()).active,
      tokens: (await h.store.tokens.list()).map((t) => t.name).sort(),
    };
  }

  /** Open the attacker's page in `context` and wait until it has sent everything. */
  async function attack(context: BrowserContext, name: string): Promise<void> {
    pageHtml = attackPage(base, name, attackerToken);
    const page = await context.newPage();
    try {
      await page.goto(`${evilBase}/attack.html`, { waitUntil: 'load' });
      await page.waitForFunction('document.title === "done"', undefined, { timeout: 20_000 });
    } finally {
      await page.close();
    }
  }

  it('with the old token cookie (what the pages used to read): nothing is created, started or halted', async () => {
    assert.ok(playwright && !(playwright instanceof Error));
    const context = await browser.newContext();
    try {
      await context.addCookies([{ name: 'steadystate_token', value: h.tokens.admin, url: base, httpOnly: true, sameSite: 'Strict' }]);
      const before = await state();
      await attack(context, 'csrf-token-cookie');
      assert.deepEqual(await state(), before);
      assert.equal(await h.store.experiments.get('csrf-token-cookie'), undefined);
    } finally {
      await context.close();
    }
  });

  it('with an admin session from the login form: nothing changes, the session stays the admin\'s, and same-origin writes still work', async () => {
    // bypassCSP only so the control below can script a fetch on our own page (its CSP allows no script, rightly).
    const context = await browser.newContext({ bypassCSP: true });
    try {
      await logInWithForm(context, base, h.tokens.admin);
      const cookies = await context.cookies(base);
      const session = cookies.find((c) => c.name === 'steadystate_session');
      assert.ok(session, `session cookie set: ${JSON.stringify(cookies.map((c) => c.name))}`);
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Strict');
      assert.equal(session.value.includes(h.tokens.admin), false, 'the cookie holds a session id, not the token');

      // What reached the service during the attack: each write carried the session cookie and was refused.
      const seen: string[] = [];
      const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
        if (req.method === 'GET') return;
        res.on('finish', () => seen.push(`${req.method} ${req.url} ${res.statusCode} ${String(req.headers.cookie).includes(session.value) ? 'with' : 'without'} session`));
      };
      h.app.server.on('request', onRequest);
      const before = await state();
      await attack(context, 'csrf-session');
      h.app.server.off('request', onRequest);
      assert.deepEqual(await state(), before);
      assert.deepEqual(seen.sort(), [
        'POST /api/v1/experiments 403 with session',
        'POST /api/v1/experiments 403 with session',
        'POST /api/v1/experiments/victim/runs 403 with session',
        'POST /api/v1/experiments/victim/runs 403 with session',
        'POST /api/v1/halt-all 403 with session',
        'POST /api/v1/tokens 403 with session',
        'POST /login 403 with session',
      ]);
      // Login CSRF: the attacker's form did not swap the admin's session for theirs.
      const after = (await context.cookies(base)).find((c) => c.name === 'steadystate_session');
      assert.equal(after?.value, session.value);

      // Control: the same session writes from the service's own origin (a page of ours, same cookie).
      const page = await context.newPage();
      await page.goto(`${base}/`, { waitUntil: 'load' });
      const status = await page.evaluate(
        `fetch('/api/v1/experiments', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: ${JSON.stringify(specYaml('same-origin'))} }).then(function (r) { return r.status; })`,
      );
      assert.equal(status, 201);
      // …but not as text/plain, even from our own origin: 415.
      const plain = await page.evaluate(
        `fetch('/api/v1/experiments', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(specYaml('same-origin-plain'))} }).then(function (r) { return r.status; })`,
      );
      assert.equal(plain, 415);
      // Logging out ends the session server-side.
      const out = await page.evaluate(`fetch('/logout', { method: 'POST' }).then(function (r) { return r.url; })`);
      assert.match(String(out), /\/login$/);
      assert.equal(await h.store.sessions.verify(session.value), undefined);
      await page.close();
    } finally {
      await context.close();
    }
  });
});
