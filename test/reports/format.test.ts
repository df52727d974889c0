/**
 * Formatting for the HTML pages: units read from queries (only when
 * unambiguous), axis ticks and their labels, durations.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { durationText, niceTicks, tickLabel, unitOfQuery } from '../../src/reports/html/format.ts';

describe('report formatting', () => {
  it('reads a unit from a query only when the query makes it unambiguous', () => {
    const cases: [string, string][] = [
      ['sum(rate(shop_checkouts_total{group="$group"}[15s]))', 'per second'],
      ['rate(x_total[1m])', 'per second'],
      ['histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{group="$group"}[15s])))', 'seconds'],
      ['histogram_quantile(0.99, sum by (le) (rate(payload_bytes_bucket[1m])))', 'bytes'],
      ['histogram_quantile(0.9, sum by (le) (rate(latency_ms_bucket[1m])))', 'milliseconds'],
      // Ratios and arithmetic: no unit rather than a wrong one.
      ['sum(rate(errors_total[15s])) / sum(rate(requests_total[15s]))', ''],
      ['sum(rate(a[1m])) * 60', ''],
      ['sum(rate(a{code=~"5.."}[1m])) - sum(rate(b[1m]))', ''],
      ['up{job="x"}', ''],
      ['histogram_quantile(0.9, sum by (le) (rate(queue_depth_bucket[1m])))', ''],
    ];
    for (const [query, unit] of cases) assert.equal(unitOfQuery(query), unit, query);
  });

  it('picks nice ticks that cover the range', () => {
    assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(niceTicks(0.16, 0.22, 5), [0.16, 0.18, 0.2, 0.22]);
    assert.deepEqual(niceTicks(0.16, 0.22, 8), [0.16, 0.17, 0.18, 0.19, 0.2, 0.21, 0.22]);
    assert.deepEqual(niceTicks(-30, 90, 5), [-25, 0, 25, 50, 75]);
    assert.deepEqual(niceTicks(5, 5), [5]);
    assert.deepEqual(niceTicks(NaN, 1), []);
    for (const t of niceTicks(0.1, 0.7, 6)) assert.equal(String(t).length <= 4, true, `tick ${t} is not float noise`);
  });

  it('labels ticks with the decimals the step needs, and compact large numbers', () => {
    assert.equal(tickLabel(0.25, 0.25), '0.25');
    assert.equal(tickLabel(0.5, 0.25), '0.50');
    assert.equal(tickLabel(40, 10), '40');
    assert.equal(tickLabel(0.0001, 0.0001), '0.0001');
    assert.equal(tickLabel(25_000, 5_000), '25k');
    assert.equal(tickLabel(2_500_000, 500_000), '2.5M');
    assert.equal(tickLabel(1e-17, 0.1), '0');
  });

  it('says durations the way people do', () => {
    assert.equal(durationText(250), '250 ms');
    assert.equal(durationText(4_200), '4.2 s');
    assert.equal(durationText(46_000), '46 s');
    assert.equal(durationText(120_000), '2 min');
    assert.equal(durationText(125_000), '2 min 5 s');
    assert.equal(durationText(3 * 3_600_000 + 5 * 60_000), '3 h 5 min');
    assert.equal(durationText(NaN), '—');
  });
});
