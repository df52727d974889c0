/**
 * The playground without Prometheus: our own Prometheus adapter, pointed at
 * the shim, must get what the scrape source behind it answers — check()
 * passes, a range query returns the same series, "nothing matched" is no
 * data, and a bad query is an error (never an empty success).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { startMetricsTarget, type MetricsTarget } from '../../src/demo/metrics-target.ts';
import { startPrometheusShim, type PrometheusShim } from '../../src/demo/prometheus-shim.ts';
import { NoDataError } from '../../src/lib/errors.ts';
import { createMetricSource } from '../../src/metric-sources/registry.ts';
import type { MetricSource } from '../../src/metric-sources/types.ts';

describe('prometheus shim over the scrape source', () => {
  let target: MetricsTarget;
  let scrape: MetricSource & { close?: () => Promise<void> };
  let shim: PrometheusShim;
  let prom: MetricSource;
  let timer: NodeJS.Timeout;

  before(async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'shop_checkouts_total', help: 'x', labelNames: ['group'], registers: [registry] });
    // 10/s for control, 20/s for experiment.
    timer = setInterval(() => {
      c.inc({ group: 'control' }, 1);
      c.inc({ group: 'experiment' }, 2);
    }, 100);
    target = await startMetricsTarget(registry);
    scrape = createMetricSource({ kind: 'scrape', targets: [target.url], step: '200ms' } as { kind: string });
    shim = await startPrometheusShim(scrape, { host: '127.0.0.1', port: 0 });
    prom = createMetricSource({ kind: 'prometheus', url: shim.url, step: '200ms' } as { kind: string });
    await target.waitForScrapes(12, 20_000);
  });

  after(async () => {
    clearInterval(timer);
    await shim?.close();
    await scrape?.close?.();
    await target?.stop();
  });

  test('check() takes it for a Prometheus API', async () => {
    await prom.check();
  });

  test('a range query through the adapter equals the scrape source answering directly', async () => {
    const end = new Date(Math.floor(Date.now() / 1000) * 1000);
    const range = { start: new Date(end.getTime() - 1_000), end, stepMs: 200 };
    const q = 'sum by (group) (rate(shop_checkouts_total[1s]))';
    const [viaShim, direct] = await Promise.all([prom.queryRange(q, range), scrape.queryRange(q, range)]);
    const byGroup = (r: typeof direct): Record<string, number[]> =>
      Object.fromEntries(r.series.map((s) => [s.labels.group as string, s.samples.map((p) => p.v)]));
    assert.deepEqual(byGroup(viaShim), byGroup(direct));
    // The last step has a full 1 s of counting behind it (earlier ones may reach back before the first scrape).
    const last = (byGroup(viaShim).experiment ?? []).at(-1);
    assert.ok(last !== undefined && last > 10 && last < 30, JSON.stringify(byGroup(viaShim)));
  });

  test('nothing matched is no data; a query it cannot evaluate is an error', async () => {
    const end = new Date();
    const range = { start: new Date(end.getTime() - 1_000), end, stepMs: 200 };
    await assert.rejects(prom.queryRange('sum(rate(absent_total[1s]))', range), NoDataError);
    await assert.rejects(prom.queryRange('sum(rate(shop_checkouts_total[1s]', range), (err: unknown) => !(err instanceof NoDataError));
  });
});
