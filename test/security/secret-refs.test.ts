/**
 * Issue #14 item 5: a spec could send any variable of the service (the admin
 * token included) as a webhook header, or any local file as Datadog's
 * DD-API-KEY, to an address of its choosing. References are now limited to
 * what the operator lists, checked at create time and again at call time; a
 * real loopback server stands for the attacker's address and must receive
 * nothing.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createWebhookInjector } from '../../src/injectors/webhook.ts';
import { datadogConfigSchema, DatadogSource } from '../../src/metric-sources/datadog.ts';
import { DEFAULT_POLICY, PolicyError } from '../../src/security/policy.ts';
import { startHttpHarness } from '../http/harness.ts';

const ADMIN_TOKEN = 'the-admin-token-of-this-service-0123456789';

describe('secret references stay within what the operator allows', () => {
  let server: Server;
  let url: string;
  let hits = 0;
  const saved = process.env.STEADYSTATE_ADMIN_TOKEN;

  before(async () => {
    process.env.STEADYSTATE_ADMIN_TOKEN = ADMIN_TOKEN;
    server = createServer((req, res) => {
      hits += 1;
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"valid":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    if (saved === undefined) delete process.env.STEADYSTATE_ADMIN_TOKEN;
    else process.env.STEADYSTATE_ADMIN_TOKEN = saved;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const spec = (fault: unknown, source: unknown = { kind: 'prometheus', url: 'http://127.0.0.1:9', step: '1s' }) => ({
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: 'refs' },
    spec: { source, steadyState: [{ name: 'sps', query: 'sum(x{group="$group"})' }], fault: { ...(fault as object), duration: '1m' }, analysis: { minSamples: 3 } },
  });

  it('the API refuses {fromEnv: STEADYSTATE_ADMIN_TOKEN} even when STEADYSTATE_* is allowed, an unlisted variable, and a key file outside the listed dirs', async () => {
    const h = await startHttpHarness({ STEADYSTATE_SECRET_ENV_ALLOW: 'STEADYSTATE_*', STEADYSTATE_SECRET_FILE_DIRS: '/run/secrets' });
    try {
      const post = (body: object) => h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: { authorization: `Bearer ${h.tokens.admin}` }, payload: body });
      const hook = (ref: unknown) => ({ injector: 'webhook', params: { open: { url, headers: { 'X-Leak': ref } }, close: { url } } });
      const admin = await post(spec(hook({ fromEnv: 'STEADYSTATE_ADMIN_TOKEN' })));
      assert.equal(admin.statusCode, 400, admin.body);
      assert.match(admin.body, /spec\.fault\.params\.open\.headers\.X-Leak\.fromEnv.*the service's own secret/);
      const unlisted = await post(spec(hook({ fromEnv: 'HOME' })));
      assert.equal(unlisted.statusCode, 400, unlisted.body);
      assert.match(unlisted.body, /HOME is not in STEADYSTATE_SECRET_ENV_ALLOW/);
      const file = await post(spec(hook({ fromFile: '/run/secrets/../../etc/passwd' })));
      assert.equal(file.statusCode, 400, file.body);
      const dd = await post(spec({ injector: 'webhook', params: { open: { url }, close: { url } } }, { kind: 'datadog', url, apiKeyFile: '/etc/passwd' }));
      assert.equal(dd.statusCode, 400, dd.body);
      assert.match(dd.body, /spec\.source\.apiKeyFile.*not under STEADYSTATE_SECRET_FILE_DIRS/);
      const fine = await post(spec(hook({ fromEnv: 'STEADYSTATE_CHAOS_KEY' })));
      assert.equal(fine.statusCode, 201, fine.body);
    } finally {
      await h.close();
    }
    assert.equal(hits, 0);
  });

  it('at call time the webhook injector will not send the admin token, and Datadog will not read a file outside the dirs', async () => {
    const policy = { ...DEFAULT_POLICY, secretEnv: ['STEADYSTATE_*'], secretFileDirs: ['/run/secrets'] };
    const hook = createWebhookInjector(
      { open: { url, method: 'POST', headers: { 'X-Leak': { fromEnv: 'STEADYSTATE_ADMIN_TOKEN' } } }, close: { url, method: 'POST', headers: {} } },
      { policy },
    );
    const err = await hook.open({ runId: 'r', experiment: 'e', deadline: new Date(Date.now() + 60_000) }).catch((e: unknown) => e);
    assert.ok(err instanceof PolicyError, String(err));
    assert.ok(!String(err.message).includes(ADMIN_TOKEN));
    const dd = new DatadogSource(datadogConfigSchema.parse({ kind: 'datadog', url, apiKeyFile: '/etc/passwd', appKeyFile: '/etc/hostname' }), { policy, env: {} });
    await assert.rejects(dd.check(), (e: unknown) => e instanceof PolicyError && /apiKeyFile.*not under STEADYSTATE_SECRET_FILE_DIRS/.test(e.message));
    assert.equal(hits, 0, 'a request went out');
  });
});
