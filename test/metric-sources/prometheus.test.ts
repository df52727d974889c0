/**
 * The Prometheus source against a real Prometheus (the installed binary),
 * scraping a prom-client target that this test serves on loopback. Counter
 * values are a function of scrape time (set in `collect`), so rates are known
 * exactly and do not depend on timer jitter in this process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Counter, Gauge, Registry } from 'prom-client';
import { NoDataError, SourceError } from '../../src/lib/errors.ts';
import { PrometheusSource, prometheusConfigSchema } from '../../src/metric-sources/prometheus.ts';
import type { QueryResult, TimeRange } from '../../src/metric-sources/types.ts';
import { freePort } from '../helpers/ports.ts';
import {
  PROMETHEUS_DEFAULT_PATH,
  startMetricsTarget,
  startPrometheus,
  type MetricsTarget,
  type RunningPrometheus,
} from '../helpers/prometheus.ts';
import { checkBinary } from '../helpers/skip.ts';

const prometheusBinary = checkBinary('prometheus', PROMETHEUS_DEFAULT_PATH);

/** Requests per second by group and status code. */
const RATES: Record<string, Record<string, number>> = {
  control: { '200': 8, '500': 2 },
  experiment: { '200': 9, '500': 3 },
};

function buildRegistry(): Registry {
  const registry = new Registry();
  const startedAt = Date.now();
  const current = new Map<string, number>();
  new Counter({
    name: 'demo_requests_total',
    help: 'Requests served, growing at a fixed rate per group and code.',
    labelNames: ['group', 'code'] as const,
    registers: [registry],
    collect() {
      const elapsedS = (Date.now() - startedAt) / 1000;
      for (const [group, codes] of Object.entries(RATES)) {
        for (const [code, rate] of Object.entries(codes)) {
          const key = `${group}/${code}`;
          const next = rate * elapsedS;
          this.inc({ group, code }, next - (current.get(key) ?? 0));
          current.set(key, next);
        }
      }
    },
  });
  // NaN and +Inf as the exposition format writes them; Prometheus stores and
  // returns them as "NaN" and "+Inf".
  const ratio = new Gauge({
    name: 'demo_ratio',
    help: 'A ratio that is NaN for control, finite for experiment, +Inf for infinite.',
    labelNames: ['group'] as const,
    registers: [registry],
  });
  ratio.set({ group: 'control' }, Number.NaN);
  ratio.set({ group: 'experiment' }, 0.25);
  ratio.set({ group: 'infinite' }, Number.POSITIVE_INFINITY);
  return registry;
}

function lastSeconds(seconds: number, stepMs = 1_000): TimeRange {
  const end = new Date();
  return { start: new Date(end.getTime() - seconds * 1_000), end, stepMs };
}

function byGroup(result: QueryResult): Map<string, QueryResult['series'][number]> {
  return new Map(result.series.map((s) => [s.labels.group ?? '', s]));
}

