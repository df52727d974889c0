/**
 * The HTTP API's behaviour: experiments (YAML and JSON, versions, errors with
 * lines), runs (start, idempotency, the per-target lock, abort, reports),
 * halt-all, and the limits. Runs here point at a source that never answers,
 * so they sit in preflight until aborted — a real run against a real
 * Prometheus is the end-to-end test's job.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startHttpHarness, specYaml, type HttpHarness } from './harness.ts';

/** Accepts connections and never answers: a source that hangs. */
async function startHangingServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(() => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('HTTP API', () => {
  let h: HttpHarness;
  let hanging: { url: string; close(): Promise<void> };
  const as = (role: 'viewer' | 'operator' | 'admin', extra: Record<string, string> = {}) => ({ authorization: `Bearer ${h.tokens[role]}`, ...extra });
  const yaml = { 'content-type': 'application/yaml' };

  before(async () => {
    h = await startHttpHarness({ STEADYSTATE_MAX_WINDOW: '10m', STEADYSTATE_MAX_CONCURRENT_RUNS: '3' });
    hanging = await startHangingServer();
  });
  after(async () => {
    await h.close();
    await hanging.close();
  });

  it('creates an experiment from YAML (201), reads it back as submitted, and versions updates', async () => {
    const text = specYaml('checkout-latency', { sourceUrl: hanging.url });
    const created = await h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: as('admin', yaml), payload: text });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.json().experiment.version, 1);
    assert.equal(created.json().experiment.source, text);
    assert.equal(created.json().experiment.spec.spec.fault.duration, 60_000);

    const again = await h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: as('admin', yaml), payload: text });
    assert.equal(again.statusCode, 409);
    // The answer says what to do instead.
    assert.match(again.json().message, /already exists; to change it, use PUT \/api\/v1\/experiments\/checkout-latency or `steadystate apply`/);

    const v2 = await h.app.inject({ method: 'PUT', url: '/api/v1/experiments/checkout-latency', headers: as('admin', yaml), payload: text.replace('duration: 1m', 'duration: 2m') });
    assert.equal(v2.statusCode, 200, v2.body);
    assert.equal(v2.json().experiment.version, 2);
    const got = await h.app.inject({ method: 'GET', url: '/api/v1/experiments/checkout-latency', headers: as('viewer') });
    assert.equal(got.json().experiment.version, 2);
    assert.equal(got.json().experiment.spec.spec.fault.duration, 120_000);
    const versions = await h.app.inject({ method: 'GET', url: '/api/v1/experiments/checkout-latency/versions', headers: as('viewer') });
    assert.deepEqual(versions.json().versions.map((v: any) => v.version), [1, 2]);
  });

  it('accepts JSON specs too', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      headers: as('admin'),
      payload: {
        apiVersion: 'steadystate.dev/v1alpha1',
        kind: 'Experiment',
        metadata: { name: 'json-spec' },
        spec: {
          source: { kind: 'prometheus', url: 'http://127.0.0.1:9' },
          steadyState: [{ name: 'sps', query: 'sum(rate(x{group="$group"}[5s]))' }],
          fault: { injector: 'http-proxy', params: { admin: 'http://127.0.0.1:9', errorRate: '1%' }, duration: '1m' },
        },
      },
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().experiment.format, 'json');
  });

  it('answers a bad spec with 400 and every error with its path and line', async () => {
    const bad = specYaml('bad-one').replace('direction: decrease', 'direction: down').replace('duration: 1m', 'duration: forever');
    const res = await h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: as('admin', yaml), payload: bad });
    assert.equal(res.statusCode, 400);
    const errors = res.json().errors as { path: string; line: number }[];
    assert.deepEqual(errors.map((e) => e.path).sort(), ['spec.fault.duration', 'spec.steadyState[0].direction']);
    assert.ok(errors.every((e) => e.line > 1));
  });

  it('refuses a PUT whose body names another experiment', async () => {
    const res = await h.app.inject({ method: 'PUT', url: '/api/v1/experiments/checkout-latency', headers: as('admin', yaml), payload: specYaml('other') });
    assert.equal(res.statusCode, 400);
    assert.match(res.body, /metadata\.name/);
  });

  it('enforces the window cap and body/spec size limits with 4xx', async () => {
    const long = await h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: as('admin', yaml), payload: specYaml('too-long', { duration: '30m' }) });
    assert.equal(long.statusCode, 400);
    assert.match(long.body, /longer than this service allows/);
    const huge = await h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: as('admin', yaml), payload: `${specYaml('huge')}\n# ${'x'.repeat(300 * 1024)}\n` });
    assert.ok(huge.statusCode === 400 || huge.statusCode === 413, `${huge.statusCode}`);
    const tooBig = await h.app.inject({ method: 'POST', url: '/api/v1/tokens', headers: as('admin', { 'content-type': 'application/json' }), payload: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024), role: 'viewer' }) });
    assert.equal(tooBig.statusCode, 413);
  });

  it('starts a run (201), records who started it, and a repeated Idempotency-Key returns the same run', async () => {
    const key = 'deploy-42';
    const first = await h.app.inject({ method: 'POST', url: '/api/v1/experiments/checkout-latency/runs', headers: as('operator', { 'idempotency-key': key }) });
    assert.equal(first.statusCode, 201, first.body);
    const run = first.json().run;
    assert.equal(run.version, 2, 'the run records the exact spec version');
    assert.equal(run.window, null);
    const second = await h.app.inject({ method: 'POST', url: '/api/v1/experiments/checkout-latency/runs', headers: as('operator', { 'idempotency-key': key }) });
    assert.equal(second.statusCode, 200);
    assert.equal(second.json().run.id, run.id);
    assert.equal(second.json().created, false);

    // One active run per target: a second start (no key) is refused while the first runs.
    const locked = await h.app.inject({ method: 'POST', url: '/api/v1/experiments/checkout-latency/runs', headers: as('operator') });
    assert.equal(locked.statusCode, 409, locked.body);
    assert.match(locked.body, new RegExp(run.id));

    // Deleting an experiment with an active run is refused.
    const del = await h.app.inject({ method: 'DELETE', url: '/api/v1/experiments/checkout-latency', headers: as('admin') });
    assert.equal(del.statusCode, 409);

    // Abort: the run ends aborted, and the timeline says who did it.
    const aborted = await h.app.inject({ method: 'POST', url: `/api/v1/runs/${run.id}/abort`, headers: as('operator') });
    assert.equal(aborted.statusCode, 200, aborted.body);
    assert.equal(aborted.json().run.state, 'aborted');
    const events = (await h.app.inject({ method: 'GET', url: `/api/v1/runs/${run.id}/events`, headers: as('viewer') })).json().events as any[];
    assert.ok(events.some((e) => e.type === 'run.started' && /otto/.test(e.message)), JSON.stringify(events));
    assert.ok(events.some((e) => e.type === 'run.abort_requested' && /otto/.test(e.message)));
    assert.equal(events.at(-1).type, 'state.aborted');

    const md = await h.app.inject({ method: 'GET', url: `/api/v1/runs/${run.id}/report.md`, headers: as('viewer') });
    assert.equal(md.statusCode, 200);
    assert.match(md.body, /ABORTED/);
    const json = await h.app.inject({ method: 'GET', url: `/api/v1/runs/${run.id}/report.json`, headers: as('viewer') });
    assert.equal(json.json().run.state, 'aborted');
    assert.equal(json.json().spec.metadata.name, 'checkout-latency');

    const list = await h.app.inject({ method: 'GET', url: '/api/v1/runs?experiment=checkout-latency&state=aborted', headers: as('viewer') });
    assert.ok(list.json().runs.some((r: any) => r.id === run.id));
    const bad = await h.app.inject({ method: 'GET', url: '/api/v1/runs?state=exploded', headers: as('viewer') });
    assert.equal(bad.statusCode, 400);
  });

  it('halt-all aborts active runs, blocks new starts until an admin clears it', async () => {
    const started = await h.app.inject({ method: 'POST', url: '/api/v1/experiments/checkout-latency/runs', headers: as('operator') });
    assert.equal(started.statusCode, 201, started.body);
    const json = { 'content-type': 'application/json' };
    const empty = await h.app.inject({ method: 'POST', url: '/api/v1/halt-all', headers: as('operator', json), payload: { reason: '  ' } });
    assert.equal(empty.statusCode, 400, 'a blank reason is refused, naming the field');
    assert.equal(empty.json().errors[0].path, 'body.reason');
    const reason = 'payments <script>alert(1)</script> are failing';
    const halt = await h.app.inject({ method: 'POST', url: '/api/v1/halt-all', headers: as('operator', json), payload: { reason } });
    assert.equal(halt.statusCode, 200);
    assert.deepEqual(halt.json().halted, [started.json().run.id]);
    assert.equal(halt.json().haltAll.active, true);
    assert.equal(halt.json().haltAll.reason, reason, 'the switch keeps the reason');
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/halt-all', headers: as('viewer') })).json().haltAll.reason, reason);
    const run = (await h.app.inject({ method: 'GET', url: `/api/v1/runs/${started.json().run.id}`, headers: as('viewer') })).json().run;
    assert.equal(run.state, 'aborted');
    assert.equal(run.reason, `halt-all by otto (operator): ${reason}`, 'the halted run shows the reason');
    const page = await h.app.inject({ method: 'GET', url: `/runs/${started.json().run.id}`, headers: as('viewer') });
    assert.ok(page.body.includes('payments &lt;script&gt;alert(1)&lt;/script&gt; are failing'), 'shown on the run page, escaped');
    assert.ok(!page.body.includes(reason));

    const blocked = await h.app.inject({ method: 'POST', url: '/api/v1/experiments/checkout-latency/runs', headers: as('operator') });
    assert.equal(blocked.statusCode, 409);
    assert.equal(blocked.json().error, 'halt_all_active');
    assert.equal((await h.app.inject({ method: 'DELETE', url: '/api/v1/halt-all', headers: as('operator') })).statusCode, 403);
    const cleared = await h.app.inject({ method: 'DELETE', url: '/api/v1/halt-all', headers: as('admin') });
    assert.equal(cleared.json().haltAll.active, false);
    const again = await h.app.inject({ method: 'POST', url: '/api/v1/experiments/checkout-latency/runs', headers: as('operator') });
    assert.equal(again.statusCode, 201);
    await h.app.inject({ method: 'POST', url: `/api/v1/runs/${again.json().run.id}/abort`, headers: as('operator') });
  });

  it('serves the OpenAPI document at /docs/json', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/docs/json', headers: as('viewer') });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.ok(doc.paths['/api/v1/experiments/{name}/runs'], Object.keys(doc.paths).join(' '));
    // Both ways in.
    assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.bearer.description });
    assert.equal(doc.components.securitySchemes.session.type, 'apiKey');
    assert.equal(doc.components.securitySchemes.session.in, 'cookie');
    assert.equal(doc.components.securitySchemes.session.name, 'steadystate_session');
    assert.deepEqual(doc.security, [{ bearer: [] }, { session: [] }]);
    // The experiment body is the spec's own schema, as YAML or JSON.
    const create = doc.paths['/api/v1/experiments'].post;
    for (const type of ['application/yaml', 'application/json']) {
      const schema = create.requestBody.content[type].schema;
      assert.deepEqual(schema.required, ['apiVersion', 'kind', 'metadata', 'spec'], type);
      assert.ok(schema.properties.spec.properties.guardrails, 'guardrails are described');
      assert.ok(schema.properties.spec.properties.fault.properties.duration);
    }
    assert.ok(create.responses['201'].content['application/json'].schema.properties.experiment);
    assert.ok(create.responses['4XX'].content['application/json'].schema.properties.message);
    assert.ok(doc.paths['/api/v1/experiments/{name}'].put.requestBody.content['application/yaml']);
    // Other routes: request schemas from the zod schemas they validate with.
    const abort = doc.paths['/api/v1/runs/{id}/abort'].post;
    assert.equal(abort.requestBody.content['application/json'].schema.properties.reason.maxLength, 500);
    assert.ok(doc.paths['/api/v1/runs/{id}/live'].get.responses['200'].content['application/json'].schema.properties.timeLeftMs);
  });

  it('/readyz answers when the store is reachable; /healthz reveals nothing', async () => {
    assert.equal((await h.app.inject({ method: 'GET', url: '/readyz', headers: as('viewer') })).statusCode, 200);
    assert.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).body, '{"status":"ok"}');
  });
});

describe('outbound host allowlist', () => {
  it('refuses specs pointing at hosts outside STEADYSTATE_ALLOWED_HOSTS, naming the field', async () => {
    const h = await startHttpHarness({ STEADYSTATE_ALLOWED_HOSTS: 'prometheus.internal,*.chaos.internal' });
    try {
      const res = await h.app.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'application/yaml' },
        payload: specYaml('allow', { sourceUrl: 'http://prometheus.internal:9090', admin: 'http://127.0.0.1:9101' }),
      });
      assert.equal(res.statusCode, 400);
      const errors = res.json().errors as { path: string; message: string }[];
      assert.deepEqual(errors.map((e) => e.path), ['spec.fault.params.admin']);
      assert.match(errors[0]!.message, /127\.0\.0\.1.*not in STEADYSTATE_ALLOWED_HOSTS/);
      const ok = await h.app.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        headers: { authorization: `Bearer ${h.tokens.admin}`, 'content-type': 'application/yaml' },
        payload: specYaml('allow', { sourceUrl: 'http://prometheus.internal:9090', admin: 'http://proxy.chaos.internal:9101' }),
      });
      assert.equal(ok.statusCode, 201, ok.body);
    } finally {
      await h.close();
    }
  });
});
