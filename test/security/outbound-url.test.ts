/**
 * Issue #14 item 4: the host allowlist judged text (`^https?://`) while the
 * clients used the lenient WHATWG parse, so these five all passed and a run
 * of the `http:/` form queried a host the list excluded. Each is refused at
 * validation (spec load, `steadystate validate`, API create) and at call time
 * (metric sources, webhook injector), where a real loopback server — the host
 * the allowlist excludes — must receive nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createWebhookInjector } from '../../src/injectors/webhook.ts';
import { DatadogSource } from '../../src/metric-sources/datadog.ts';
import { PrometheusSource } from '../../src/metric-sources/prometheus.ts';
import { DEFAULT_POLICY, PolicyError } from '../../src/security/policy.ts';
import { parseExperiment } from '../../src/spec/load.ts';
import { startHttpHarness } from '../http/harness.ts';

const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));
/** The only host outbound calls may reach; the loopback server below is not it. */
const POLICY = { ...DEFAULT_POLICY, allowedHosts: ['prometheus.allowed.test'] };

/** The five forms from the issue, pointed at `hostPort` (a host the allowlist excludes). */
function bypasses(hostPort: string): [string, string][] {
  return [
    ['leading space', ` http://${hostPort}`],
    ['leading tab', `\thttp://${hostPort}`],
    ['single slash', `http:/${hostPort}`],
    ['backslashes', `http:\\\\${hostPort}`],
    ['newline in the scheme', `ht\ntp://${hostPort}`],
  ];
}

function spec(url: string, name = 'bypass'): string {
  return JSON.stringify({
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name },
    spec: {
      source: { kind: 'prometheus', url, step: '1s' },
      steadyState: [{ name: 'sps', query: 'sum(x{group="$group"})' }],
      fault: { injector: 'webhook', params: { open: { url }, close: { url: 'http://prometheus.allowed.test/close' } }, duration: '1m' },
      analysis: { minSamples: 3 },
    },
  });
}

describe('outbound URLs are judged on what the parser reads', () => {
  let server: Server;
  let hostPort: string;
  let hits = 0;
  let dir: string;

  before(async () => {
    server = createServer((req, res) => {
      hits += 1;
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success","data":{"version":"2.53.0"}}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hostPort = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), 'steadystate-bypass-'));
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('the parser really does read every form as the excluded host (what made them bypasses)', () => {
    for (const [what, url] of bypasses(hostPort)) assert.equal(new URL(url).host, hostPort, what);
  });

  it('spec load refuses each, at the field, in the source and in the webhook URL', () => {
    for (const [what, url] of bypasses(hostPort)) {
      const r = parseExperiment(spec(url));
      assert.equal(r.ok, false, what);
      const paths = r.ok ? [] : r.issues.map((i) => i.path);
      assert.ok(paths.includes('spec.source.url'), `${what}: ${JSON.stringify(!r.ok && r.issues)}`);
      assert.ok(paths.includes('spec.fault.params.open.url'), `${what}: ${JSON.stringify(!r.ok && r.issues)}`);
    }
  });

  it('`steadystate validate` exits 64 for each, one FILE:LINE line per field', async () => {
    const files: string[] = [];
    for (const [i, [, url]] of bypasses(hostPort).entries()) {
      const file = join(dir, `bypass-${i}.json`);
      await writeFile(file, spec(url));
      files.push(file);
    }
    const r = spawnSync(process.execPath, [BIN, 'validate', ...files], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 64, r.stdout + r.stderr);
    for (const file of files) assert.match(r.stdout, new RegExp(`${file.replace(/[.\\/]/g, '\\$&')}:\\d+ spec\\.source\\.url: `));
  });

  it('`steadystate validate` applies STEADYSTATE_ALLOWED_HOSTS to the parsed host', async () => {
    const file = join(dir, 'plain.json');
    await writeFile(file, spec(`http://${hostPort}`, 'plain'));
    const r = spawnSync(process.execPath, [BIN, 'validate', file], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, STEADYSTATE_ALLOWED_HOSTS: 'prometheus.allowed.test' } });
    assert.equal(r.status, 64, r.stdout + r.stderr);
    assert.match(r.stdout, /spec\.source\.url: host "127\.0\.0\.1" is not in STEADYSTATE_ALLOWED_HOSTS/);
  });

  it('the API refuses each at create time with a 400 naming the field', async () => {
    const h = await startHttpHarness({ STEADYSTATE_ALLOWED_HOSTS: 'prometheus.allowed.test' });
    try {
      for (const [what, url] of bypasses(hostPort)) {
        const res = await h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: { authorization: `Bearer ${h.tokens.admin}` }, payload: JSON.parse(spec(url)) });
        assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
        assert.ok((res.json().errors as { path: string }[]).some((e) => e.path === 'spec.source.url'), `${what}: ${res.body}`);
      }
    } finally {
      await h.close();
    }
  });

  it('at call time Prometheus, Datadog and the webhook injector refuse each, and the excluded host hears nothing', async () => {
    const before = hits;
    for (const [what, url] of bypasses(hostPort)) {
      // Built without the schema, as a stored spec or a handle from an older version could be.
      const prom = new PrometheusSource({ kind: 'prometheus', url, step: 1_000 }, { policy: POLICY });
      await assert.rejects(prom.check(), (err: unknown) => err instanceof PolicyError && /refused outbound URL/.test(err.message), what);
      const dd = new DatadogSource({ kind: 'datadog', url, api: 'v2', step: 10_000, attempts: 1, maxRateLimitWait: 1_000 }, {
        policy: POLICY,
        env: { DD_API_KEY: 'dd-api-key-value', DD_APP_KEY: 'dd-app-key-value' },
      });
      await assert.rejects(dd.check(), (err: unknown) => err instanceof PolicyError, what);
      const hook = createWebhookInjector({ open: { url, method: 'POST', headers: {} }, close: { url, method: 'POST', headers: {} } }, { policy: POLICY });
      await assert.rejects(hook.open({ runId: 'r', experiment: 'e', deadline: new Date(Date.now() + 60_000) }), (err: unknown) => err instanceof PolicyError, what);
      await assert.rejects(hook.close({ injector: 'webhook', close: { url, method: 'POST', headers: {} }, timeoutMs: 1_000 }), (err: unknown) => err instanceof PolicyError, what);
    }
    assert.equal(hits, before, 'a request reached the host the allowlist excludes');
  });

  it('plainly written URLs to an allowed host still pass both checks', async () => {
    const ok = parseExperiment(spec(`http://${hostPort}/prom`, 'fine'));
    assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.issues));
    const prom = new PrometheusSource({ kind: 'prometheus', url: `http://${hostPort}`, step: 1_000 }, { policy: { ...DEFAULT_POLICY, allowedHosts: ['127.0.0.1'] } });
    await prom.check();
    assert.ok(hits > 0);
  });
});
