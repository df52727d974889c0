/**
 * The shared texts of a judged metric: the same numbers in the same unit in
 * every report, Slack and the CLI; the unit from the spec or, without one,
 * from the query a series ran; the A/A label.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { experimentLabel, isNoFault, metricSummaryLine, metricTexts, metricUnits } from '../../src/reports/metric-text.ts';
import { judgeMetric } from '../../src/stats/verdict.ts';

const SECONDS = { kind: 'time', scale: 1 } as const;

function latency(controlLevel: number, experimentLevel: number, tolerance: { kind: 'relative' | 'absolute'; value: number }) {
  const control = Array.from({ length: 40 }, (_, i) => controlLevel * (1 + (((i * 7) % 5) - 2) * 0.01));
  const experiment = Array.from({ length: 40 }, (_, i) => experimentLevel * (1 + (((i * 3) % 5) - 2) * 0.01));
  return judgeMetric({ name: 'p95-latency', control, experiment, direction: 'increase', tolerance, alpha: 0.05, minSamples: 10 });
}

describe('metric texts', () => {
  it('a latency in seconds: medians in ms, effect with a percentage, tolerance with its band', () => {
    const m = latency(0.18, 0.46, { kind: 'relative', value: 0.2 });
    const t = metricTexts(m, SECONDS);
    assert.equal(t.controlMedian, '180 ms');
    assert.equal(t.experimentMedian, '460 ms');
    assert.match(t.effect, /^\+28\d ms \(\+15\d%\)$/);
    assert.match(t.ci, /^\[\+2\d\d ms, \+2\d\d ms\]$/);
    assert.equal(t.tolerance, '±20% of control = ±36 ms');
  });

  it('near a zero base: the two values and the difference', () => {
    const m = latency(0.0056, 0.46, { kind: 'absolute', value: 0.05 });
    const t = metricTexts(m, SECONDS);
    assert.match(t.effect, /^5\.6 ms → 460 ms \(\+454 ms\)$/);
    assert.equal(t.tolerance, '±0.05 s = ±50 ms');
    // The judge's own sentence follows the same rule (src/stats/judge-text.ts).
    assert.match(m.reason, /experiment − control \+0\.45\d* \(control 0\.005\d* → experiment 0\.46\d*\)/);
    assert.doesNotMatch(m.reason, /\d{4,}%/);
    assert.match(metricSummaryLine(m, SECONDS), /^p95-latency: fail — effect 5\.6 ms → 460 ms \(\+454 ms\), 95% CI \[\+45\d ms, \+45\d ms\], allowed ±0\.05 s = ±50 ms$/);
  });

  it('units from the spec first, else from the query a series ran', () => {
    const unitOf = metricUnits(
      [{ name: 'a', query: 'sum(rate(x_total{group="$group"}[1m]))' }, { name: 'b', unit: 'ms', query: 'whatever' }],
      [{ metric: 'c', query: 'histogram_quantile(0.9, sum by (le) (rate(x_seconds_bucket{group="control"}[1m])))' }],
    );
    assert.deepEqual(unitOf('a'), { kind: 'rate' });
    assert.deepEqual(unitOf('b'), { kind: 'time', scale: 1e-3 });
    assert.deepEqual(unitOf('c'), SECONDS);
    assert.deepEqual(unitOf('d'), { kind: 'none' });
  });

  it('an A/A run is "experiment (no fault)"', () => {
    assert.equal(isNoFault({ injector: 'http-proxy', params: { admin: 'x', noFault: true } }), true);
    assert.equal(isNoFault({ injector: 'none' }), true);
    assert.equal(isNoFault({ injector: 'http-proxy', params: { latencyMs: 300 } }), false);
    assert.equal(experimentLabel({ injector: 'http-proxy', params: { noFault: true } }), 'experiment (no fault)');
    assert.equal(experimentLabel({ injector: 'toxiproxy', params: {} }), 'experiment (fault injected)');
    assert.equal(experimentLabel(undefined), 'experiment');
  });
});
