/**
 * `npm run bench:scale` — one process supervising 200, 500 and 1,000
 * concurrent runs, each with a threshold guardrail evaluated every 5 s against
 * a real Prometheus (1 s scrapes of a target exporting one series per run).
 *
 * Per level it prints: CPU (as a share of one core, and per core), peak RSS,
 * evaluation lag p95 (how late a guardrail evaluation ran against its 5 s
 * schedule), and queries per second sent to Prometheus, split into guardrail
 * queries and steady-state collection queries. Goal (issue #10): at 1,000 runs
 * under one core and 512 MB, lag p95 below the interval, one query per
 * guardrail per evaluation.
 *
 * Each level runs twice, side by side (issue #18): steady-state collection with one query
 * `by (group)` per metric per look (the engine's default on Prometheus, src/queries/group-split.ts)
 * and with one query per group, as before. `BENCH_COLLECTION=grouped|per-group` runs one of them.
 *
 * The injector is a webhook to a local server (opening a window costs one
 * HTTP call); loopback only; every loop bounded.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { pino } from 'pino';
import { Counter, Registry } from 'prom-client';
import { executeRun } from '../../src/engine/run-engine.ts';
import type { RunRecord } from '../../src/engine/types.ts';
import { createInjector } from '../../src/injectors/registry.ts';
import { createMetricSource } from '../../src/metric-sources/registry.ts';
import type { MetricSource } from '../../src/metric-sources/types.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import { startMetricsTarget, startPrometheus } from '../../src/demo/prometheus-process.ts';

const LEVELS = (process.env.BENCH_LEVELS ?? '200,500,1000').split(',').map(Number);
const INTERVAL_MS = 5_000;
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 60_000);
const MAX_RUNS = 1_000;
const MODES = (process.env.BENCH_COLLECTION ?? 'grouped,per-group').split(',') as ('grouped' | 'per-group')[];

interface Level {
  runs: number;
  collection: 'grouped' | 'per-group';
  cpuOneCore: number;
  cpuPerCore: number;
  rssMb: number;
  lagP95Ms: number;
  lagMaxMs: number;
  guardrailQps: number;
  collectionQps: number;
  guardrailQueriesPerEvaluation: number;
  /** Steady-state queries (preflight, history, collection, analysis) per run per look. */
  collectionQueriesPerLook: number;
  states: Record<string, number>;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = (s.length - 1) * q;
  return (s[Math.floor(i)] as number) + ((s[Math.ceil(i)] as number) - (s[Math.floor(i)] as number)) * (i - Math.floor(i));
}

