/**
 * `steadystate demo` (`npm run demo`): the whole loop on one machine with
 * nothing else installed. A sample shop behind the fault proxy, a bounded load,
 * a real Prometheus when one is on PATH (the embedded scrape source
 * otherwise), the service on PGlite in a temp dir — and four experiments from
 * examples/ run through the service's HTTP API: an A/A run that passes, a
 * latency fault that fails, an error fault that a guardrail halts, and a
 * latency ladder that checkout tolerates at 200 ms and suffers from at 500 ms.
 *
 * Everything it starts is stopped on the way out, Ctrl-C included.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { parseDocument } from 'yaml';
import type { AlertsResult } from '../alerts/types.ts';
import { startService, type Service } from '../app.ts';
import { loadConfig } from '../config.ts';
import { findBinary } from '../lib/binaries.ts';
import { createMetricSource } from '../metric-sources/registry.ts';
import { startFaultProxy, type FaultProxy } from '../proxy/fault-proxy.ts';
import { startPrometheus, type RunningPrometheus } from './prometheus-process.ts';
import { startSampleShop, type SampleShop } from './sample-shop.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const RULES = join(EXAMPLES, 'rules');

/** examples/rules/*.yml, name → text, for the demo's Prometheus. */
async function exampleRules(): Promise<Record<string, string>> {
  const files = (await readdir(RULES)).filter((f) => /\.ya?ml$/.test(f)).sort();
  return Object.fromEntries(await Promise.all(files.map(async (f) => [f, await readFile(join(RULES, f), 'utf8')] as const)));
}
const TERMINAL = new Set(['passed', 'failed', 'inconclusive', 'halted', 'halt_failed', 'aborted', 'errored']);

interface DemoCase {
  file: string;
  expect: string;
  what: string;
  /** What the reason must say too (a ladder: which level it tolerated). */
  says?: RegExp;
}

const CASES: DemoCase[] = [
  { file: 'aa-no-fault.yaml', expect: 'passed', what: 'A/A, no fault' },
  // Before the other faults: its noise is learned from the minutes before its window, which must hold no fault.
  { file: 'checkout-latency-ladder.yaml', expect: 'failed', what: 'ladder 200→500→1000 ms', says: /highest level tolerated: latencyMs=200; first harmed at latencyMs=500/ },
  { file: 'checkout-latency.yaml', expect: 'failed', what: '300 ms on /checkout' },
  { file: 'error-halt.yaml', expect: 'halted', what: '30% errors' },
];

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export interface DemoOptions {
  /** Force a source kind (default: prometheus when on PATH, else scrape). */
  source?: 'prometheus' | 'scrape';
  reportDir?: string;
}

