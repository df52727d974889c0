/**
 * `npm run bench:calibrate` — the whole pipeline, end to end, judged for false
 * alarms and power (issue #13, point 6).
 *
 * A synthetic multi-group exporter (shared AR(1) load, sticky-session
 * overdispersion, lognormal latencies; ./synthetic-shop.ts), a real Prometheus
 * scraping it every second, and `steadystate serve` as a child process. Through
 * the service's HTTP API it creates one experiment per synthetic shop and starts
 * them all at once: `--aa` A/A runs (the webhook opens a window that changes
 * nothing) plus `--effect` runs with a 50% and `--effect` runs with a 15% drop of
 * the experiment group's checkouts. Each spec is README-style: checkouts/s
 * (decrease, 10%), p95 latency (increase, 20%), a `compare: checkout-sps`
 * guardrail, an error-ratio guardrail that should not fire, 1 s step and
 * analysis interval.
 *
 * It waits for every run to end (bounded), reads each run from the API and
 * prints: A/A passed / failed / halted / inconclusive / errored with the check
 * behind each false fail and false halt; per drop the runs that failed or
 * halted (power), those halted by the compare guardrail, and the halt delay
 * after the window opened. Written to reports/bench/calibrate-<date>[-quick][-grace<d>].{md,json}.
 *
 *   npm run bench:calibrate -- [--aa 100] [--effect 10] [--window 2m] [--seed 1] [--rate 100] [--quick]
 *                              [--no-data-grace 15s] [--out-dir reports/bench]
 *
 * `--quick`: 20 A/A, 3 per drop, 45 s windows (a smoke run). `--no-data-grace`
 * writes `analysis.noDataGrace` into the specs: on a loaded machine slow
 * queries trip the no-data fail-safe (2 intervals by default), which halts runs
 * for reasons that have nothing to do with the judge; the table counts those
 * halts separately either way.
 *
 * Loopback only. Every wait is bounded; a watchdog stops everything at a hard
 * deadline. Prometheus, the exporter and the service are stopped on exit, on
 * Ctrl-C and on error.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startPrometheus, type RunningPrometheus } from '../../src/demo/prometheus-process.ts';
import { parseDuration } from '../../src/lib/duration.ts';
import { startExporter, type RunningExporter } from './exporter.ts';
import { renderMarkdown, summarize, type Kind, type Outcome, type Setup } from './summary.ts';
import { startServiceProcess, type RunningService } from './service-process.ts';
import { calibrationSpecYaml } from './spec.ts';
import { SyntheticShop } from './synthetic-shop.ts';

const KIND_FACTOR: Record<Kind, number> = { aa: 1, drop50: 0.5, drop15: 0.85 };
const POLL_MS = 2_000;
const SETUP_BUDGET_MS = 240_000;
const AFTER_WINDOW_BUDGET_MS = 180_000;
const TERMINAL = new Set(['passed', 'failed', 'inconclusive', 'halted', 'halt_failed', 'aborted', 'errored']);

function parseCli(): Setup {
  const { values } = parseArgs({
    options: {
      aa: { type: 'string' },
      effect: { type: 'string' },
      window: { type: 'string' },
      seed: { type: 'string' },
      rate: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-data-grace': { type: 'string' },
      'out-dir': { type: 'string', default: 'reports/bench' },
    },
    allowPositionals: false,
  });
  const quick = values.quick ?? false;
  const int = (name: string, text: string | undefined, fallback: number, min: number, max: number): number => {
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got "${text}"`);
    return n;
  };
  const windowText = values.window ?? (quick ? '45s' : '2m');
  const windowMs = parseDuration(windowText);
  if (windowMs === undefined || windowMs < 31_000 || windowMs > 15 * 60_000) throw new Error(`--window must be a duration between 31s and 15m, got "${windowText}"`);
  const rate = values.rate === undefined ? 100 : Number(values.rate);
  const grace = values['no-data-grace'];
  if (grace !== undefined && parseDuration(grace) === undefined) throw new Error(`--no-data-grace must be a duration, got "${grace}"`);
  if (!(rate >= 5 && rate <= 10_000)) throw new Error(`--rate must be a number of checkouts/s per group in [5, 10000], got "${values.rate}"`);
  return {
    aa: int('aa', values.aa, quick ? 20 : 100, 0, 400),
    effect: int('effect', values.effect, quick ? 3 : 10, 0, 100),
    windowMs,
    seed: int('seed', values.seed, 1, 0, 2 ** 31 - 1),
    rate,
    quick,
    noDataGrace: values['no-data-grace'],
    outDir: values['out-dir'] ?? 'reports/bench',
    command: `npm run bench:calibrate -- ${process.argv.slice(2).join(' ')}`.trim(),
  };
}

interface Planned {
  kind: Kind;
  exp: string;
  name: string;
}

function plan(setup: Setup): Planned[] {
  const out: Planned[] = [];
  let i = 0;
  const add = (kind: Kind, n: number): void => {
    for (let k = 0; k < n; k++, i++) {
      const exp = `e${String(i).padStart(3, '0')}`;
      out.push({ kind, exp, name: `calib-${kind}-${exp}` });
    }
  };
  add('aa', setup.aa);
  add('drop50', setup.effect);
  add('drop15', setup.effect);
  return out;
}

/** Run `fn` over `items` with at most `limit` in flight. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** `name_total{...} value` lines of a Prometheus text body: the first sample of `metric`. */
function metricValue(text: string, metric: string): number | undefined {
  const re = new RegExp(`^${metric}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Sum of every series of a counter in a Prometheus text body. */
function sumOf(text: string, metric: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${metric}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

/** A quantile of a histogram summed over all its label sets (linear within a bucket, as histogram_quantile). */
function histogramQuantile(text: string, metric: string, q: number): number {
  const byLe = new Map<number, number>();
  for (const m of text.matchAll(new RegExp(`^${metric}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} ([0-9.eE+-]+)$`, 'gm'))) {
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    byLe.set(le, (byLe.get(le) ?? 0) + Number(m[2]));
  }
  const buckets = [...byLe.entries()].sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1e-12, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

interface RunView {
  id: string;
  experiment: string;
  state: string;
  verdict: string | null;
  reason: string;
  startedAt: string;
  endedAt: string | null;
  halt?: { guardrail: string; kind?: string; reason: string; at: string };
  window?: { openedAt: string; closedAt?: string; closedBy?: string };
  metrics: { name: string; verdict: string; reason: string; relativeEffect: number | null; pValue: number | null }[];
}

async function main(): Promise<void> {
  const setup = parseCli();
  const planned = plan(setup);
  if (planned.length === 0) throw new Error('nothing to run: --aa and --effect are both 0');
  const started = Date.now();
  const hardDeadline = started + SETUP_BUDGET_MS + setup.windowMs + AFTER_WINDOW_BUDGET_MS + 120_000;
  process.stdout.write(
    `bench:calibrate: ${setup.aa} A/A + ${setup.effect} × 50% drop + ${setup.effect} × 15% drop, window ${setup.windowMs / 1000}s, ` +
      `${setup.rate} checkouts/s per group, seed ${setup.seed}; hard deadline in ${Math.round((hardDeadline - started) / 1000)}s\n`,
  );

  let exporter: RunningExporter | undefined;
  let prom: RunningPrometheus | undefined;
  let service: RunningService | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    // The service first: its SIGTERM closes open windows through the exporter's fault endpoint.
    cleaning ??= (async () => {
      await service?.stop().catch((err: unknown) => console.error('stopping the service:', err));
      await prom?.stop().catch((err: unknown) => console.error('stopping prometheus:', err));
      await exporter?.stop().catch((err: unknown) => console.error('stopping the exporter:', err));
    })();
    return cleaning;
  };
  const bail = (why: string, code: number): void => {
    console.error(`\nbench:calibrate: ${why}; stopping the service, Prometheus and the exporter…`);
    void cleanup().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => bail('interrupted', 130));
  process.once('SIGTERM', () => bail('terminated', 143));
  const watchdog = setTimeout(() => bail(`hard deadline of ${Math.round((hardDeadline - started) / 1000)}s passed`, 3), hardDeadline - started);
  watchdog.unref();

  try {
    const shop = new SyntheticShop({ experiments: planned.map((p) => p.exp), seed: setup.seed, ratePerGroup: setup.rate });
    exporter = await startExporter({ shop });
    // 120 runs × 5 queries a second: lift Prometheus's default cap of 20 concurrent queries so that it is
    // not what the bench measures. (Measured: it was not the bottleneck; the service's own query latency
    // under 120 runs at a 1 s interval is — see the closing note of issue 13.)
    prom = await startPrometheus({
      targets: [exporter.target],
      scrapeInterval: '1s',
      startTimeoutMs: 30_000,
      jobName: 'calibration-shop',
      extraArgs: ['--query.max-concurrency=256'],
    });
    service = await startServiceProcess({ maxConcurrentRuns: planned.length + 10 });
    process.stdout.write(`exporter ${exporter.url}, prometheus ${prom.url}, service ${service.url} (pid ${service.pid})\n`);

    // Create every experiment while Prometheus gathers its first 15 s of data.
    const createStarted = Date.now();
    await pool(planned, 4, async (p) => {
      const yaml = calibrationSpecYaml({
        name: p.name,
        exp: p.exp,
        prometheusUrl: prom!.url,
        exporterUrl: exporter!.url,
        rateFactor: KIND_FACTOR[p.kind],
        windowSec: setup.windowMs / 1000,
        ...(setup.noDataGrace ? { noDataGrace: setup.noDataGrace } : {}),
      });
      const res = await service!.api('POST', '/api/v1/experiments', { yaml });
      if (res.status !== 201) throw new Error(`creating ${p.name}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    });
    const createMs = Date.now() - createStarted;
    await prom.waitForTargetsUp(20_000);
    const lastExp = planned[planned.length - 1]!.exp;
    // 40 scrapes: every run's first 15 s rate window is full from its first look, and the history before its window
    // holds the 20 paired steps a compare guardrail learns its noise from (noiseFromHistory), as a shop that has run
    // for a while has. With 20 scrapes the first runs started found 19 and armed from the window's own steps (a 50%
    // drop then halts after a minute, not seconds: that path is measured by the engine tests, not here).
    await prom.waitForSeries(`count_over_time(shop_checkouts_total{exp="${lastExp}",group="experiment"}[60s]) >= 40`, 90_000);

    // Start them all, effect runs interleaved with A/A so neither kind gets a quieter service.
    const order = [...planned].sort((a, b) => interleaveKey(a, planned) - interleaveKey(b, planned));
    const cpuBefore = await cpuSeconds(service, prom);
    const startStarted = Date.now();
    const startLatencies: number[] = [];
    const ids = new Map<string, Planned>();
    await pool(order, 4, async (p) => {
      const t0 = Date.now();
      const res = await service!.api<{ run?: { id: string } }>('POST', `/api/v1/experiments/${encodeURIComponent(p.name)}/runs`, undefined, {
        headers: { 'idempotency-key': `calib-${setup.seed}-${p.name}` },
      });
      startLatencies.push(Date.now() - t0);
      if ((res.status !== 201 && res.status !== 200) || !res.body.run) throw new Error(`starting ${p.name}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      ids.set(res.body.run.id, p);
    });
    const startMs = Date.now() - startStarted;
    process.stdout.write(`started ${ids.size} runs in ${(startMs / 1000).toFixed(1)}s; windows of ${setup.windowMs / 1000}s, waiting…\n`);

    // Poll the run list until every run is terminal, bounded by the window plus a budget.
    const waitUntil = Math.min(hardDeadline - 60_000, Date.now() + setup.windowMs + AFTER_WINDOW_BUDGET_MS);
    let states = new Map<string, string>();
    let lastLine = '';
    for (let i = 0; i < 10_000 && Date.now() < waitUntil; i++) {
      const res = await service.api<{ runs: { id: string; state: string }[] }>('GET', '/api/v1/runs?limit=500');
      if (res.status === 200) states = new Map(res.body.runs.filter((r) => ids.has(r.id)).map((r) => [r.id, r.state]));
      const counts: Record<string, number> = {};
      for (const s of states.values()) counts[s] = (counts[s] ?? 0) + 1;
      const line = Object.entries(counts)
        .sort()
        .map(([s, n]) => `${s} ${n}`)
        .join(', ');
      if (line !== lastLine) process.stdout.write(`  t+${Math.round((Date.now() - startStarted) / 1000)}s: ${line}\n`);
      lastLine = line;
      if (states.size === ids.size && [...states.values()].every((s) => TERMINAL.has(s))) break;
      await delay(POLL_MS);
    }
    const cpuAfter = await cpuSeconds(service, prom);
    const wallSec = (Date.now() - startStarted) / 1000;
    const serviceMetrics = await service.metricsText();
    const rssMb = (metricValue(serviceMetrics, 'steadystate_process_resident_memory_bytes') ?? NaN) / 1024 / 1024;

    const outcomes: Outcome[] = await pool([...ids.entries()], 4, async ([id, p]) => {
      const res = await service!.api<{ run: RunView }>('GET', `/api/v1/runs/${encodeURIComponent(id)}`, undefined, { timeoutMs: 20_000 });
      const faultCall = exporter!.calls.find((c) => c.exp === p.exp && c.method === 'POST');
      if (res.status !== 200) return { ...p, id, state: states.get(id) ?? 'unknown', verdict: null, reason: `HTTP ${res.status}`, metrics: [] };
      const r = res.body.run;
      return {
        ...p,
        id,
        state: r.state,
        verdict: r.verdict,
        reason: r.reason,
        startedAt: r.startedAt,
        endedAt: r.endedAt,
        openedAt: r.window?.openedAt,
        faultAppliedAt: faultCall ? new Date(faultCall.at).toISOString() : undefined,
        halt: r.halt ? { guardrail: r.halt.guardrail, kind: r.halt.kind, reason: r.halt.reason, at: r.halt.at } : undefined,
        metrics: r.metrics.map((m) => ({ name: m.name, verdict: m.verdict, reason: m.reason, relativeEffect: m.relativeEffect, pValue: m.pValue })),
      };
    });

    const summary = summarize(setup, outcomes, {
      createSec: createMs / 1000,
      startSec: startMs / 1000,
      startLatencyP95Ms: quantile(startLatencies, 0.95),
      wallSec,
      serviceCpuSec: cpuAfter.service - cpuBefore.service,
      prometheusCpuSec: cpuAfter.prometheus - cpuBefore.prometheus,
      benchCpuSec: cpuAfter.bench - cpuBefore.bench,
      serviceRssMb: rssMb,
      sourceQueryP50Ms: histogramQuantile(serviceMetrics, 'steadystate_source_request_duration_seconds', 0.5) * 1000,
      sourceQueryP95Ms: histogramQuantile(serviceMetrics, 'steadystate_source_request_duration_seconds', 0.95) * 1000,
      sourceQueries: sumOf(serviceMetrics, 'steadystate_source_requests_total'),
      sourceErrors: sumOf(serviceMetrics, 'steadystate_source_request_errors_total'),
      evaluationLagP95Ms: histogramQuantile(serviceMetrics, 'steadystate_guardrail_evaluation_lag_seconds', 0.95) * 1000,
      exporterTicks: exporter.tickStats(),
      cores: cpus().length,
      loadAvg1m: loadavg()[0] ?? NaN,
      totalSec: (Date.now() - started) / 1000,
    });
    const md = renderMarkdown(summary);
    const date = new Date().toISOString().slice(0, 10);
    const grace = setup.noDataGrace ? `-grace${setup.noDataGrace}` : '';
    const base = `${setup.outDir}/calibrate-${date}${setup.quick ? '-quick' : ''}${grace}`;
    await mkdir(setup.outDir, { recursive: true });
    await writeFile(`${base}.md`, md);
    await writeFile(`${base}.json`, `${JSON.stringify({ summary, outcomes }, null, 2)}\n`);
    process.stdout.write(`\n${md}\nwritten to ${base}.md and ${base}.json\n`);
  } catch (err) {
    if (service) console.error(`--- service log (tail) ---\n${service.logs().slice(-4000)}`);
    throw err;
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
}

/** Spread each kind evenly over the start order. */
function interleaveKey(p: Planned, all: Planned[]): number {
  const same = all.filter((q) => q.kind === p.kind);
  return (same.indexOf(p) + 0.5) / same.length;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = (s.length - 1) * q;
  return s[Math.floor(i)]! + (s[Math.ceil(i)]! - s[Math.floor(i)]!) * (i - Math.floor(i));
}

/** CPU seconds so far of the service and Prometheus (their own /metrics) and of this process. */
async function cpuSeconds(service: RunningService, prom: RunningPrometheus): Promise<{ service: number; prometheus: number; bench: number }> {
  const promText = await fetch(`${prom.url}/metrics`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.text(), () => '');
  const serviceText = await service.metricsText().catch(() => '');
  const own = process.cpuUsage();
  return {
    service: metricValue(serviceText, 'steadystate_process_cpu_seconds_total') ?? NaN,
    prometheus: metricValue(promText, 'process_cpu_seconds_total') ?? NaN,
    bench: (own.user + own.system) / 1e6,
  };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
