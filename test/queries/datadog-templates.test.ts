/**
 * Every Datadog template, rendered through a spec with `source.kind: datadog`,
 * runs through the Datadog source against the Datadog-shaped contract server,
 * which evaluates the metric queries over a known traffic model (and the v2
 * formulas the source splits expressions into). The group tag values come
 * from the spec's `groups` mapping (ctl/exp), as Prometheus labels do.
 *
 * Model, requests per second per group (all tagged service:shop):
 *   ctl: POST /checkout 200 ×20 (40 ms), GET /browse 200 ×70 (40 ms), GET /browse 500 ×10 (40 ms)
 *   exp: POST /checkout 200 ×20 (400 ms), GET /browse 200 ×60 (40 ms), GET /browse 503 ×20 (40 ms)
 *   business counter shop.checkouts: ctl 20/s, exp 18/s
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NoDataError } from '../../src/lib/errors.ts';
import { datadogConfigSchema, DatadogSource } from '../../src/metric-sources/datadog.ts';
import { BUILTIN_QUERY_DIR, loadQueryLibrary } from '../../src/queries/library.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import type { Experiment } from '../../src/spec/schema.ts';
import { renderQuery } from '../../src/spec/template.ts';
import {
  parseMetricQuery,
  startDatadogServer,
  tagMatches,
  TEST_API_KEY,
  TEST_APP_KEY,
  type DataFn,
  type DatadogServer,
} from '../helpers/datadog-server.ts';

interface Stream {
  tags: Record<string, string>;
  rate: number;
  latency: number;
}

const STREAMS: Stream[] = [];
for (const [group, checkoutLatency, ok, failed, failCode] of [
  ['ctl', 0.04, 70, 10, '500'],
  ['exp', 0.4, 60, 20, '503'],
] as const) {
  const base = { group, service: 'shop' };
  STREAMS.push({ tags: { ...base, route: '/checkout', method: 'POST', code: '200' }, rate: 20, latency: checkoutLatency });
  STREAMS.push({ tags: { ...base, route: '/browse', method: 'GET', code: '200' }, rate: ok, latency: 0.04 });
  STREAMS.push({ tags: { ...base, route: '/browse', method: 'GET', code: failCode }, rate: failed, latency: 0.04 });
}
const CHECKOUTS: Record<string, number> = { ctl: 20, exp: 18 };

function matches(tags: Record<string, string>, q: ReturnType<typeof parseMetricQuery>, ignore: string[] = []): boolean {
  for (const [k, v] of Object.entries(q.tags)) {
    if (ignore.includes(k)) continue;
    if (tags[k] === undefined || !tagMatches(v, tags[k])) return false;
  }
  for (const [k, v] of Object.entries(q.excluded)) if (tags[k] !== undefined && tagMatches(v, tags[k])) return false;
  return true;
}

/** Datadog semantics, enough for the templates: sum / pNN aggregation, as_count / as_rate, fill(zero). */
const data: DataFn = (query, _t, intervalMs) => {
  const q = parseMetricQuery(query);
  const perBucket = q.methods.includes('as_count()') ? intervalMs / 1000 : 1;
  const filled = q.methods.includes('fill(zero)');
  if (q.metric === 'shop.checkouts') {
    const groups = Object.keys(CHECKOUTS).filter((g) => matches({ group: g }, q));
    return groups.length === 0 ? undefined : groups.reduce((n, g) => n + (CHECKOUTS[g] ?? 0), 0) * perBucket;
  }
  if (q.metric === 'shop.request.duration' && /^p\d/.test(q.agg)) {
    const streams = STREAMS.filter((s) => matches(s.tags, q));
    if (streams.length === 0) return undefined;
    const p = Number(q.agg.slice(1)) / 100;
    const sorted = [...streams].sort((a, b) => a.latency - b.latency);
    const total = sorted.reduce((n, s) => n + s.rate, 0);
    let seen = 0;
    for (const s of sorted) {
      seen += s.rate;
      if (seen / total >= p) return s.latency;
    }
    return sorted.at(-1)?.latency;
  }
  let streams: Stream[];
  if (q.metric === 'shop.requests' || q.metric === 'shop.request_duration_seconds.count') {
    streams = STREAMS.filter((s) => matches(s.tags, q));
  } else if (q.metric === 'shop.request_duration_seconds.bucket') {
    // Every bucket of a histogram is reported for each tag set, zero or not.
    const bound = Number(q.tags.upper_bound);
    const tagged = STREAMS.filter((s) => matches(s.tags, q, ['upper_bound']));
    if (tagged.length === 0) return undefined;
    return tagged.filter((s) => s.latency <= bound).reduce((n, s) => n + s.rate, 0) * perBucket;
  } else {
    return undefined;
  }
  if (streams.length === 0) return filled ? 0 : undefined;
  return streams.reduce((n, s) => n + s.rate, 0) * perBucket;
};

