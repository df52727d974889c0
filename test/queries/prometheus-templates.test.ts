/**
 * Every Prometheus template, rendered through a spec, runs against a real
 * Prometheus and returns the numbers the traffic implies. Prometheus scrapes
 * the metrics the project really emits: the fault proxy's own registry
 * (`createProxyMetrics`, fed here with a fixed mix per group) and the sample
 * shop (real HTTP requests, grouped by the `x-steadystate-group` header).
 *
 * Traffic per 100 ms tick, per group:
 *   proxy control:    9 × GET 200 (40 ms), 1 × POST 503 (40 ms)
 *   proxy experiment: 4 × GET 200 (40 ms), 4 × GET 200 (400 ms), 1 × POST 503, 1 × POST aborted (400 ms)
 *   shop, both:       2 × POST /checkout, 1 × GET /browse, 1 × GET /missing (404)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startSampleShop, type SampleShop } from '../../src/demo/sample-shop.ts';
import { createMetricSource } from '../../src/metric-sources/registry.ts';
import type { MetricSource } from '../../src/metric-sources/types.ts';
import { createProxyMetrics } from '../../src/proxy/proxy-metrics.ts';
import { BUILTIN_QUERY_DIR, loadQueryLibrary } from '../../src/queries/library.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import { renderQuery } from '../../src/spec/template.ts';
import { PROMETHEUS_DEFAULT_PATH, startMetricsTarget, startPrometheus, type MetricsTarget, type RunningPrometheus } from '../helpers/prometheus.ts';
import { checkBinary } from '../helpers/skip.ts';

const prometheusBinary = checkBinary('prometheus', PROMETHEUS_DEFAULT_PATH);

type Expect = (v: number) => boolean;
interface Case {
  name: string;
  template: string;
  vars: Record<string, string | number>;
  control: Expect;
  experiment: Expect;
  what: string;
}

const near = (x: number, tol: number): Expect => (v) => Math.abs(v - x) <= tol;
const between = (lo: number, hi: number): Expect => (v) => v > lo && v <= hi;
const W = { window: '5s' };

const CASES: Case[] = [
  { name: 'sps-checkouts', template: 'throughput', vars: { ...W, metric: 'shop_checkouts_total' }, control: between(5, 40), experiment: between(5, 40), what: '≈ 20 checkouts/s' },
  { name: 'rps-checkout-route', template: 'throughput', vars: { ...W, metric: 'shop_requests_total', path: '/checkout' }, control: between(5, 40), experiment: between(5, 40), what: '≈ 20 req/s' },
  { name: 'rps-proxy', template: 'throughput', vars: { ...W, metric: 'steadystate_proxy_requests_total', service: 'steadystate-test' }, control: between(50, 200), experiment: between(50, 200), what: '≈ 100 req/s' },
  { name: 'availability-proxy', template: 'availability', vars: W, control: near(0.9, 0.02), experiment: near(0.8, 0.02), what: '0.9 / 0.8' },
  { name: 'availability-proxy-get', template: 'availability', vars: { ...W, method: 'GET' }, control: near(1, 1e-9), experiment: near(1, 1e-9), what: '1 / 1' },
  // Only failures on POST: 0% available, not "no data".
  { name: 'availability-proxy-post', template: 'availability', vars: { ...W, method: 'POST' }, control: near(0, 1e-9), experiment: near(0, 1e-9), what: '0 / 0' },
  { name: 'availability-shop-checkout', template: 'availability', vars: { ...W, metric: 'shop_requests_total', path: '/checkout' }, control: near(1, 1e-9), experiment: near(1, 1e-9), what: '1 / 1' },
  { name: 'fast-proxy', template: 'latency-under-threshold', vars: W, control: near(1, 0.02), experiment: near(0.5, 0.02), what: '1 / 0.5 under 300 ms' },
  { name: 'fast-shop-checkout', template: 'latency-under-threshold', vars: { ...W, metric: 'shop_request_duration_seconds', path: '/checkout', threshold: 0.25 }, control: near(1, 1e-9), experiment: near(1, 1e-9), what: '1 / 1 under 250 ms' },
  { name: 'p95-proxy', template: 'latency-percentile', vars: W, control: between(0.025, 0.05), experiment: between(0.3, 0.5), what: 'p95 in (25, 50] ms / (300, 500] ms' },
  // The proxy's route label: only /checkout's requests (all fast), only /api/*'s (slow in experiment), both.
  { name: 'p95-proxy-checkout', template: 'latency-percentile', vars: { ...W, path: '/checkout' }, control: between(0.025, 0.05), experiment: between(0.025, 0.05), what: 'p95 in (25, 50] ms for both: the slow /api/* requests are not counted' },
  { name: 'p95-proxy-api-glob', template: 'latency-percentile', vars: { ...W, path: '/api/*' }, control: between(0.025, 0.05), experiment: between(0.3, 0.5), what: 'p95 (25, 50] ms / (300, 500] ms' },
  { name: 'availability-proxy-routes', template: 'availability', vars: { ...W, path: '/checkout|/api/*' }, control: near(1, 1e-9), experiment: near(1, 1e-9), what: '1 / 1: the failures are on other paths' },
  { name: 'p50-shop-browse', template: 'latency-percentile', vars: { ...W, metric: 'shop_request_duration_seconds', path: '/browse', quantile: 0.5 }, control: between(0, 0.25), experiment: between(0, 0.25), what: 'p50 under 250 ms' },
  { name: 'burn-proxy', template: 'error-budget-burn', vars: W, control: near(100, 3), experiment: near(200, 3), what: '10% / 20% errors at 99.9% → 100 / 200' },
  { name: 'burn-shop-checkout', template: 'error-budget-burn', vars: { ...W, metric: 'shop_requests_total', path: '/checkout', objective: 0.99 }, control: near(0, 1e-9), experiment: near(0, 1e-9), what: 'no errors → 0, not no data' },
];

void describe('query library: every Prometheus template against a real Prometheus', { skip: prometheusBinary.skip, timeout: 90_000 }, () => {
  let shop: SampleShop;
  let target: MetricsTarget;
  let prom: RunningPrometheus;
  let source: MetricSource;
  let queries: Map<string, string>;
  let timer: NodeJS.Timeout | undefined;
  const inflight = new Set<Promise<unknown>>();

  before(
    async () => {
      shop = await startSampleShop();
      const metrics = createProxyMetrics({ routes: ['/checkout', '/api/*'] });
      target = await startMetricsTarget(metrics.registry);
      const tick = (): void => {
        // Routes as the proxy's --route /checkout --route '/api/*' labels them; the rest is `other`.
        for (let i = 0; i < 8; i += 1) metrics.observeRequest('control', 'GET', '200', 0.04, '/checkout');
        metrics.observeRequest('control', 'GET', '200', 0.04, '/api/*');
        metrics.observeRequest('control', 'POST', '503', 0.04);
        for (let i = 0; i < 4; i += 1) metrics.observeRequest('experiment', 'GET', '200', 0.04, '/checkout');
        for (let i = 0; i < 4; i += 1) metrics.observeRequest('experiment', 'GET', '200', 0.4, '/api/*');
        metrics.observeRequest('experiment', 'POST', '503', 0.04);
        metrics.observeRequest('experiment', 'POST', 'aborted', 0.4);
        for (const group of ['control', 'experiment']) {
          for (const [method, path] of [['POST', '/checkout'], ['POST', '/checkout'], ['GET', '/browse'], ['GET', '/missing']] as const) {
            const p = fetch(`${shop.url}${path}`, { method, headers: { 'x-steadystate-group': group } })
              .then((r) => r.arrayBuffer())
              .catch(() => undefined);
            inflight.add(p);
            void p.finally(() => inflight.delete(p));
          }
        }
      };
      tick();
      timer = setInterval(tick, 100);
      prom = await startPrometheus({ targets: [target.target, new URL(shop.url).host], scrapeInterval: '1s', binary: prometheusBinary.path! });
      await prom.waitForTargetsUp(15_000);
      await prom.waitForSeries('count_over_time(steadystate_proxy_requests_total{group="experiment",code="aborted"}[10s]) >= 8', 30_000);
      await prom.waitForSeries('count_over_time(shop_requests_total{group="experiment",route="/browse"}[10s]) >= 8', 30_000);

      const r = validateExperiment({
        apiVersion: 'steadystate.dev/v1alpha1',
        kind: 'Experiment',
        metadata: { name: 'templates-on-prometheus' },
        spec: {
          source: { kind: 'prometheus', url: prom.url, step: '1s', timeout: '5s' },
          steadyState: CASES.map((c) => ({ name: c.name, query: { template: c.template, vars: c.vars } })),
          fault: { injector: 'command', params: { open: ['node', '-e', ''], close: ['node', '-e', ''] }, duration: '1m' },
          analysis: { minSamples: 10 },
        },
      });
      assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
      queries = new Map(r.experiment.spec.steadyState.map((m) => [m.name, m.query]));
      source = createMetricSource(r.experiment.spec.source);
    },
    { timeout: 60_000 },
  );

  after(async () => {
    if (timer) clearInterval(timer);
    await Promise.all(inflight);
    await prom?.stop();
    await target?.stop();
    await shop?.close();
  });

  void test('the cases cover every built-in template', () => {
    const names = [...loadQueryLibrary([BUILTIN_QUERY_DIR]).templates.keys()].sort();
    assert.deepEqual([...new Set(CASES.map((c) => c.template))].sort(), names);
  });

  for (const c of CASES) {
    void test(`${c.template} (${c.name}): ${c.what}`, async () => {
      const template = queries.get(c.name)!;
      for (const group of ['control', 'experiment'] as const) {
        const query = renderQuery(template, { group });
        const end = new Date();
        const result = await source.queryRange(query, { start: new Date(end.getTime() - 4_000), end, stepMs: 1_000 });
        assert.equal(result.series.length, 1, `${query}: ${JSON.stringify(result.series.map((s) => s.labels))}`);
        const values = result.series[0]!.samples.map((s) => s.v);
        assert.ok(values.length >= 4, `${query}: only ${values.length} points`);
        const check = group === 'control' ? c.control : c.experiment;
        for (const v of values) assert.ok(check(v), `${group}: ${v} is not ${c.what}\n${query}\nall: ${values.join(', ')}`);
      }
    });
  }
});
