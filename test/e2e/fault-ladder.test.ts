/**
 * Fault ladders end to end (ADR 022), for real: `steadystate serve` (PGlite in
 * a temp dir) drives two error-rate ladders through the http-proxy injector
 * against a real Prometheus scraping two sample shops behind two fault
 * proxies (one per run, so their metrics do not mix):
 *   - ladder A, 1% → 90% → 99% errors on checkouts: step 1 is tolerated, step
 *     2 fails, the ladder stops there (step 3 never runs), the window is
 *     closed and the proxy serves no fault; the report names the highest
 *     level tolerated and the first that harmed;
 *   - ladder B is killed with SIGKILL during its step 2: the proxy still holds
 *     the window, at step 2's level, with the deadline of the whole ladder
 *     (the injector-side deadline covers every step); a restart reconciles
 *     the run — a ladder is not continued — and closes the open step.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startSampleShop, type SampleShop } from '../../src/demo/sample-shop.ts';
import { startFaultProxy, type FaultProxy } from '../../src/proxy/fault-proxy.ts';
import { freePort } from '../helpers/ports.ts';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus.ts';
import { checkBinary } from '../helpers/skip.ts';
import { timedGet, userIn } from '../proxy/fixtures.ts';

const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));
const LOAD = fileURLToPath(new URL('../../src/demo/load-process.ts', import.meta.url));
const prometheus = checkBinary('prometheus', '/usr/bin/prometheus');
const ADMIN_TOKEN = 'sst_e2e-ladder-token-0123456789abcdefghij';
const TERMINAL = ['passed', 'failed', 'inconclusive', 'halted', 'halt_failed', 'aborted', 'errored'];

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last = '';
  for (let i = 0; i < 10_000 && Date.now() < end; i++) {
    const v = await fn().catch((err: unknown) => {
      last = err instanceof Error ? `; last error: ${err.message}` : '';
      return undefined;
    });
    if (v !== undefined) return v;
    await delay(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`);
}

function spec(name: string, prom: string, admin: string, steps: string, stopAt: string): string {
  return `apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata: { name: ${name}, service: shop }
spec:
  source: { kind: prometheus, url: "${prom}", step: 1s }
  steadyState:
    - name: checkout-sps
      query: sum(rate(shop_checkouts_total{group="$group"}[3s]))
      direction: decrease
      tolerance: 40%
  fault:
    injector: http-proxy
    params: { admin: "${admin}", paths: ["/checkout"] }
    stopAt: ${stopAt}
    steps: ${steps}
  analysis: { interval: 1s, minSamples: 5, settle: 2s, history: 2m }
`;
}

describe('fault ladders on a real Prometheus and fault proxy', { skip: prometheus.skip, timeout: 180_000 }, () => {
  const shops: SampleShop[] = [];
  const proxies: FaultProxy[] = [];
  let prom: RunningPrometheus;
  let dataDir: string;
  let port: number;
  let child: ChildProcess | undefined;
  let serviceLog = '';
  const loads: ChildProcess[] = [];
  const base = (): string => `http://127.0.0.1:${port}`;

  const api = async (method: string, path: string, body?: string): Promise<{ status: number; json: any; text: string }> => {
    const res = await fetch(`${base()}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/yaml' } : {}) },
      ...(body ? { body } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: res.headers.get('content-type')?.includes('json') && text ? JSON.parse(text) : null, text };
  };

  async function startServe(): Promise<ChildProcess> {
    const proc = spawn(process.execPath, [BIN, 'serve', '--listen', `127.0.0.1:${port}`], {
      env: { ...process.env, STEADYSTATE_DATA_DIR: dataDir, STEADYSTATE_ADMIN_TOKEN: ADMIN_TOKEN, STEADYSTATE_LOG_LEVEL: 'warn', STEADYSTATE_LEASE: '2s' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout?.on('data', (d: Buffer) => (serviceLog += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (serviceLog += d.toString()));
    await waitFor('the service to answer /healthz', async () => ((await fetch(`${base()}/healthz`)).ok ? true : undefined), 90_000);
    return proc;
  }

  const windowView = async (proxy: FaultProxy, runId: string): Promise<any> => (await fetch(`${proxy.adminUrl}/windows/${encodeURIComponent(runId)}`)).json();

  /** Share of 503s among `n` experiment-group checkouts through the proxy now. */
  async function experimentErrors(proxy: FaultProxy, n = 40): Promise<number> {
    let errors = 0;
    for (let i = 0; i < n; i++) if ((await timedGet(`${proxy.listenUrl}/checkout`, userIn('experiment', 50, 50, i))).status === 503) errors++;
    return errors / n;
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'steadystate-ladder-'));
    port = await freePort();
    for (let i = 0; i < 2; i++) {
      const shop = await startSampleShop();
      shops.push(shop);
      proxies.push(
        await startFaultProxy({
          listen: { host: '127.0.0.1', port: 0 },
          admin: { host: '127.0.0.1', port: 0 },
          upstream: shop.url,
          controlPercent: 50,
          experimentPercent: 50,
          stickyHeader: 'x-user-id',
        }),
      );
    }
    const serving = startServe();
    // Kept as soon as it answers, so `after` stops it even when a later step of this hook fails.
    serving.then((proc) => (child = proc)).catch(() => undefined);
    prom = await startPrometheus({ targets: shops.map((s) => new URL(s.url).host), scrapeInterval: '1s', binary: prometheus.path });
    // Load from processes of their own, as the demo does: sharing this event loop with the shops and
    // proxies makes scrapes time out on a loaded machine.
    proxies.forEach((proxy, i) => {
      const opts = {
        url: proxy.listenUrl,
        paths: [{ path: '/checkout', method: 'POST', weight: 1 }],
        // Ladder A is judged: ~60 checkouts/s per group. Ladder B only has to climb.
        ratePerSecond: i === 0 ? 120 : 30,
        users: 5_000,
        stickyHeader: 'x-user-id',
        durationMs: 4 * 60_000,
      };
      loads.push(spawn(process.execPath, ['--import', import.meta.resolve('tsx'), LOAD, JSON.stringify(opts)], { stdio: 'ignore' }));
    });
    try {
      // Both shops' checkouts in Prometheus. Not "every target up at once": on a loaded machine a scrape
      // now and then times out, which leaves a gap the judge skips, not a failure.
      await waitFor(
        'checkouts of both shops in Prometheus',
        async () => ((await prom.query('count_over_time(shop_checkouts_total{group="experiment"}[10s]) >= 5')).length === 2 ? true : undefined),
        60_000,
        500,
      );
      child = await serving;
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nservice log:\n${serviceLog.slice(-2000)}`, { cause: err });
    }
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const l of loads) if (l.exitCode === null && l.signalCode === null) l.kill('SIGTERM');
    await prom?.stop();
    for (const p of proxies) await p.close();
    for (const s of shops) await s.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('a three-step error ladder stops at its first failing step; the report names the highest level tolerated; kill -9 mid-ladder leaves no fault behind', async (t) => {
    const [proxyA, proxyB] = proxies as [FaultProxy, FaultProxy];
    const a = spec('ladder-a', prom.url, proxyA.adminUrl, '[{ errorRate: 1%, duration: 20s }, { errorRate: 90%, duration: 16s }, { errorRate: 99%, duration: 12s }]', 'fail');
    const b = spec('ladder-b', prom.url, proxyB.adminUrl, '[{ errorRate: 1%, duration: 8s }, { errorRate: 5%, duration: 45s }, { errorRate: 10%, duration: 30s }]', 'never');
    for (const s of [a, b]) {
      const created = await api('POST', '/api/v1/experiments', s);
      assert.equal(created.status, 201, JSON.stringify(created.json));
    }
    const startedA = await api('POST', '/api/v1/experiments/ladder-a/runs');
    const startedB = await api('POST', '/api/v1/experiments/ladder-b/runs');
    assert.equal(startedA.status, 201, startedA.text);
    assert.equal(startedB.status, 201, startedB.text);
    const idA = startedA.json.run.id as string;
    const idB = startedB.json.run.id as string;

    // Ladder A runs to its verdict.
    const runA = await waitFor(
      'ladder A to end',
      async () => {
        const { json } = await api('GET', `/api/v1/runs/${idA}`);
        return TERMINAL.includes(json.run.state) ? json.run : undefined;
      },
      90_000,
      500,
    );
    const timeline = ((await api('GET', `/api/v1/runs/${idA}/events`)).json.events as { type: string; message: string }[]).map((e) => `${e.type}: ${e.message}`).join('\n');
    assert.equal(runA.state, 'failed', `${runA.state}: ${runA.reason}\n${timeline}\n${serviceLog.slice(-2000)}`);
    const ladder = runA.ladder;
    assert.deepEqual(
      ladder.steps.map((s: any) => [s.index, s.verdict, s.startedAt !== null]),
      [
        [0, 'pass', true],
        [1, 'fail', true],
        [2, null, false],
      ],
      `${timeline}\n${JSON.stringify(ladder.steps.map((s: any) => s.metrics?.[0]?.reason ?? null))}`,
    );
    assert.deepEqual(ladder.stopped && [ladder.stopped.index, ladder.stopped.by], [1, 'fail']);
    assert.deepEqual(ladder.doseResponse.highestTolerated, { index: 0, label: 'errorRate=1%' });
    assert.equal(ladder.doseResponse.firstHarmed.label, 'errorRate=90%');
    // Step boundaries are contiguous and inside the window.
    assert.equal(ladder.steps[0].startedAt, runA.window.openedAt);
    assert.equal(ladder.steps[0].endedAt, ladder.steps[1].startedAt);
    assert.equal(ladder.steps[1].endedAt, runA.window.closedAt);
    const sps = ladder.steps[1].metrics[0];
    // Failed: a drop beyond the 40% band, by the one-sided test at alpha / steps. The printed interval is
    // two-sided at 1 − alpha / steps, so its upper end may sit inside the band (−33% on Node 24 once,
    // with p = 0.010 < 0.0167); that it excludes no change is what it must show.
    assert.equal(sps.verdict, 'fail', JSON.stringify(sps));
    assert.ok(sps.relativeEffect < -0.4 && sps.relativeCi[1] < 0, JSON.stringify(sps));
    // The window is closed by the run, before the ladder's deadline, and the proxy serves no fault.
    assert.equal(runA.window.closedBy, 'ladder');
    assert.ok(Date.parse(runA.window.closedAt) < Date.parse(runA.window.deadline) - 5_000, 'closed at the failing step, well before the ladder deadline');
    const wA = await windowView(proxyA, idA);
    assert.equal(wA.state, 'closed');
    assert.equal(wA.closedReason, 'closed');
    assert.equal(await experimentErrors(proxyA), 0);
    // JSON, Markdown and HTML carry the dose-response.
    const json = (await api('GET', `/api/v1/runs/${idA}/report.json`)).json;
    assert.equal(json.run.ladder.doseResponse.highestTolerated.label, 'errorRate=1%');
    assert.equal(json.run.verdict, 'fail');
    const md = (await api('GET', `/api/v1/runs/${idA}/report.md`)).text;
    assert.match(md, /Highest level tolerated: errorRate=1% \\\(step 1\\\); first level that harmed: errorRate=90% \\\(step 2; checkout\\-sps\\\)/);
    const html = (await api('GET', `/api/v1/runs/${idA}/report.html`)).text;
    assert.match(html, /<h2 id="h-ladder">Dose–response/);
    t.diagnostic(`ladder A: ${runA.reason}`);

    // Ladder B: wait for its step 2 on the proxy itself, then kill -9 the service.
    const opened = await waitFor(
      'ladder B to reach step 2',
      async () => {
        const w = await windowView(proxyB, idB);
        return w.state === 'open' && w.errorRate === 0.05 ? w : undefined;
      },
      60_000,
      200,
    );
    child?.kill('SIGKILL');
    await new Promise((r) => child?.once('exit', r));
    // The proxy holds the fault at step 2's level, with the ladder's deadline: 8 s + 45 s + 30 s after it opened.
    const held = await windowView(proxyB, idB);
    assert.equal(held.state, 'open');
    assert.equal(held.errorRate, 0.05);
    const span = Date.parse(held.deadline) - Date.parse(opened.openedAt);
    assert.ok(span > 82_000 && span <= 83_000, `deadline ${span} ms after the window opened`);

    serviceLog = '';
    child = await startServe();
    const runB = await waitFor(
      'ladder B to be reconciled',
      async () => {
        const { json } = await api('GET', `/api/v1/runs/${idB}`);
        return TERMINAL.includes(json.run.state) ? json.run : undefined;
      },
      30_000,
      200,
    );
    assert.equal(runB.state, 'aborted', `${runB.state}: ${runB.reason}\n${serviceLog.slice(-2000)}`);
    assert.match(runB.reason, /fault ladder is not continued/);
    // The deadline the proxy held is the run's: the whole ladder's.
    assert.equal(runB.window.deadline, held.deadline);
    const wB = await windowView(proxyB, idB);
    assert.equal(wB.state, 'closed');
    assert.equal(wB.closedReason, 'closed', 'closed by the restarted service, before the deadline');
    assert.equal(await experimentErrors(proxyB), 0);
    // The stored ladder shows how far it climbed.
    assert.deepEqual(
      runB.ladder.steps.map((s: any) => s.startedAt !== null),
      [true, true, false],
    );
  });
});
