/**
 * Differential test: one prom-client target, scraped every second both by a
 * real Prometheus (the installed binary) and by the scrape source; the same
 * range queries through both; the answers must agree.
 *
 * The target exposes the demo's metric names (the sample shop's
 * `shop_checkouts_total` / `shop_requests_total`, and the fault proxy's own
 * `steadystate_proxy_*` from createProxyMetrics) with values that are a
 * function of scrape time: counters grow at known piecewise-constant rates
 * (they change part-way through, so windows straddling the change are
 * compared too) and histograms get observations from a fixed cycle of
 * latencies. Both scrapers therefore see the same functions, sampled at
 * different instants.
 *
 * Tolerance. The two scrape at different phases within each second
 * (Prometheus picks a per-target offset; this source scrapes half a step past
 * each second), so their 5 s windows hold samples taken up to 1 s apart:
 *   - on a constant rate, extrapolation makes the phase irrelevant up to count
 *     quantisation and Prometheus's own jitter at window edges (measured
 *     ≤ 1.6%): every point whose window lies wholly before or after the rate
 *     change must be within 5%;
 *   - a window straddling the change sees it at a point up to 1 s apart on the
 *     two sides, which moves a 5 s rate by up to Δrate × 1 s / 5 s: for the
 *     2 → 11 /s series that is 1.8 /s on ~4 /s, so those points are held to
 *     60% (measured up to ~23%, on a median of a shifting mix);
 *   - per query, the median relative difference must be ≤ 5% (measured ≤ 0.5%);
 *   - the same series (label sets), answered at the same steps (at most 20% of
 *     the steps, or one, answered by one side only: a filter may flip a step apart);
 *   - points where Prometheus says exactly 0 (the `or vector(0)` path) are 0 here too.
 * A final phase stops the target and checks both say "no data" (staleness)
 * rather than the last values.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Counter, Gauge, Registry } from 'prom-client';
import { NoDataError } from '../../src/lib/errors.ts';
import { PrometheusSource, prometheusConfigSchema } from '../../src/metric-sources/prometheus.ts';
import { ScrapeSource, scrapeConfigSchema } from '../../src/metric-sources/scrape/scrape-source.ts';
import type { QueryResult, TimeRange } from '../../src/metric-sources/types.ts';
import { createProxyMetrics } from '../../src/proxy/proxy-metrics.ts';
import { PROMETHEUS_DEFAULT_PATH, startMetricsTarget, startPrometheus, type MetricsTarget, type RunningPrometheus } from '../helpers/prometheus.ts';
import { checkBinary } from '../helpers/skip.ts';

const prometheusBinary = checkBinary('prometheus', PROMETHEUS_DEFAULT_PATH);
const JOB = 'steadystate-diff';
/** Seconds after the target started at which every rate changes; set once both scrapers are up. */
let changeAtS = Number.POSITIVE_INFINITY;

/** Events per second before and after the change. */
interface Stream {
  before: number;
  after: number;
}
function countAt(s: Stream, elapsedS: number): number {
  return elapsedS <= changeAtS ? s.before * elapsedS : s.before * changeAtS + s.after * (elapsedS - changeAtS);
}

const CHECKOUTS: Record<string, Stream> = { control: { before: 20, after: 20 }, experiment: { before: 18, after: 9 } };
const SHOP_REQUESTS: { labels: { group: string; route: string; code: string }; rate: Stream }[] = [
  { labels: { group: 'control', route: '/checkout', code: '200' }, rate: { before: 20, after: 20 } },
  { labels: { group: 'control', route: '/browse', code: '200' }, rate: { before: 30, after: 30 } },
  { labels: { group: 'experiment', route: '/checkout', code: '200' }, rate: { before: 18, after: 9 } },
  { labels: { group: 'experiment', route: '/checkout', code: '500' }, rate: { before: 2, after: 11 } },
  { labels: { group: 'experiment', route: '/browse', code: '200' }, rate: { before: 30, after: 30 } },
];
/** Proxy requests, observed with latencies from a fixed cycle. */
const PROXY: { group: 'control' | 'experiment'; code: string; rate: Stream; latencies: number[] }[] = [
  // Rates high enough that ±1 observation per window moves a quantile by well under 1%.
  { group: 'control', code: '200', rate: { before: 200, after: 200 }, latencies: [0.002, 0.003, 0.004, 0.008, 0.02, 0.03, 0.04, 0.06, 0.08, 0.2] },
  { group: 'experiment', code: '200', rate: { before: 160, after: 120 }, latencies: [0.004, 0.02, 0.04, 0.06, 0.15, 0.25, 0.35, 0.45, 0.7, 2] },
  { group: 'experiment', code: '500', rate: { before: 20, after: 80 }, latencies: [0.001, 0.002] },
];

