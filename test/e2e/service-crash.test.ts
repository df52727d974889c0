/**
 * Crash safety of `steadystate serve`, for real: the service (PGlite in a temp
 * data dir) drives a run through the http-proxy injector against a real
 * Prometheus, and then
 *   - is killed with SIGKILL mid-window and restarted at once: the restarted
 *     service takes the run over and continues it to a verdict (ADR 015),
 *     closing the window itself at the original deadline;
 *   - is killed with SIGKILL mid-window and stays down past the deadline: the
 *     proxy ends the fault by itself; after a restart the run is `aborted`
 *     (nobody watched the end of its window), its samples are intact and the
 *     injector's close was called;
 *   - gets SIGTERM mid-window: the window is closed before the process exits.
 * A recording forwarder in front of the proxy's admin API shows which calls
 * the service made.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startSampleShop, type SampleShop } from '../../src/demo/sample-shop.ts';
import { startFaultProxy, type FaultProxy } from '../../src/proxy/fault-proxy.ts';
import { runLoad, type LoadSummary } from '../helpers/http-load.ts';
import { freePort } from '../helpers/ports.ts';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus.ts';
import { checkBinary } from '../helpers/skip.ts';

const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));
const prometheus = checkBinary('prometheus', '/usr/bin/prometheus');
const ADMIN_TOKEN = 'sst_e2e-admin-token-0123456789abcdefghij';

interface Recorded {
  method: string;
  path: string;
  at: number;
}

/** Forwards to `target` and records each request: what the service asked the proxy to do. */
async function startRecordingForwarder(target: string): Promise<{ url: string; calls: Recorded[]; close(): Promise<void> }> {
  const calls: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls.push({ method: req.method ?? 'GET', path: req.url ?? '/', at: Date.now() });
      const body = Buffer.concat(chunks);
      fetch(`${target}${req.url ?? '/'}`, {
        method: req.method ?? 'GET',
        headers: req.headers['content-type'] ? { 'content-type': req.headers['content-type'] } : {},
        ...(body.length > 0 ? { body } : {}),
      }).then(
        async (r) => {
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
          res.end(Buffer.from(await r.arrayBuffer()));
        },
        () => {
          res.writeHead(502);
          res.end();
        },
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && Date.now() < end; i++) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await delay(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

describe('steadystate serve: crash safety with a real proxy and Prometheus', { skip: prometheus.skip, timeout: 300_000 }, () => {
  let shop: SampleShop;
  let proxy: FaultProxy;
  let prom: RunningPrometheus;
  let forwarder: Awaited<ReturnType<typeof startRecordingForwarder>>;
  let dataDir: string;
  let port: number;
  let child: ChildProcess | undefined;
  let serviceLog = '';
  const load = new AbortController();
  let loadDone: Promise<LoadSummary>;
  const base = (): string => `http://127.0.0.1:${port}`;

  const api = async (method: string, path: string, body?: string, contentType = 'application/yaml'): Promise<{ status: number; json: any }> => {
    const res = await fetch(`${base()}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': contentType } : {}) },
      ...(body ? { body } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };

  async function startServe(): Promise<ChildProcess> {
    const proc = spawn(process.execPath, [BIN, 'serve', '--listen', `127.0.0.1:${port}`], {
      env: { ...process.env, STEADYSTATE_DATA_DIR: dataDir, STEADYSTATE_ADMIN_TOKEN: ADMIN_TOKEN, STEADYSTATE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout?.on('data', (d: Buffer) => (serviceLog += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (serviceLog += d.toString()));
    // Generous: tsx and PGlite start slowly on a loaded 2-core machine.
    await waitFor('the service to answer /healthz', async () => ((await fetch(`${base()}/healthz`)).ok ? true : undefined), 90_000);
    return proc;
  }

  const exited = (proc: ChildProcess): Promise<number | null> =>
    proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve(proc.exitCode) : new Promise((r) => proc.once('exit', (code) => r(code)));

  const windowState = async (runId: string): Promise<{ state: string; closedReason?: string }> =>
    (await fetch(`${proxy.adminUrl}/windows/${encodeURIComponent(runId)}`)).json() as Promise<{ state: string; closedReason?: string }>;

  async function startRunAndWaitForWindow(experiment = 'crash'): Promise<{ id: string; samplesBefore: number }> {
    const started = await api('POST', `/api/v1/experiments/${experiment}/runs`);
    assert.equal(started.status, 201, JSON.stringify(started.json));
    const id = started.json.run.id as string;
    // Wait until the window is open and a few samples have been persisted.
    const samplesBefore = await waitFor(
      'the window to open and samples to be stored',
      async () => {
        const { json } = await api('GET', `/api/v1/runs/${id}`);
        const n = (json.run.series as { samples: unknown[] }[]).reduce((a, s) => a + s.samples.length, 0);
        return json.run.window && n >= 4 ? n : undefined;
      },
      30_000,
      200,
    );
    assert.equal((await windowState(id)).state, 'open');
    return { id, samplesBefore };
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'steadystate-serve-'));
    port = await freePort();
    shop = await startSampleShop();
    proxy = await startFaultProxy({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      upstream: shop.url,
      controlPercent: 50,
      experimentPercent: 50,
      stickyHeader: 'x-user-id',
    });
    forwarder = await startRecordingForwarder(proxy.adminUrl);
    prom = await startPrometheus({ targets: [new URL(shop.url).host, new URL(proxy.adminUrl).host], scrapeInterval: '1s', binary: prometheus.path });
    loadDone = runLoad({
      url: proxy.listenUrl,
      paths: [{ path: '/checkout', method: 'POST', weight: 1 }],
      ratePerSecond: 60,
      users: 500,
      stickyHeader: 'x-user-id',
      signal: load.signal,
      durationMs: 10 * 60_000,
    });
    await prom.waitForTargetsUp(20_000);
    await prom.waitForSeries('count_over_time(shop_checkouts_total{group="experiment"}[10s]) >= 8', 30_000);

    child = await startServe();
    const spec = `apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata: { name: crash, service: shop }
spec:
  source: { kind: prometheus, url: "${prom.url}", step: 1s }
  steadyState:
    - name: checkout-sps
      query: sum(rate(shop_checkouts_total{group="$group"}[5s]))
      direction: decrease
  fault:
    injector: http-proxy
    params: { admin: "${forwarder.url}", latencyMs: 50 }
    duration: 15s
  analysis: { interval: 1s, minSamples: 5 }
`;
    const created = await api('POST', '/api/v1/experiments', spec);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    // Long enough for a restart on a loaded machine to come back well before the deadline.
    const longer = spec.replace('name: crash,', 'name: crash-continue,').replace('duration: 15s', 'duration: 45s');
    const created2 = await api('POST', '/api/v1/experiments', longer);
    assert.equal(created2.status, 201, JSON.stringify(created2.json));
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    load.abort();
    await loadDone?.catch(() => undefined);
    await prom?.stop();
    await forwarder?.close();
    await proxy?.close();
    await shop?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('kill -9 mid-window, restart at once: the run is taken over and continued to a verdict, the window closed by the service at its original deadline', async (t) => {
    const { id } = await startRunAndWaitForWindow('crash-continue');
    const killedAt = Date.now();
    child?.kill('SIGKILL');
    await exited(child!);
    const callsBefore = forwarder.calls.length;
    serviceLog = '';
    child = await startServe();
    t.diagnostic(`service answering again ${Date.now() - killedAt} ms after the kill`);
    const ended = await waitFor(
      'the continued run to end',
      async () => {
        const { json } = await api('GET', `/api/v1/runs/${id}`);
        return ['passed', 'failed', 'inconclusive', 'halted', 'halt_failed', 'aborted', 'errored'].includes(json.run.state) ? json.run : undefined;
      },
      90_000,
      500,
    );
    const events = (await api('GET', `/api/v1/runs/${id}/events`)).json.events as { type: string; message: string }[];
    const timeline = events.map((e) => `${e.type}: ${e.message}`).join('\n');
    assert.ok(['passed', 'failed', 'inconclusive', 'halted'].includes(ended.state), `${ended.state}: ${ended.reason}\n${timeline}\n${serviceLog.slice(-2000)}`);
    assert.equal(events.filter((e) => e.type === 'run.taken_over').length, 1, timeline);
    assert.equal(ended.window.closedBy, 'deadline');
    const w = await windowState(id);
    assert.equal(w.state, 'closed');
    // The proxy holds the same deadline: its own close and ours race at that instant; either is right.
    assert.ok(w.closedReason === 'closed' || w.closedReason === 'deadline', w.closedReason);
    const closes = forwarder.calls.slice(callsBefore).filter((c) => c.method === 'DELETE' && c.path === `/windows/${encodeURIComponent(id)}`);
    assert.equal(closes.length, 1, JSON.stringify(forwarder.calls.slice(callsBefore)));
    assert.ok(ended.metrics.length > 0, 'judged');
    t.diagnostic(`continued run ended ${ended.state}: ${ended.reason}`);
  });

  test('kill -9 mid-window: the proxy ends the fault by its deadline; a restart aborts the run (nobody watched the end of its window), samples intact, close called', async (t) => {
    const { id, samplesBefore } = await startRunAndWaitForWindow();
    const killedAt = Date.now();
    child?.kill('SIGKILL');
    await exited(child!);

    // Nobody closes the window now: the proxy must, by itself, at the deadline.
    const closed = await waitFor(
      'the proxy to close the window by its deadline',
      async () => {
        const w = await windowState(id);
        return w.state === 'closed' ? w : undefined;
      },
      20_000,
      200,
    );
    assert.equal(closed.closedReason, 'deadline');
    t.diagnostic(`proxy closed the window by deadline ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`);

    const restartAt = Date.now();
    const callsBefore = forwarder.calls.length;
    serviceLog = '';
    child = await startServe();
    const aborted = await waitFor(
      'the run to be aborted after the restart',
      async () => {
        const { json } = await api('GET', `/api/v1/runs/${id}`);
        return json.run.state === 'aborted' ? json.run : undefined;
      },
      30_000,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nservice log:\n${serviceLog.slice(-3000)}`);
    });
    // When the reconciler recorded the abort, measured from the moment the new process was spawned.
    const took = Date.parse(aborted.endedAt as string) - restartAt;
    t.diagnostic(`run aborted ${took} ms after the restart began (answering again after ${Date.now() - restartAt} ms)`);
    // Reconciled before the service listens: within its start-up, with room for a loaded CI machine.
    assert.ok(took <= 20_000, `aborted ${took} ms after the restart began`);
    assert.match(aborted.reason, /while the run was injecting.*not continued: its deadline .* passed while nobody watched it/);
    const samplesAfter = (aborted.series as { samples: unknown[] }[]).reduce((a, s) => a + s.samples.length, 0);
    assert.ok(samplesAfter >= samplesBefore, `samples before ${samplesBefore}, after ${samplesAfter}`);
    const closes = forwarder.calls.slice(callsBefore).filter((c) => c.method === 'DELETE' && c.path === `/windows/${encodeURIComponent(id)}`);
    assert.equal(closes.length, 1, JSON.stringify(forwarder.calls.slice(callsBefore)));
    const events = (await api('GET', `/api/v1/runs/${id}/events`)).json.events as { type: string }[];
    assert.ok(events.some((e) => e.type === 'run.reconciled'));
  });

  test('SIGTERM mid-window: the window is closed before the process exits', async () => {
    const { id } = await startRunAndWaitForWindow();
    const deadline = Date.parse((await api('GET', `/api/v1/runs/${id}`)).json.run.window.deadline as string);
    child?.kill('SIGTERM');
    const code = await exited(child!);
    const exitedAt = Date.now();
    assert.equal(code, 0, serviceLog.slice(-2000));
    assert.ok(exitedAt < deadline, 'exited before the fault deadline, so the close was ours');
    const w = await windowState(id);
    assert.equal(w.state, 'closed');
    assert.equal(w.closedReason, 'closed', 'closed by the service, not by the deadline');

    child = await startServe();
    const { json } = await api('GET', `/api/v1/runs/${id}`);
    assert.equal(json.run.state, 'aborted');
    assert.match(json.run.reason, /shutting down/);
    assert.equal(json.run.window.closedBy, 'abort');
  });
});