export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  const started = Date.now();
  const stop = new AbortController();
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    out('\ndemo: interrupted — closing any open fault and stopping everything');
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const cleanups: (() => Promise<unknown>)[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'steadystate-demo-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const reportDir = resolve(opts.reportDir ?? 'reports/demo');
  const results: { case: DemoCase; state: string; reason: string; runId: string; reports: string[] }[] = [];

  try {
    const shop: SampleShop = await startSampleShop();
    cleanups.push(() => shop.close());
    const proxy: FaultProxy = await startFaultProxy({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      upstream: shop.url,
      // Far larger slices than production would use (5% each is typical), so 20 s windows have power.
      controlPercent: 50,
      experimentPercent: 50,
      stickyHeader: 'x-user-id',
    });
    cleanups.push(() => proxy.close());
    out(`demo: sample shop ${shop.url}, fault proxy ${proxy.listenUrl} (admin ${proxy.adminUrl}), 50% control / 50% experiment`);

    const prometheusBin = opts.source === 'scrape' ? undefined : findBinary('prometheus', '/usr/bin/prometheus');
    if (opts.source === 'prometheus' && !prometheusBin) throw new Error('--source prometheus: no prometheus binary on PATH');
    let source: Record<string, unknown>;
    if (prometheusBin) {
      const prom: RunningPrometheus = await startPrometheus({
        targets: [new URL(shop.url).host, new URL(proxy.adminUrl).host],
        scrapeInterval: '1s',
        binary: prometheusBin,
        // The alerting rules the examples expect (spec.expect.alerts), as a team's Prometheus would hold them.
        ruleFiles: await exampleRules(),
      });
      cleanups.push(() => prom.stop());
      source = { kind: 'prometheus', url: prom.url, step: '1s' };
      out(`demo: metrics from a real Prometheus (${prometheusBin}) at ${prom.url}, scraping every 1 s`);
    } else {
      source = { kind: 'scrape', targets: [`${shop.url}/metrics`, `${proxy.adminUrl}/metrics`], step: '1s' };
      out('demo: no prometheus on PATH — metrics from the embedded scrape source (for demos and trials, not production)');
    }

    // From sources the load process runs through tsx like this one; installed, it is compiled JavaScript.
    const loadScript = fileURLToPath(new URL(`./load-process${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
    const load = spawn(
      process.execPath,
      [
        ...(loadScript.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : []),
        loadScript,
        JSON.stringify({
          url: proxy.listenUrl,
          paths: [
            { path: '/checkout', method: 'POST', weight: 1 },
            { path: '/browse', weight: 1 },
          ],
          // About 50 checkouts/s per group: enough for 20 one-second steps to rule out a 10% change.
          ratePerSecond: 400,
          users: 100_000,
          stickyHeader: 'x-user-id',
          durationMs: 4 * 60_000,
        }),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const loadExited = new Promise((r) => load.once('exit', r));
    cleanups.push(async () => {
      load.kill('SIGTERM');
      await Promise.race([loadExited, new Promise((r) => setTimeout(r, 5_000))]);
      if (load.exitCode === null) load.kill('SIGKILL');
    });
    out('demo: load 400 req/s from 100,000 simulated users');

    const token = `sst_demo_${randomBytes(24).toString('base64url')}`;
    const config = loadConfig({
      STEADYSTATE_LISTEN: '127.0.0.1:0',
      STEADYSTATE_DATA_DIR: join(dir, 'data'),
      STEADYSTATE_ADMIN_TOKEN: token,
      STEADYSTATE_LOG_LEVEL: 'error',
    });
    const service: Service = await startService(config, pino({ level: process.env.STEADYSTATE_LOG_LEVEL ?? 'error' }));
    cleanups.push(() => service.stop('demo finished'));
    out(`demo: steadystate service on ${service.url} (PGlite in ${join(dir, 'data')})`);

    await warmUp(source, stop.signal);

    for (const demoCase of CASES) {
      if (stop.signal.aborted) break;
      results.push(await runCase(service, token, demoCase, source, proxy.adminUrl, reportDir, stop.signal));
    }
  } catch (err) {
    if (!stop.signal.aborted) out(`demo: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  out('');
  out(`demo: done in ${Math.round((Date.now() - started) / 1000)} s`);
  for (const r of results) {
    const ok = asExpected(r);
    out(`  ${ok ? '✔' : '✖'} ${r.case.what.padEnd(22)} ${r.state.toUpperCase().padEnd(12)} (expected ${r.case.expect}) — ${r.reason}`);
    for (const path of r.reports) out(`      ${path}`);
  }
  const allAsExpected = results.length === CASES.length && results.every(asExpected);
  if (interrupted) return 130;
  return allAsExpected ? 0 : 1;
}

function asExpected(r: { case: DemoCase; state: string; reason: string }): boolean {
  return r.state === r.case.expect && (r.case.says === undefined || r.case.says.test(r.reason));
}

/**
 * Wait until both groups' checkout rate, over the same 10 s window the
 * examples use, has been steady for a few seconds: the first run must not
 * start while the load is still ramping up (that would read as an effect).
 */
async function warmUp(source: Record<string, unknown>, signal: AbortSignal): Promise<void> {
  out('demo: warming up until the checkout rate is steady (the 10 s rate windows need to fill)…');
  const probe = createMetricSource(source as { kind: string });
  const deadline = Date.now() + 90_000;
  for (let i = 0; i < 180 && Date.now() < deadline && !signal.aborted; i++) {
    await new Promise((r) => setTimeout(r, 1_000));
    try {
      const end = Date.now();
      const steady = await Promise.all(
        ['control', 'experiment'].map(async (group) => {
          const r = await probe.queryRange(`sum(rate(shop_checkouts_total{group="${group}"}[5s]))`, { start: new Date(end - 8_000), end: new Date(end), stepMs: 1_000 }, signal);
          const last = (r.series[0]?.samples ?? []).slice(-6).map((p) => p.v);
          if (last.length < 6) return false;
          const max = Math.max(...last);
          return max > 0 && (max - Math.min(...last)) / max < 0.1;
        }),
      );
      if (steady.every(Boolean)) break;
    } catch {
      // Not yet: no data is the expected answer for the first seconds.
    }
  }
  await (probe as { close?: () => Promise<void> | void }).close?.();
}

async function runCase(
  service: Service,
  token: string,
  demoCase: DemoCase,
  source: Record<string, unknown>,
  adminUrl: string,
  reportDir: string,
  signal: AbortSignal,
): Promise<{ case: DemoCase; state: string; reason: string; runId: string; reports: string[] }> {
  const api = async <T = unknown>(method: string, path: string, body?: string): Promise<T> => {
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/yaml' } : {}) },
      ...(body ? { body } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
    return (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T;
  };

  // The example as written, pointed at this demo's source and proxy.
  const doc = parseDocument(await readFile(join(EXAMPLES, demoCase.file), 'utf8'));
  doc.setIn(['spec', 'source'], doc.createNode(source));
  doc.setIn(['spec', 'fault', 'params', 'admin'], adminUrl);
  const name = String(doc.getIn(['metadata', 'name']));
  await api('POST', '/api/v1/experiments', doc.toString());
  const { run } = await api<{ run: { id: string } }>('POST', `/api/v1/experiments/${encodeURIComponent(name)}/runs`);
  const id = run.id;
  const label = `[${name}]`;
  out(`\n${label} ${demoCase.what}: run ${id} started — expecting ${demoCase.expect}`);

  let after = 0;
  let state = 'pending';
  for (let i = 0; i < 400 && !signal.aborted; i++) {
    const { events } = await api<{ events: { seq: number; type: string; message: string }[] }>('GET', `/api/v1/runs/${id}/events?after=${after}`);
    for (const e of events) {
      after = e.seq;
      if (e.type.startsWith('state.') || e.type === 'window.opened' || e.type === 'window.closed' || e.type === 'metric.judged' || e.type.startsWith('ladder.') || e.type === 'alerts.judged') {
        out(`${label} ${e.message}`);
      }
      if (e.type.startsWith('state.')) state = e.type.slice('state.'.length);
    }
    if (TERMINAL.has(state)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (signal.aborted && !TERMINAL.has(state)) {
    await api('POST', `/api/v1/runs/${id}/abort`).catch(() => undefined);
  }
  const final = await api<{ run: { state: string; reason: string; alerts?: AlertsResult } }>('GET', `/api/v1/runs/${id}`);
  state = final.run.state;
  const alerts = final.run.alerts;
  // The alerts' own verdict beside the metrics' (spec.expect): what fired, on which step, how fast.
  const reason = alerts ? `${final.run.reason}; alerts ${alerts.verdict}: ${alerts.alerts.map((a) => `${a.name} ${a.reason}`).join('; ')}` : final.run.reason;

  await mkdir(reportDir, { recursive: true });
  const reports: string[] = [];
  for (const ext of ['html', 'md', 'json'] as const) {
    try {
      const body = await api('GET', `/api/v1/runs/${id}/report.${ext}`);
      const path = join(reportDir, `${name}.${ext}`);
      await writeFile(path, typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`);
      reports.push(path);
    } catch (err) {
      out(`${label} could not fetch the ${ext} report: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { case: demoCase, state, reason, runId: id, reports };
}