type Expect = number | 'no-data';
interface Case {
  name: string;
  template: string;
  vars: Record<string, string | number>;
  ctl: Expect;
  exp: Expect;
}

const REQ = { metric: 'shop.requests' };
const CASES: Case[] = [
  { name: 'sps', template: 'throughput', vars: { metric: 'shop.checkouts' }, ctl: 20, exp: 18 },
  { name: 'rps-checkout', template: 'throughput', vars: { ...REQ, service: 'shop', path: '/checkout', method: 'POST' }, ctl: 20, exp: 20 },
  { name: 'rps-other-service', template: 'throughput', vars: { ...REQ, service: 'billing' }, ctl: 'no-data', exp: 'no-data' },
  { name: 'availability', template: 'availability', vars: REQ, ctl: 0.9, exp: 0.8 },
  { name: 'availability-browse', template: 'availability', vars: { ...REQ, path: '/browse' }, ctl: 70 / 80, exp: 60 / 80 },
  { name: 'availability-checkout', template: 'availability', vars: { ...REQ, service: 'shop', path: '/checkout' }, ctl: 1, exp: 1 },
  { name: 'fast', template: 'latency-under-threshold', vars: { metric: 'shop.request_duration_seconds' }, ctl: 1, exp: 0.8 },
  { name: 'fast-checkout', template: 'latency-under-threshold', vars: { metric: 'shop.request_duration_seconds', path: '/checkout', threshold: 0.25 }, ctl: 1, exp: 0 },
  { name: 'p95', template: 'latency-percentile', vars: { metric: 'shop.request.duration' }, ctl: 0.04, exp: 0.4 },
  { name: 'p50-checkout', template: 'latency-percentile', vars: { metric: 'shop.request.duration', path: '/checkout', quantile: 0.5 }, ctl: 0.04, exp: 0.4 },
  { name: 'burn', template: 'error-budget-burn', vars: REQ, ctl: 100, exp: 200 },
  { name: 'burn-checkout', template: 'error-budget-burn', vars: { ...REQ, path: '/checkout', objective: 0.99 }, ctl: 0, exp: 0 },
];

void describe('query library: every Datadog template against the Datadog-shaped server', () => {
  let dd: DatadogServer;
  let experiment: Experiment;

  before(async () => {
    dd = await startDatadogServer({ data });
    const r = validateExperiment({
      apiVersion: 'steadystate.dev/v1alpha1',
      kind: 'Experiment',
      metadata: { name: 'templates-on-datadog' },
      spec: {
        source: { kind: 'datadog', url: dd.url, step: '10s' },
        groups: { control: 'ctl', experiment: 'exp' },
        steadyState: CASES.map((c) => ({ name: c.name, query: { template: c.template, vars: c.vars } })),
        fault: { injector: 'command', params: { open: ['node', '-e', ''], close: ['node', '-e', ''] }, duration: '10m' },
      },
    });
    assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
    experiment = r.experiment;
  });

  after(async () => {
    await dd?.stop();
  });

  void test('the cases cover every built-in template', () => {
    const names = [...loadQueryLibrary([BUILTIN_QUERY_DIR]).templates.keys()].sort();
    assert.deepEqual([...new Set(CASES.map((c) => c.template))].sort(), names);
  });

  for (const c of CASES) {
    void test(`${c.template} (${c.name}) → ctl ${c.ctl}, exp ${c.exp}`, async () => {
      // The source as the spec configured it, with the keys the server accepts.
      const source = new DatadogSource(datadogConfigSchema.parse(experiment.spec.source), {
        env: { DD_API_KEY: TEST_API_KEY, DD_APP_KEY: TEST_APP_KEY },
      });
      const metric = experiment.spec.steadyState.find((m) => m.name === c.name)!;
      for (const group of ['control', 'experiment'] as const) {
        const query = renderQuery(metric.query, { group: experiment.spec.groups[group] });
        assert.ok(query.includes(`group:${experiment.spec.groups[group]}`), query);
        const expected = group === 'control' ? c.ctl : c.exp;
        const end = new Date(Math.floor(Date.now() / 10_000) * 10_000);
        const range = { start: new Date(end.getTime() - 60_000), end, stepMs: 10_000 };
        if (expected === 'no-data') {
          await assert.rejects(source.queryRange(query, range), NoDataError);
          continue;
        }
        const result = await source.queryRange(query, range);
        assert.equal(result.series.length, 1);
        const values = result.series[0]!.samples.map((s) => s.v);
        assert.equal(values.length, 6);
        for (const v of values) assert.ok(Math.abs(v - expected) < 1e-9, `${group}: ${v} ≠ ${expected}\n${query}`);
      }
    });
  }
});