void describe('prometheus source against a real Prometheus', { skip: prometheusBinary.skip }, () => {
  let target: MetricsTarget;
  let prometheus: RunningPrometheus;
  let source: PrometheusSource;

  before(
    async () => {
      target = await startMetricsTarget(buildRegistry());
      prometheus = await startPrometheus({ targets: [target.target], scrapeInterval: '1s', binary: prometheusBinary.path! });
      source = new PrometheusSource(prometheusConfigSchema.parse({ kind: 'prometheus', url: prometheus.url, timeout: '5s' }));
      await prometheus.waitForTargetsUp(10_000);
      // Enough history for a 5 s range of 3 s rates: wait on the condition, not a clock.
      await prometheus.waitForSeries('count_over_time(demo_requests_total{group="control",code="200"}[1m]) >= 9', 20_000);
    },
    { timeout: 35_000 },
  );

  after(async () => {
    await prometheus?.stop();
    await target?.stop();
  });

  void test('a raw counter range has step-aligned timestamps and grows at the known rate', async () => {
    const range = lastSeconds(5);
    const result = await source.queryRange('demo_requests_total{group="control",code="200"}', range);
    assert.equal(result.series.length, 1);
    const [series] = result.series;
    assert.deepEqual(series!.labels, {
      __name__: 'demo_requests_total',
      code: '200',
      group: 'control',
      instance: target.target,
      job: 'steadystate-test',
    });
    assert.equal(series!.nonFinite, 0);
    assert.deepEqual(
      series!.samples.map((s) => s.t),
      [0, 1, 2, 3, 4, 5].map((k) => range.start.getTime() + k * 1_000),
    );
    const first = series!.samples[0]!;
    const last = series!.samples.at(-1)!;
    for (let i = 1; i < series!.samples.length; i += 1) {
      assert.ok(series!.samples[i]!.v >= series!.samples[i - 1]!.v, 'a counter never decreases');
    }
    const perSecond = (last.v - first.v) / ((last.t - first.t) / 1_000);
    assert.ok(Math.abs(perSecond - 8) < 8 * 0.25, `grew ${perSecond}/s, expected about 8/s`);
  });

  void test('rate() over a range is close to the configured rate at every step', async () => {
    const result = await source.queryRange('rate(demo_requests_total{group="experiment",code="500"}[3s])', lastSeconds(4));
    assert.equal(result.series.length, 1);
    const values = result.series[0]!.samples.map((s) => s.v);
    assert.equal(values.length, 5);
    for (const v of values) assert.ok(Math.abs(v - 3) < 0.45, `rate ${v}, expected 3 ± 15% (all: ${values.join(', ')})`);
    assert.deepEqual(result.warnings, []);
  });

  void test('sum by (group) gives one series per group with the summed rates', async () => {
    const result = await source.queryRange('sum by (group) (rate(demo_requests_total[3s]))', lastSeconds(3));
    const groups = byGroup(result);
    assert.deepEqual([...groups.keys()].sort(), ['control', 'experiment']);
    for (const [group, expected] of [
      ['control', 10],
      ['experiment', 12],
    ] as const) {
      const s = groups.get(group)!;
      assert.deepEqual(s.labels, { group });
      assert.equal(s.samples.length, 4);
      for (const { v } of s.samples) assert.ok(Math.abs(v - expected) < expected * 0.15, `${group}: ${v} vs ${expected}`);
    }
  });

  void test('NaN and +Inf points are dropped and counted, never turned into numbers', async () => {
    const result = await source.queryRange('demo_ratio', lastSeconds(3));
    const groups = byGroup(result);
    assert.deepEqual([...groups.keys()].sort(), ['control', 'experiment', 'infinite']);
    assert.deepEqual(groups.get('control')!.samples, []);
    assert.equal(groups.get('control')!.nonFinite, 4);
    assert.deepEqual(groups.get('infinite')!.samples, []);
    assert.equal(groups.get('infinite')!.nonFinite, 4);
    const experiment = groups.get('experiment')!;
    assert.equal(experiment.nonFinite, 0);
    assert.deepEqual(
      experiment.samples.map((s) => s.v),
      [0.25, 0.25, 0.25, 0.25],
    );
  });

  void test('a query answering only NaN is no data, not zeros', async () => {
    await assert.rejects(source.queryRange('0/0', lastSeconds(3)), (err: unknown) => {
      assert.ok(err instanceof NoDataError, String(err));
      assert.equal(err.query, '0/0');
      assert.match(err.message, /all 4 points were NaN or ±Inf/);
      return true;
    });
    await assert.rejects(source.queryRange('demo_ratio{group="control"}', lastSeconds(2)), NoDataError);
  });

  void test('a selector that matches nothing is no data', async () => {
    await assert.rejects(source.queryRange('demo_requests_total{group="nobody"}', lastSeconds(3)), (err: unknown) => {
      assert.ok(err instanceof NoDataError, String(err));
      assert.match(err.message, /no series/);
      return true;
    });
    // Dividing by an absent rate is also empty, not NaN and not zero.
    await assert.rejects(
      source.queryRange('sum(rate(demo_requests_total[3s])) / sum(rate(demo_absent_total[3s]))', lastSeconds(3)),
      NoDataError,
    );
  });

  void test('a syntactically bad query is a non-retryable prometheus_bad_data error', async () => {
    await assert.rejects(source.queryRange('sum(rate(demo_requests_total[3s])', lastSeconds(3)), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.equal(err.code, 'prometheus_bad_data');
      assert.equal(err.retryable, false);
      assert.ok(err.message.includes(prometheus.url), err.message);
      assert.ok(err.message.includes('sum(rate(demo_requests_total[3s])'), err.message);
      assert.match(err.message, /parse error/);
      return true;
    });
  });

  void test('an execution error (many-to-many match) is a non-retryable prometheus_execution error', async () => {
    await assert.rejects(
      source.queryRange('demo_requests_total + on(group) demo_requests_total', lastSeconds(2)),
      (err: unknown) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.equal(err.code, 'prometheus_execution');
        assert.equal(err.retryable, false);
        assert.match(err.message, /many-to-many/);
        return true;
      },
    );
  });

  void test('the 11,000-point guard matches what Prometheus itself accepts', async () => {
    const end = new Date();
    // Exactly 11,000 intervals: Prometheus accepts it, so must we.
    const atLimit = await source.queryRange('demo_requests_total{group="control",code="200"}', {
      start: new Date(end.getTime() - 11_000 * 1_000),
      end,
      stepMs: 1_000,
    });
    assert.equal(atLimit.series.length, 1);
    await assert.rejects(
      source.queryRange('demo_requests_total', { start: new Date(end.getTime() - 11_001 * 1_000), end, stepMs: 1_000 }),
      (err: unknown) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.equal(err.code, 'too_many_points');
        assert.equal(err.retryable, false);
        return true;
      },
    );
  });

  void test('check() passes against a real Prometheus', async () => {
    await source.check();
  });

  void test('check() against a closed port says it is not reachable', async () => {
    const port = await freePort();
    const closed = new PrometheusSource(prometheusConfigSchema.parse({ kind: 'prometheus', url: `http://127.0.0.1:${port}` }));
    await assert.rejects(closed.check(), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.equal(err.code, 'prometheus_unreachable');
      assert.equal(err.retryable, true);
      assert.match(err.message, new RegExp(`http://127\\.0\\.0\\.1:${port}: check: not reachable \\(.*ECONNREFUSED`));
      return true;
    });
  });
});