function buildTarget(startedAt: number): Registry {
  const shop = new Registry();
  const proxy = createProxyMetrics();
  const emitted = new Map<string, number>();
  // Registered first, so its collect() brings every other metric up to "now" before
  // prom-client reads them (it reads metrics in registration order).
  new Gauge({
    name: 'difftest_elapsed_seconds',
    help: 'Seconds since the target started; its collect drives the other metrics.',
    registers: [shop],
    collect() {
      const elapsedS = (Date.now() - startedAt) / 1000;
      this.set(elapsedS);
      for (const [group, stream] of Object.entries(CHECKOUTS)) {
        const key = `checkouts/${group}`;
        const next = countAt(stream, elapsedS);
        checkouts.inc({ group }, next - (emitted.get(key) ?? 0));
        emitted.set(key, next);
      }
      for (const r of SHOP_REQUESTS) {
        const key = `requests/${JSON.stringify(r.labels)}`;
        const next = countAt(r.rate, elapsedS);
        requests.inc(r.labels, next - (emitted.get(key) ?? 0));
        emitted.set(key, next);
      }
      for (const p of PROXY) {
        const key = `proxy/${p.group}/${p.code}`;
        let n = emitted.get(key) ?? 0;
        const target = Math.floor(countAt(p.rate, elapsedS));
        for (; n < target; n++) proxy.observeRequest(p.group, 'GET', p.code, p.latencies[n % p.latencies.length] as number);
        emitted.set(key, n);
      }
    },
  });
  const checkouts = new Counter({ name: 'shop_checkouts_total', help: 'Checkouts.', labelNames: ['group'], registers: [shop] });
  const requests = new Counter({ name: 'shop_requests_total', help: 'Requests.', labelNames: ['group', 'route', 'code'], registers: [shop] });
  return Registry.merge([shop, proxy.registry]);
}

const QUERIES = [
  'sum(rate(shop_checkouts_total{group="control"}[5s]))',
  'sum by (group) (rate(shop_checkouts_total[5s]))',
  'sum(increase(shop_checkouts_total{group="experiment"}[5s]))',
  'rate(shop_requests_total{route="/checkout"}[5s])',
  'sum(rate(shop_requests_total{group="experiment",code=~"5.."}[5s])) / sum(rate(shop_requests_total{group="experiment"}[5s]))',
  '(sum(rate(steadystate_proxy_requests_total{group="control",code=~"5.."}[5s])) or vector(0)) / sum(rate(steadystate_proxy_requests_total{group="control"}[5s]))',
  '(sum(rate(steadystate_proxy_requests_total{group="experiment",code=~"5.."}[5s])) or vector(0)) / sum(rate(steadystate_proxy_requests_total{group="experiment"}[5s]))',
  'histogram_quantile(0.95, sum by (le) (rate(steadystate_proxy_request_duration_seconds_bucket{group="experiment"}[5s])))',
  'histogram_quantile(0.5, sum by (le, group) (rate(steadystate_proxy_request_duration_seconds_bucket[5s])))',
  'sum(rate(steadystate_proxy_request_duration_seconds_bucket{group="control",le="0.05"}[5s])) / sum(rate(steadystate_proxy_request_duration_seconds_count{group="control"}[5s]))',
  'avg by (group) (rate(shop_requests_total[5s]))',
  'max without (route, code) (rate(shop_requests_total[5s]))',
  'count(shop_requests_total)',
  'sum by (group) (rate(shop_checkouts_total[5s])) > 15',
  'sum(rate(shop_checkouts_total{group="control"}[5s])) - 0.5 * sum(rate(shop_checkouts_total{group="experiment"}[5s]))',
  'sum(up)',
];

interface Agreement {
  query: string;
  points: number;
  median: number;
  /** Largest difference where the 5 s window lies wholly before or after the rate change. */
  maxSteady: number;
  /** Largest difference where the window straddles the change. */
  maxChange: number;
}

/** Every query uses 5 s windows; a scrape phase differs by < 1 s between the two. */
const WINDOW_MS = 5_000;
const PHASE_MS = 1_000;
const MAX_MEDIAN = 0.05;
const MAX_STEADY = 0.05;
const MAX_CHANGE = 0.6;

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

