/**
 * One query for both groups (src/queries/group-split.ts). The rewrite is a claim: each group's series
 * in the grouped answer are the series its own query gives. Shown two ways —
 *   by the text: what is rewritten to what, and every form where the rewrite would not be sound
 *   falls back with its reason;
 *   against a real Prometheus (1 s scrapes of counters and a histogram for two groups plus a third
 *   group that must not leak in): per-group answers and the split grouped answer are equal point for
 *   point, for a rate sum, a ratio of rates, a histogram quantile, a subquery and a `group-` prefixed
 *   label value.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { createMetricSource } from '../../src/metric-sources/registry.ts';
import { groupedQuery } from '../../src/queries/group-split.ts';
import { checkBinary } from '../helpers/skip.ts';
import { startMetricsTarget, startPrometheus, type MetricsTarget, type RunningPrometheus } from '../helpers/prometheus.ts';

const GROUPS = { control: 'control', experiment: 'experiment' };
const split = (template: string, groups = GROUPS) => groupedQuery((v) => template.replaceAll('$group', v), groups);

describe('grouped query: the rewrite', () => {
  it('adds the label to every aggregation and on(), and selects both values', () => {
    const cases: [string, string][] = [
      ['sum(rate(x{group="$group"}[15s]))', 'sum by (group) (rate(x{group=~"control|experiment"}[15s]))'],
      [
        'histogram_quantile(0.95, sum by (le) (rate(h_bucket{group="$group"}[3s])))',
        'histogram_quantile(0.95, sum by (le, group) (rate(h_bucket{group=~"control|experiment"}[3s])))',
      ],
      ['sum(rate(x{group="$group"}[5s])) by (le)', 'sum(rate(x{group=~"control|experiment"}[5s])) by (le, group)'],
      [
        'sum(rate(a{g="$group",code=~"5.."}[5s])) / on() sum(rate(a{g="$group"}[5s]))',
        'sum by (g) (rate(a{g=~"control|experiment",code=~"5.."}[5s])) / on(g) sum by (g) (rate(a{g=~"control|experiment"}[5s]))',
      ],
      ['sum without (instance) (x{group="$group"})', 'sum without (instance) (x{group=~"control|experiment"})'],
      ['max_over_time(sum(rate(x{group="$group"}[5s]))[30s:1s])', 'max_over_time(sum by (group) (rate(x{group=~"control|experiment"}[5s]))[30s:1s])'],
    ];
    for (const [from, to] of cases) {
      const r = split(from);
      assert.ok(r.ok, `${from}: ${!r.ok && r.reason}`);
      assert.equal(r.grouped.query, to);
      assert.equal(r.grouped.label, from.includes('g="') ? 'g' : 'group');
    }
  });

  it('escapes the values as regex and string: a value is matched literally', () => {
    const r = split('sum(x{deployment="shop-$group"})', { control: 'a.b', experiment: 'c"d\\e' });
    assert.ok(r.ok);
    assert.deepEqual(r.grouped.values, { control: 'shop-a.b', experiment: 'shop-c"d\\e' });
    assert.equal(r.grouped.query, String.raw`sum by (deployment) (x{deployment=~"shop-a\\.b|shop-c\"d\\\\e"})`);
  });

  it('falls back, saying why, wherever the groups could mix or a label could be lost', () => {
    const cases: [string, RegExp][] = [
      ['(sum(rate(r{group="$group",code=~"5.."}[5s])) or vector(0)) / sum(rate(r{group="$group"}[5s]))', /vector\(\) makes or rewrites labels/],
      ['sum(rate(a{group="$group"}[5s])) / sum(rate(b[5s]))', /selector b does not select by \$group/],
      ['sum without (group) (a{group="$group"})', /without \(group\) drops/],
      ['sum(a{group="$group"}) / ignoring(group) sum(b{group="$group"})', /ignoring \(group\) drops/],
      ['sum(a{group="$group"}) * on(x) group_left sum by (x) (b{group="$group"})', /group_left/],
      ['topk(1, a{group="$group"})', /topk picks series across/],
      ['label_replace(a{group="$group"}, "g", "$1", "group", "(.*)")', /label_replace\(\) makes/],
      ['sum(a{group=~"$group"})', /matched with =~/],
      ['sum(a{group="$group"}) / sum(b{team="$group"})', /more than one label/],
      ['sum(a{group="x"})', /does not use \$group/],
      ['sum($group_total{group="$group"})', /outside a label matcher|does not parse/],
      ['sum(a{group="$group"}', /does not parse/],
    ];
    for (const [query, why] of cases) {
      const r = split(query);
      assert.equal(r.ok, false, query);
      assert.match(!r.ok ? r.reason : '', why, query);
    }
    assert.equal(split('sum(a{group="$group"})', { control: 'same', experiment: 'same' }).ok, false);
  });
});

const prometheus = checkBinary('prometheus', '/usr/bin/prometheus');

describe('grouped query: the same series as one query per group, on a real Prometheus', { skip: prometheus.skip, timeout: 120_000 }, () => {
  let prom: RunningPrometheus;
  let target: MetricsTarget;
  let timer: NodeJS.Timeout;

  before(async () => {
    const registry = new Registry();
    const requests = new Counter({ name: 'shop_requests_total', help: 'requests', labelNames: ['group', 'code'], registers: [registry] });
    const latency = new Histogram({ name: 'shop_latency_seconds', help: 'latency', labelNames: ['group'], buckets: [0.05, 0.1, 0.25, 0.5, 1], registers: [registry] });
    const deploys = new Counter({ name: 'deploy_checkouts_total', help: 'checkouts', labelNames: ['deployment'], registers: [registry] });
    // Deterministic, different per group, and a third group the grouped query must not take in.
    let tick = 0;
    const produce = (): void => {
      tick += 1;
      for (const [group, n, slow] of [['control', 50, 0.08], ['experiment', 35, 0.4], ['canary', 500, 0.9]] as const) {
        requests.inc({ group, code: '200' }, n + (tick % 7));
        requests.inc({ group, code: '500' }, 1 + (tick % 3));
        for (let i = 0; i < 20; i++) latency.observe({ group }, slow * (0.5 + ((i * 7 + tick) % 10) / 10));
        deploys.inc({ deployment: `shop-${group}` }, n);
      }
    };
    produce();
    timer = setInterval(produce, 200);
    target = await startMetricsTarget(registry);
    prom = await startPrometheus({ targets: [target.target], scrapeInterval: '1s', binary: prometheus.path });
    await prom.waitForTargetsUp(20_000);
    await prom.waitForSeries('count_over_time(shop_requests_total{group="experiment",code="200"}[20s]) >= 10', 40_000);
  });

  after(async () => {
    clearInterval(timer);
    await prom?.stop();
    await target?.stop();
  });

  it('splits into exactly the per-group answers, point for point', async () => {
    const source = createMetricSource({ kind: 'prometheus', url: prom.url, step: 1_000, timeout: 10_000 } as never);
    assert.equal(source.groupsByLabel, true);
    const end = Math.floor(Date.now() / 1000) * 1000 - 1_000;
    const range = { start: new Date(end - 8_000), end: new Date(end), stepMs: 1_000 };
    const templates = [
      'sum(rate(shop_requests_total{group="$group"}[3s]))',
      'sum(rate(shop_requests_total{group="$group",code="500"}[3s])) / sum(rate(shop_requests_total{group="$group"}[3s]))',
      'histogram_quantile(0.95, sum by (le) (rate(shop_latency_seconds_bucket{group="$group"}[3s])))',
      'max_over_time(sum(rate(shop_requests_total{group="$group"}[2s]))[4s:1s])',
      'sum(rate(deploy_checkouts_total{deployment="shop-$group"}[3s]))',
    ];
    for (const template of templates) {
      const r = split(template);
      assert.ok(r.ok, template);
      const plan = r.grouped;
      const grouped = await source.queryRange(plan.query, range);
      assert.equal(grouped.series.length, 2, `${plan.query}: ${JSON.stringify(grouped.series.map((s) => s.labels))}`);
      for (const [group, value] of Object.entries(GROUPS)) {
        const own = await source.queryRange(template.replaceAll('$group', value), range);
        assert.equal(own.series.length, 1, template);
        const mine = grouped.series.filter((s) => s.labels[plan.label] === plan.values[group as 'control' | 'experiment']);
        assert.equal(mine.length, 1, `${group} in ${plan.query}`);
        assert.ok(own.series[0]!.samples.length >= 5, `${template}: ${own.series[0]!.samples.length} samples`);
        assert.deepEqual(mine[0]!.samples, own.series[0]!.samples, `${group}: ${template}`);
      }
    }
  });
});