async function main(): Promise<void> {
  const startedAll = Date.now();
  // One counter per run slot, incremented by the target at every scrape.
  const registry = new Registry();
  const requests = new Counter({ name: 'bench_requests_total', help: 'per-run traffic', labelNames: ['run', 'group'], registers: [registry] });
  for (let i = 0; i < MAX_RUNS; i++) for (const group of ['control', 'experiment']) requests.inc({ run: String(i), group }, 0);
  const tick = setInterval(() => {
    for (let i = 0; i < MAX_RUNS; i++) for (const group of ['control', 'experiment']) requests.inc({ run: String(i), group }, 10);
  }, 1_000);
  tick.unref();
  const target = await startMetricsTarget(registry);
  const prom = await startPrometheus({ targets: [target.target], scrapeInterval: '1s', startTimeoutMs: 30_000 });
  // A webhook "backend" for the fault windows.
  const hook = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(204);
      res.end();
    });
  });
  hook.listen(0, '127.0.0.1');
  await new Promise((r) => hook.once('listening', r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}`;
  const logger = pino({ level: 'silent' });
  const levels: Level[] = [];

  try {
    await prom.waitForSeries('count_over_time(bench_requests_total{run="0"}[10s]) >= 6', 40_000);
    for (const n of LEVELS) for (const mode of MODES) {
      process.stdout.write(`\nlevel ${n} runs, ${mode} collection: starting (spread over one interval)…\n`);
      let guardrailQueries = 0;
      let collectionQueries = 0;
      const base = createMetricSource({ kind: 'prometheus', url: prom.url, step: 1_000, timeout: 4_000 } as never);
      const counting: MetricSource = {
        kind: base.kind,
        ...(base.evaluatesEveryStep ? { evaluatesEveryStep: true } : {}),
        ...(mode === 'grouped' ? { groupsByLabel: true } : {}),
        check: (s) => base.check(s),
        queryRange: (q, r, s) => {
          // Guardrail queries start with max(; everything else is steady-state (preflight, collection, analysis).
          if (q.startsWith('max(')) guardrailQueries += 1;
          else collectionQueries += 1;
          return base.queryRange(q, r, s);
        },
      };
      const runs: Promise<RunRecord>[] = [];
      const cpu0 = process.cpuUsage();
      const t0 = Date.now();
      let peakRss = 0;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 500);
      for (let i = 0; i < n; i++) {
        const r = validateExperiment({
          apiVersion: 'steadystate.dev/v1alpha1',
          kind: 'Experiment',
          metadata: { name: `bench-${i}` },
          spec: {
            source: { kind: 'prometheus', url: prom.url, step: '1s' },
            steadyState: [{ name: 'rps', query: `sum(rate(bench_requests_total{run="${i}",group="$group"}[5s]))`, direction: 'decrease', minSamples: 5 }],
            fault: { injector: 'webhook', params: { open: { url: `${hookUrl}/open` }, close: { url: `${hookUrl}/close` } }, duration: `${WINDOW_MS / 1000}s` },
            guardrails: [{ name: 'rate', query: `max(rate(bench_requests_total{run="${i}",group="$group"}[5s]))`, min: 0 }],
            analysis: { interval: '5s', minSamples: 5, settle: '1s' },
          },
        });
        if (!r.ok) throw new Error(JSON.stringify(r.issues));
        runs.push(
          executeRun(r.experiment, {
            source: counting,
            injector: createInjector('webhook', r.experiment.spec.fault.params),
            logger,
          }),
        );
        // Spread the starts over one interval, as independent runs would be.
        await new Promise((res) => setTimeout(res, INTERVAL_MS / n));
      }
      const records = await Promise.all(runs);
      clearInterval(sampler);
      const wallMs = Date.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const cpuOneCore = (cpu.user + cpu.system) / 1000 / wallMs;
      // Lag: gap between consecutive evaluations of one guardrail beyond the interval.
      const lags: number[] = [];
      let evaluations = 0;
      for (const rec of records) {
        const ats = rec.guardrails.map((g) => g.at);
        evaluations += ats.length;
        for (let k = 1; k < ats.length; k++) lags.push(Math.max(0, (ats[k] as number) - (ats[k - 1] as number) - INTERVAL_MS));
      }
      const states: Record<string, number> = {};
      for (const rec of records) states[rec.state] = (states[rec.state] ?? 0) + 1;
      const level: Level = {
        runs: n,
        collection: mode,
        cpuOneCore: Number(cpuOneCore.toFixed(3)),
        cpuPerCore: Number((cpuOneCore / cpus().length).toFixed(3)),
        rssMb: Math.round(peakRss / 1024 / 1024),
        lagP95Ms: Math.round(quantile(lags, 0.95)),
        lagMaxMs: Math.round(Math.max(0, ...lags)),
        guardrailQps: Number(((guardrailQueries / wallMs) * 1000).toFixed(1)),
        collectionQps: Number(((collectionQueries / wallMs) * 1000).toFixed(1)),
        guardrailQueriesPerEvaluation: Number((guardrailQueries / Math.max(1, evaluations)).toFixed(2)),
        // One guardrail evaluation per look: collection queries per evaluation are per run per look.
        collectionQueriesPerLook: Number((collectionQueries / Math.max(1, evaluations)).toFixed(2)),
        states,
      };
      levels.push(level);
      process.stdout.write(`${JSON.stringify(level)}\n`);
    }
  } finally {
    clearInterval(tick);
    hook.close();
    await prom.stop();
    await target.stop();
  }

  const md = [
    '# Supervising many runs (`npm run bench:scale`)',
    '',
    `One process; each run has one threshold guardrail evaluated every ${INTERVAL_MS / 1000} s and one steady-state metric, a ${WINDOW_MS / 1000} s window, against a real Prometheus (1 s scrapes). ${cpus().length} cores.`,
    'CPU is the process\'s user+system time over the wall time of the level (1.0 = one full core).',
    '',
    '| runs | collection | CPU (cores) | CPU per core | peak RSS | eval lag p95 | eval lag max | guardrail q/s | collection q/s | guardrail queries per evaluation | collection queries per run per look | end states |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...levels.map(
      (l) =>
        `| ${l.runs} | ${l.collection} | ${l.cpuOneCore} | ${l.cpuPerCore} | ${l.rssMb} MB | ${l.lagP95Ms} ms | ${l.lagMaxMs} ms | ${l.guardrailQps} | ${l.collectionQps} | ${l.guardrailQueriesPerEvaluation} | ${l.collectionQueriesPerLook} | ${Object.entries(l.states).map(([k, v]) => `${k} ${v}`).join(', ')} |`,
    ),
    '',
    `Goal at 1,000 runs: CPU < 1 core, RSS < 512 MB, lag p95 < ${INTERVAL_MS} ms, 1 guardrail query per evaluation. Runtime ${Math.round((Date.now() - startedAll) / 1000)} s, ${new Date().toISOString()}, Node ${process.version}.`,
    '',
  ].join('\n');
  await mkdir('reports/bench', { recursive: true });
  await writeFile('reports/bench/scale.md', md);
  await writeFile('reports/bench/scale.json', `${JSON.stringify({ levels }, null, 2)}\n`);
  process.stdout.write(`\n${md}\nwritten to reports/bench/scale.md and scale.json\n`);
}

await main();