function relDiff(a: number, b: number): number {
  if (a === b) return 0;
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

describe('scrape source vs a real Prometheus on the same target', { skip: prometheusBinary.skip, timeout: 90_000 }, () => {
  let target: MetricsTarget;
  let prom: RunningPrometheus;
  let promSource: PrometheusSource;
  let scrape: ScrapeSource;
  let startedAt: number;
  let upAt: number;

  before(async () => {
    startedAt = Date.now();
    target = await startMetricsTarget(buildTarget(startedAt));
    scrape = new ScrapeSource(scrapeConfigSchema.parse({ kind: 'scrape', targets: [`${target.url}/metrics`], step: '1s', job: JOB }));
    prom = await startPrometheus({ targets: [target.target], scrapeInterval: '1s', jobName: JOB, binary: prometheusBinary.path });
    promSource = new PrometheusSource(prometheusConfigSchema.parse({ kind: 'prometheus', url: prom.url, step: '1s' }));
    await Promise.all([prom.waitForTargetsUp(20_000), scrape.check()]);
    upAt = Date.now();
    // The rates change once both have history, inside the range compared below.
    changeAtS = (upAt - startedAt) / 1000 + 9;
  });

  after(async () => {
    await scrape?.close();
    await prom?.stop();
    await target?.stop();
  });

  test('the same queries give the same answers', async () => {
    // From 6 s after both are up (5 s windows full on both sides) to 9 s after the
    // rate change, 1.5 s in the past so both have scraped past the end.
    const changeAt = startedAt + changeAtS * 1000;
    await delay(changeAt + 10_500 - Date.now());
    const start = Math.ceil((upAt + 6_000) / 1000) * 1000;
    const end = Math.floor((Date.now() - 1_500) / 1000) * 1000;
    const range: TimeRange = { start: new Date(start), end: new Date(end), stepMs: 1000 };
    const steps = (end - start) / 1000 + 1;
    assert.ok(start < changeAt - 1_000 && end > changeAt + 6_000, 'the compared range straddles the rate change');

    const results: Agreement[] = [];
    const failures: string[] = [];
    for (const query of QUERIES) {
      const [p, s] = await Promise.all([promSource.queryRange(query, range), scrape.queryRange(query, range)]);
      const key = (r: QueryResult) => new Map(r.series.map((x) => [JSON.stringify(Object.entries(x.labels).sort()), x]));
      const pm = key(p);
      const sm = key(s);
      assert.deepEqual([...sm.keys()].sort(), [...pm.keys()].sort(), `${query}: series differ`);
      const diffs: number[] = [];
      let maxSteady = 0;
      let maxChange = 0;
      const straddles = (t: number) => t > changeAt - PHASE_MS && t - WINDOW_MS - PHASE_MS < changeAt;
      for (const [k, ps] of pm) {
        const ss = sm.get(k);
        assert.ok(ss);
        const byT = new Map(ss.samples.map((x) => [x.t, x.v]));
        let both = 0;
        for (const { t, v } of ps.samples) {
          const mine = byT.get(t);
          if (mine === undefined) continue;
          both += 1;
          byT.delete(t);
          if (v === 0) assert.equal(mine, 0, `${query} at ${t}: Prometheus says exactly 0, scrape says ${mine}`);
          const d = relDiff(v, mine);
          diffs.push(d);
          if (straddles(t)) maxChange = Math.max(maxChange, d);
          else maxSteady = Math.max(maxSteady, d);
        }
        // Steps answered by one side only (a filter flipping a step earlier, a window's edge).
        const onlyOne = ps.samples.length - both + byT.size;
        assert.ok(
          onlyOne <= Math.max(1, 0.2 * steps),
          `${query} ${k}: ${onlyOne} of ${steps} steps answered by one side only (prometheus ${ps.samples.length}, scrape ${ss.samples.length}, both ${both})`,
        );
      }
      diffs.sort((a, b) => a - b);
      const median = diffs[Math.floor(diffs.length / 2)] ?? 0;
      results.push({ query, points: diffs.length, median, maxSteady, maxChange });
      if (median > MAX_MEDIAN) failures.push(`${query}: median relative difference ${median}`);
      if (maxSteady > MAX_STEADY) failures.push(`${query}: a point away from the rate change differs by ${maxSteady}`);
      if (maxChange > MAX_CHANGE) failures.push(`${query}: a point near the rate change differs by ${maxChange}`);
    }
    console.log(
      `differential (${steps} steps, ${new Date(start).toISOString()} … ${new Date(end).toISOString()}):\n` +
        results
          .map(
            (r) =>
              `  median ${pct(r.median)}  max steady ${pct(r.maxSteady)}  max at change ${pct(r.maxChange)}  n=${r.points}  ${r.query}`,
          )
          .join('\n'),
    );
    assert.deepEqual(failures, []);
  });

  test('a dead target is "no data" on both, not its last values', async () => {
    await target.stop();
    // Both mark every series of the target stale on their first failed scrape, in the
    // same write as up = 0 (the round in flight at stop may still have succeeded).
    await scrape.scraper.nextRound();
    await scrape.scraper.nextRound();
    assert.equal(scrape.health()[0]?.up, false);
    await prom.waitForSeries('up == 0', 10_000);
    const t = new Date();
    const range = { start: t, end: t, stepMs: 1000 };
    for (const query of ['shop_checkouts_total', 'sum(shop_requests_total)']) {
      await assert.rejects(promSource.queryRange(query, range), NoDataError, `prometheus: ${query}`);
      await assert.rejects(scrape.queryRange(query, range), NoDataError, `scrape: ${query}`);
    }
    const [p, s] = await Promise.all([promSource.queryRange('up', range), scrape.queryRange('up', range)]);
    assert.equal(p.series[0]?.samples[0]?.v, 0);
    assert.equal(s.series[0]?.samples[0]?.v, 0);
    assert.deepEqual(s.series[0]?.labels, p.series[0]?.labels);
  });
});
