/**
 * A histogram labelled by traffic group and route only, counted in plain arrays and
 * turned into prom-client's shape when scraped. prom-client's Histogram
 * validates and hashes its labels on every observe(); profiling the proxy
 * showed its metrics at a fifth of the CPU of a forwarded request, so the hot
 * path here is an array index and two additions. Registered in a prom-client
 * Registry like any metric; its JSON is what AggregatorRegistry sums across
 * workers, and the text is the same as prom-client's Histogram produces.
 */
import type { Registry } from 'prom-client';
import type { Group } from './groups.ts';

interface Series {
  /** Non-cumulative counts per bucket; the last slot is above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

interface ValuePair {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

export class GroupHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** By group, then by route label (a bounded set: routes.ts). */
  private readonly series = new Map<Group, Map<string, Series>>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
    /** Groups whose series exist (at zero) before their first observation. */
    zeroGroups: readonly Group[],
    /** Routes whose series exist (at zero) for each of zeroGroups. */
    zeroRoutes: readonly string[],
  ) {
    for (const g of zeroGroups) for (const r of zeroRoutes) this.seriesOf(g, r);
    // Registry's own type wants a prom-client Metric; this object has what the registry reads (name, help, type, get, reset).
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  observe(group: Group, route: string, value: number): void {
    const s = this.series.get(group)?.get(route) ?? this.seriesOf(group, route);
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += value;
    s.count++;
  }

  /** prom-client's metric JSON: cumulative `_bucket` series with `le`, then `_sum` and `_count`, per group. */
  get(): { name: string; help: string; type: string; aggregator: string; values: ValuePair[] } {
    const values: ValuePair[] = [];
    for (const [group, routes] of this.series) {
      for (const [route, s] of routes) {
        let acc = 0;
        this.bounds.forEach((le, i) => {
          acc += s.counts[i] as number;
          values.push({ labels: { le, group, route }, value: acc, metricName: `${this.name}_bucket` });
        });
        values.push({ labels: { le: '+Inf', group, route }, value: s.count, metricName: `${this.name}_bucket` });
        values.push({ labels: { group, route }, value: s.sum, metricName: `${this.name}_sum` });
        values.push({ labels: { group, route }, value: s.count, metricName: `${this.name}_count` });
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }

  private seriesOf(group: Group, route: string): Series {
    const s: Series = { counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
    let routes = this.series.get(group);
    if (routes === undefined) {
      routes = new Map();
      this.series.set(group, routes);
    }
    routes.set(route, s);
    return s;
  }
}
