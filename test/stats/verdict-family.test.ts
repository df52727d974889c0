/**
 * Family-wise error control across a run's metrics (judgeFamily, and
 * overallVerdict when the metrics carry checks): Holm over every check of
 * every metric.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeFamily, judgeMetric, overallVerdict, type MetricCheck, type MetricVerdict } from '../../src/stats/verdict.ts';

function metric(name: string, verdict: MetricVerdict['verdict'], checks?: Partial<MetricCheck>[]): MetricVerdict {
  return {
    name,
    verdict,
    reason: `${name}: original reason`,
    method: 'mann-whitney',
    control: { n: 50, median: 1, mean: 1 },
    experiment: { n: 50, median: 1, mean: 1 },
    effect: 0,
    relativeEffect: 0,
    ci: [0, 0],
    pValue: checks?.[0]?.pValue ?? null,
    alpha: 0.05,
    tolerance: { kind: 'relative', value: 0.05 },
    allowed: 0.05,
    safe: verdict === 'pass',
    ...(checks
      ? {
          checks: checks.map((c) => ({
            test: 'mann-whitney' as const,
            hypothesis: 'h',
            pValue: 1,
            adjustedPValue: 1,
            estimate: 0,
            ci: null,
            harmful: false,
            rejected: false,
            ...c,
          })),
        }
      : {}),
  };
}

void describe('judgeFamily (Holm across metrics)', () => {
  void it('a fail at p = 0.03 among four metrics does not survive (0.03 × 4 > 0.05) and becomes inconclusive', () => {
    const r = judgeFamily([
      metric('a', 'fail', [{ pValue: 0.03, harmful: true, rejected: true }]),
      metric('b', 'pass', [{ pValue: 0.6 }]),
      metric('c', 'pass', [{ pValue: 0.7 }]),
      metric('d', 'pass', [{ pValue: 0.9 }]),
    ]);
    assert.equal(r.verdict, 'inconclusive');
    assert.deepEqual(r.correction, { method: 'holm', alpha: 0.05, tests: 4 });
    const a = r.metrics[0]!;
    assert.equal(a.verdict, 'inconclusive');
    assert.equal(a.checks![0]!.adjustedPValue, 0.12);
    assert.match(a.reason, /not significant once corrected for 4 tests.*p=0\.03 \(Holm 0\.12\)/);
    assert.match(r.reason, /\(Holm across 4 tests\)$/);
  });

  void it('a fail at p = 0.001 survives; the others keep their verdicts', () => {
    const r = judgeFamily([
      metric('a', 'fail', [{ pValue: 0.001, harmful: true, rejected: true }]),
      metric('b', 'pass', [{ pValue: 0.02 }]),
      metric('c', 'inconclusive', [{ pValue: 0.5 }]),
    ]);
    assert.equal(r.verdict, 'fail');
    assert.deepEqual(r.metrics.map((m) => m.verdict), ['fail', 'pass', 'inconclusive']);
    assert.equal(r.metrics[0]!.checks![0]!.adjustedPValue, 0.003);
  });

  void it('method none leaves the p-values as they are', () => {
    const r = judgeFamily([metric('a', 'fail', [{ pValue: 0.03, harmful: true, rejected: true }]), metric('b', 'pass', [{ pValue: 0.6 }])], { method: 'none' });
    assert.equal(r.verdict, 'fail');
    assert.equal(r.correction.method, 'none');
  });

  void it('metrics without checks (too few samples, older verdicts) keep their verdict and add no tests', () => {
    const r = judgeFamily([metric('a', 'inconclusive'), metric('b', 'fail', [{ pValue: 0.01, harmful: true, rejected: true }])]);
    assert.equal(r.correction.tests, 1);
    assert.equal(r.verdict, 'fail');
  });

  void it('inputs are not modified', () => {
    const m = metric('a', 'fail', [{ pValue: 0.03, harmful: true, rejected: true }]);
    const before = JSON.stringify(m);
    judgeFamily([m, metric('b', 'pass', [{ pValue: 0.6 }])]);
    assert.equal(JSON.stringify(m), before);
  });
});

void describe('overallVerdict with judged metrics applies Holm and says so', () => {
  // Four metrics of the same service: one borderline rise, three unchanged.
  const base = Array.from({ length: 80 }, (_, i) => 100 + ((i * 37) % 21) - 10);
  const judged = (name: string, shift: number): MetricVerdict =>
    judgeMetric({ name, method: 'mann-whitney', spread: 'fail', control: base, experiment: base.map((v) => v + shift), direction: 'increase', tolerance: { kind: 'absolute', value: 1 }, alpha: 0.05, minSamples: 30 });

  void it('a borderline single-metric fail is inconclusive for the run', () => {
    const borderline = judged('latency', 2.2);
    assert.equal(borderline.verdict, 'fail', borderline.reason);
    assert.ok(borderline.pValue! > 0.01 && borderline.pValue! < 0.05, `p ${borderline.pValue}`);
    const r = overallVerdict([borderline, judged('cpu', 0), judged('memory', 0), judged('queue', 0)]);
    assert.equal(r.verdict, 'inconclusive');
    assert.equal(r.correction?.method, 'holm');
    assert.equal(r.correction?.tests, 8); // Mann-Whitney and spread per metric
  });

  void it('a clear fail still fails the run', () => {
    const r = overallVerdict([judged('latency', 8), judged('cpu', 0), judged('memory', 0), judged('queue', 0)]);
    assert.equal(r.verdict, 'fail');
    assert.match(r.reason, /^1 of 4 metrics failed: latency \(\+8%\) \(Holm across 8 tests\)$/);
  });
});
