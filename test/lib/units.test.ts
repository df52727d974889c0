/**
 * A metric's unit: declared names as the query library writes them, and what
 * a PromQL query says about its values by Prometheus naming conventions —
 * only when it says so unambiguously.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveUnit, unitFromName, unitOfQuery, type Unit } from '../../src/lib/units.ts';

const S: Unit = { kind: 'time', scale: 1 };
const MS: Unit = { kind: 'time', scale: 1e-3 };
const B: Unit = { kind: 'bytes', scale: 1 };
const RATIO: Unit = { kind: 'ratio', scale: 1 };
const PER_S: Unit = { kind: 'rate' };
const NONE: Unit = { kind: 'none' };

describe('unitOfQuery', () => {
  const cases: [string, Unit][] = [
    ['sum(rate(shop_checkouts_total{group="$group"}[15s]))', PER_S],
    ['rate(x_total[1m])', PER_S],
    ['sum(irate(x_total{a="b"}[1m]))', PER_S],
    ['histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{group="$group"}[15s])))', S],
    ['histogram_quantile(0.99, sum by (le) (rate(payload_bytes_bucket[1m])))', B],
    ['histogram_quantile(0.9, sum by (le) (rate(latency_ms_bucket[1m])))', MS],
    ['histogram_quantile(0.9, sum by (le) (rate(latency_milliseconds_bucket[1m])))', MS],
    // Ratios of one metric family: a fraction, shown as %.
    ['sum(rate(http_requests_total{code=~"5..",group="$group"}[15s])) / sum(rate(http_requests_total{group="$group"}[15s]))', RATIO],
    ['(sum(rate(steadystate_proxy_requests_total{group="$group",code=~"5.."}[5s])) or vector(0)) / sum(rate(steadystate_proxy_requests_total{group="$group"}[5s]))', RATIO],
    ['sum(rate(req_duration_seconds_bucket{le="0.3"}[1m])) / sum(rate(req_duration_seconds_count[1m]))', RATIO],
    ['1 - (sum(rate(http_requests_total{code!~"5..",group="$group"}[$window])) / sum(rate(http_requests_total{group="$group"}[$window])))', RATIO],
    // A mean from a histogram's sum and count is in the histogram's unit.
    ['rate(rpc_duration_seconds_sum[1m]) / rate(rpc_duration_seconds_count[1m])', S],
    // Gauges named by the conventions.
    ['process_resident_memory_bytes{job="x"}', B],
    ['avg_over_time(queue_wait_seconds[1m])', S],
    ['cache_hit_ratio', RATIO],
    // Ambiguous: no unit rather than a wrong one.
    ['sum(rate(errors_total[15s])) / sum(rate(requests_total[15s]))', NONE],
    ['sum(rate(a[1m])) * 60', NONE],
    ['sum(rate(a{code=~"5.."}[1m])) - sum(rate(b[1m]))', NONE],
    ['up{job="x"}', NONE],
    ['histogram_quantile(0.9, sum by (le) (rate(queue_depth_bucket[1m])))', NONE],
    ['rate(process_cpu_seconds_total[1m])', NONE],
    ['sum(increase(x_total[1m]))', NONE],
    ['avg:trace.http.request.duration{service:shop}', NONE],
  ];
  for (const [query, unit] of cases) {
    it(query, () => assert.deepEqual(unitOfQuery(query), unit));
  }
});

describe('unitFromName and resolveUnit', () => {
  it('reads the names the query library uses', () => {
    assert.deepEqual(unitFromName('seconds'), S);
    assert.deepEqual(unitFromName('ms'), MS);
    assert.deepEqual(unitFromName('ratio'), RATIO);
    assert.deepEqual(unitFromName('percent'), { kind: 'ratio', scale: 0.01 });
    assert.deepEqual(unitFromName('events/s'), PER_S);
    assert.deepEqual(unitFromName('orders/s'), { kind: 'rate', per: 'orders' });
    assert.deepEqual(unitFromName('burn rate'), { kind: 'multiple' });
    assert.deepEqual(unitFromName('widgets'), { kind: 'none', name: 'widgets' });
    assert.equal(unitFromName(''), undefined);
    assert.equal(unitFromName(undefined), undefined);
  });

  it('prefers a declared unit over the query', () => {
    assert.deepEqual(resolveUnit({ unit: 'ms', query: 'histogram_quantile(0.9, sum by (le) (rate(x_seconds_bucket[1m])))' }), MS);
    assert.deepEqual(resolveUnit({ query: 'histogram_quantile(0.9, sum by (le) (rate(x_seconds_bucket[1m])))' }), S);
    assert.deepEqual(resolveUnit({}), NONE);
  });
});
