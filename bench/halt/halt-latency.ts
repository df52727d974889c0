/**
 * `npm run bench:halt` — how fast does a breached guardrail stop the fault?
 *
 * A real Prometheus scraping every second, the sample shop behind the fault
 * proxy, a few hundred requests per second, and the real run engine with the
 * http-proxy injector and an error-ratio guardrail (max 5%) evaluated every
 * second. Each trial opens a window that injects 50% errors into the experiment
 * group at t0 (the proxy's own "opened" event) and measures
 * t(proxy stopped injecting: its "closed" event) − t0.
 *
 * The floor is scrape interval + evaluation interval: Prometheus must scrape a
 * bad sample, then the monitor must look. The goal (issue #5): p95 ≤ floor + 1 s.
 * Loopback only; every loop is bounded in count and time.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { pino } from 'pino';
import { startSampleShop } from '../../src/demo/sample-shop.ts';
import { executeRun } from '../../src/engine/run-engine.ts';
import { createInjector } from '../../src/injectors/registry.ts';
import { createMetricSource } from '../../src/metric-sources/registry.ts';
import { startFaultProxy } from '../../src/proxy/fault-proxy.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import { runLoad } from '../../test/helpers/http-load.ts';
import { startPrometheus } from '../../test/helpers/prometheus.ts';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 20);
const SCRAPE_MS = 1_000;
const INTERVAL_MS = 1_000;
const RATE = Number(process.env.BENCH_RATE ?? 300);

function quantile(sorted: number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (i - lo);
}

async function main(): Promise<void> {
  const started = Date.now();
  const shop = await startSampleShop();
  const proxy = await startFaultProxy({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    upstream: shop.url,
    controlPercent: 50,
    experimentPercent: 50,
    stickyHeader: 'x-user-id',
  });
  const prom = await startPrometheus({ targets: [new URL(shop.url).host, new URL(proxy.adminUrl).host], scrapeInterval: `${SCRAPE_MS / 1000}s` });
  const load = new AbortController();
  const loadDone = runLoad({
    url: proxy.listenUrl,
    paths: [{ path: '/checkout', method: 'POST', weight: 1 }, { path: '/browse', weight: 1 }],
    ratePerSecond: RATE,
    users: 100_000,
    stickyHeader: 'x-user-id',
    signal: load.signal,
    durationMs: 20 * 60_000,
  });
  const logger = pino({ level: 'silent' });
  const results: { trial: number; haltMs: number; state: string; reason: string }[] = [];
  try {
    await prom.waitForTargetsUp(20_000);
    await prom.waitForSeries('count_over_time(steadystate_proxy_requests_total{group="experiment"}[10s]) >= 8', 30_000);
    const r = validateExperiment({
      apiVersion: 'steadystate.dev/v1alpha1',
      kind: 'Experiment',
      metadata: { name: 'bench-halt' },
      spec: {
        source: { kind: 'prometheus', url: prom.url, step: '1s', timeout: '800ms' },
        steadyState: [{ name: 'checkout-sps', query: 'sum(rate(shop_checkouts_total{group="$group"}[5s]))', direction: 'decrease', minSamples: 3 }],
        fault: { injector: 'http-proxy', params: { admin: proxy.adminUrl, errorRate: '50%' }, duration: '30s' },
        guardrails: [
          {
            name: 'error-ratio',
            query:
              '(sum(rate(steadystate_proxy_requests_total{group="$group",code=~"5.."}[3s])) or vector(0)) / sum(rate(steadystate_proxy_requests_total{group="$group"}[3s]))',
            max: 0.05,
          },
        ],
        analysis: { interval: `${INTERVAL_MS / 1000}s`, minSamples: 3, settle: '0s' },
      },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const exp = r.experiment;
    for (let trial = 1; trial <= TRIALS; trial++) {
      let openedAt = 0;
      const opened = once(proxy.events, 'opened').then(() => (openedAt = performance.now()));
      const closed = once(proxy.events, 'closed').then(() => performance.now());
      const run = await executeRun(exp, {
        source: createMetricSource(exp.spec.source),
        injector: createInjector(exp.spec.fault.injector, exp.spec.fault.params),
        logger,
      });
      await opened;
      const closedAt = await closed;
      const haltMs = closedAt - openedAt;
      results.push({ trial, haltMs, state: run.state, reason: run.halt?.reason ?? run.reason });
      process.stdout.write(
        `trial ${String(trial).padStart(2)}: ${run.state.padEnd(8)} proxy stopped injecting ${Math.round(haltMs)} ms after the fault began (${run.halt?.guardrail ?? '-'}: ${run.halt?.reason ?? run.reason})\n`,
      );
      // Let the injected errors age out of the 3 s rate window before the next preflight.
      await new Promise((res) => setTimeout(res, 4_000));
    }
  } finally {
    load.abort();
    await loadDone.catch(() => undefined);
    await prom.stop();
    await proxy.close();
    await shop.close();
  }

  const halted = results.filter((r) => r.state === 'halted').map((r) => r.haltMs).sort((a, b) => a - b);
  const floor = SCRAPE_MS + INTERVAL_MS;
  const summary = {
    trials: results.length,
    halted: halted.length,
    scrapeIntervalMs: SCRAPE_MS,
    evaluationIntervalMs: INTERVAL_MS,
    loadRps: RATE,
    floorMs: floor,
    goalP95Ms: floor + 1_000,
    p50Ms: Math.round(quantile(halted, 0.5)),
    p95Ms: Math.round(quantile(halted, 0.95)),
    maxMs: Math.round(halted.at(-1) ?? NaN),
    minMs: Math.round(halted[0] ?? NaN),
    runtimeS: Math.round((Date.now() - started) / 1000),
    node: process.version,
    at: new Date().toISOString(),
  };
  const md = [
    '# Halt latency (`npm run bench:halt`)',
    '',
    `Real Prometheus (scrape ${SCRAPE_MS / 1000} s), http-proxy injector, ${RATE} req/s, error-ratio guardrail (max 5%) evaluated every ${INTERVAL_MS / 1000} s, 50% injected errors.`,
    'Latency = proxy stopped injecting − fault began (both from the proxy\'s own events).',
    '',
    '| trials | halted | min | p50 | p95 | max | floor (scrape + eval) | goal p95 |',
    '|---|---|---|---|---|---|---|---|',
    `| ${summary.trials} | ${summary.halted} | ${summary.minMs} ms | ${summary.p50Ms} ms | ${summary.p95Ms} ms | ${summary.maxMs} ms | ${floor} ms | ≤ ${floor + 1_000} ms |`,
    '',
    `${summary.p95Ms <= floor + 1_000 && summary.halted === summary.trials ? 'Goal met.' : 'Goal NOT met.'} Runtime ${summary.runtimeS} s, ${summary.at}, Node ${summary.node}.`,
    '',
  ].join('\n');
  await mkdir('reports/bench', { recursive: true });
  await writeFile('reports/bench/halt.md', md);
  await writeFile('reports/bench/halt.json', `${JSON.stringify({ summary, results }, null, 2)}\n`);
  process.stdout.write(`\n${md}\nwritten to reports/bench/halt.md and halt.json\n`);
}

await main();
