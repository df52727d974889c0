/**
 * `steadystate describe run` in words: each metric's effect and interval in
 * the unit of the query its series ran, plain numbers when there is none.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeRunText, type RunDetail } from '../../src/cli/get-command.ts';
import { metricUnits } from '../../src/reports/metric-text.ts';

const run: RunDetail = {
  id: 'run-1',
  experiment: 'checkout-latency',
  state: 'failed',
  verdict: 'fail',
  reason: 'p95-latency failed',
  startedAt: '2026-03-03T09:30:00.000Z',
  endedAt: '2026-03-03T09:32:00.000Z',
  metrics: [{ name: 'p95-latency', verdict: 'fail', reason: 'slower', effect: 0.2869, ci: [0.276, 0.2961], pValue: 1e-9 }],
};

describe('describeRunText', () => {
  it('a latency from a _seconds histogram reads in ms', () => {
    const series = [{ metric: 'p95-latency', query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{group="control"}[15s])))' }];
    const text = describeRunText(run, [], metricUnits([], series));
    assert.match(text, /^ {2}p95-latency: fail \(effect \+287 ms, CI \[\+276 ms, \+296 ms\], p 1e-9\) — slower$/m);
  });

  it('without units, plain numbers', () => {
    assert.match(describeRunText(run, []), /^ {2}p95-latency: fail \(effect \+0\.287, CI \[\+0\.276, \+0\.296\], p 1e-9\) — slower$/m);
  });
});
