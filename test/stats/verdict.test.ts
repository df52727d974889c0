/**
 * judgeMetric and overallVerdict, one block per rule in verdict.ts. Each case
 * is built so that the rule under test decides the outcome: the same data
 * judged under a neighbouring rule (other direction, other band, fewer
 * samples) gives a different verdict, and several cases assert both.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Tolerance } from '../../src/spec/fields.ts';
import { StatsInputError } from '../../src/stats/errors.ts';
import {
  judgeMetric,
  overallVerdict,
  type MetricJudgeInput,
  type MetricVerdict,
  type Verdict,
} from '../../src/stats/verdict.ts';

/** Deterministic uniform(0, 1) generator (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in center ± spread, rounded to 0.01 like a scraped metric. */
function noisy(seed: number, n: number, center: number, spread: number): number[] {
  const u = rng(seed);
  return Array.from({ length: n }, () => Math.round((center + (u() * 2 - 1) * spread) * 100) / 100);
}

const relative = (value: number): Tolerance => ({ kind: 'relative', value });
const absolute = (value: number): Tolerance => ({ kind: 'absolute', value });

function judge(overrides: Partial<MetricJudgeInput> & Pick<MetricJudgeInput, 'control' | 'experiment'>): MetricVerdict {
  return judgeMetric({
    method: 'mann-whitney',
    name: 'p99_latency_ms',
    direction: 'increase',
    tolerance: relative(0.05),
    alpha: 0.05,
    minSamples: 10,
    ...overrides,
  });
}

function assertNoNaN(v: MetricVerdict): void {
  const numbers = [v.effect, v.relativeEffect, v.pValue, v.allowed, v.control.median, v.control.mean, ...(v.ci ?? [])];
  for (const x of numbers) assert.ok(x === null || !Number.isNaN(x), `NaN in ${JSON.stringify(v)}`);
  assert.ok(!/NaN/.test(v.reason), v.reason);
}

void describe('rule 1: too few samples → inconclusive', () => {
  const control = noisy(1, 50, 200, 10);
  const experiment = noisy(2, 50, 260, 10); // an obvious rise: would fail with enough data

  void it('fails with enough samples (the rule below is what stops it)', () => {
    assert.equal(judge({ control, experiment }).verdict, 'fail');
  });

  void it('is inconclusive when the experiment group is below minSamples', () => {
    const v = judge({ control, experiment: experiment.slice(0, 9) });
    assert.equal(v.verdict, 'inconclusive');
    assert.match(v.reason, /experiment 9\b/);
    assert.match(v.reason, /at least 10 needed/);
    assert.equal(v.effect, null);
    assert.equal(v.relativeEffect, null);
    assert.equal(v.ci, null);
    assert.equal(v.pValue, null);
    assert.equal(v.experiment.n, 9);
  });

  void it('is inconclusive when the control group is below minSamples', () => {
    const v = judge({ control: control.slice(0, 3), experiment });
    assert.equal(v.verdict, 'inconclusive');
    assert.match(v.reason, /control has 3\b/);
  });

  void it('counts only finite samples, and says how many were ignored', () => {
    const withGaps = [...experiment.slice(0, 8), NaN, Infinity, -Infinity, NaN];
    const v = judge({ control, experiment: withGaps });
    assert.equal(v.verdict, 'inconclusive');
    assert.equal(v.experiment.n, 8);
    assert.match(v.reason, /4 non-finite samples ignored/);
    assertNoNaN(v);
  });

  void it('never judges an empty group, even with minSamples 0', () => {
    const v = judge({ control, experiment: [], minSamples: 0 });
    assert.equal(v.verdict, 'inconclusive');
    assert.equal(v.experiment.median, null);
    assert.match(v.reason, /at least 1 needed/);
    assertNoNaN(v);
  });
});

void describe('rule 2: effect is experiment − control (Hodges–Lehmann), with its (1 − alpha) interval', () => {
  const control = noisy(3, 80, 200, 10);
  const experiment = noisy(4, 80, 230, 10);

  void it('is positive when the experiment is higher, negative when lower', () => {
    const up = judge({ control, experiment });
    const down = judge({ control: experiment, experiment: control });
    assert.ok(up.effect! > 25 && up.effect! < 35, `effect ${up.effect}`);
    assert.equal(down.effect, 0 - up.effect!);
    assert.ok(Math.abs(up.relativeEffect! - up.effect! / up.control.median!) < 1e-15);
  });

  void it('uses a (1 − alpha) interval: a smaller alpha gives a wider one', () => {
    const at05 = judge({ control, experiment, alpha: 0.05 }).ci!;
    const at01 = judge({ control, experiment, alpha: 0.01 }).ci!;
    assert.ok(at01[0] < at05[0] && at01[1] > at05[1]);
  });

  void it('relative effect divides by |control median|, so a negative control keeps the sign of the shift', () => {
    const v = judge({ control: noisy(5, 40, -50, 2), experiment: noisy(6, 40, -40, 2), tolerance: absolute(1) });
    assert.ok(v.effect! > 0);
    assert.ok(v.relativeEffect! > 0);
    assert.ok(Math.abs(v.relativeEffect! - v.effect! / Math.abs(v.control.median!)) < 1e-15);
  });
});

void describe('rule 3: the band', () => {
  const control = noisy(7, 60, 200, 10);
  const experiment = noisy(8, 60, 207, 10);

  void it('relative: tolerance × |control median|', () => {
    const v = judge({ control, experiment, tolerance: relative(0.05) });
    assert.equal(v.allowed, 0.05 * Math.abs(v.control.median!));
  });

  void it('absolute: the tolerance itself', () => {
    assert.equal(judge({ control, experiment, tolerance: absolute(3) }).allowed, 3);
  });

  void it('decides the verdict: a +7 shift passes a 10% band and fails a 1% band', () => {
    assert.equal(judge({ control, experiment, tolerance: relative(0.1) }).verdict, 'pass');
    assert.equal(judge({ control, experiment, tolerance: relative(0.01) }).verdict, 'fail');
  });

  void it('relative on a control median of 0 gives a band of 0, and says so', () => {
    // errors per minute: mostly 0 in control, a steady trickle in the experiment
    const errorsControl = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2];
    const errorsExperiment = [1, 2, 1, 3, 2, 1, 1, 2, 4, 1, 2, 1, 3, 1, 2, 2, 1, 1, 3, 2];
    const v = judge({ name: 'errors', control: errorsControl, experiment: errorsExperiment, tolerance: relative(0.5) });
    assert.equal(v.control.median, 0);
    assert.equal(v.allowed, 0);
    assert.equal(v.relativeEffect, null);
    assert.equal(v.verdict, 'fail');
    assert.match(v.reason, /control median of 0/);
    assertNoNaN(v);
  });
});

void describe('rules 4–7: direction, fail, pass, inconclusive', () => {
  // A large rise: +30 on 200 with a 5% band (10).
  const control = noisy(9, 50, 200, 10);
  const risen = noisy(10, 50, 230, 10);
  const dropped = noisy(11, 50, 170, 10);

  const cases: [string, number[], MetricJudgeInput['direction'], Verdict][] = [
    ['a large rise, rise is bad', risen, 'increase', 'fail'],
    ['a large rise, drop is bad', risen, 'decrease', 'pass'],
    ['a large rise, both are bad', risen, 'either', 'fail'],
    ['a large drop, drop is bad', dropped, 'decrease', 'fail'],
    ['a large drop, rise is bad', dropped, 'increase', 'pass'],
    ['a large drop, both are bad', dropped, 'either', 'fail'],
  ];
  for (const [label, experiment, direction, expected] of cases) {
    void it(`${label} → ${expected}`, () => {
      const v = judge({ control, experiment, direction });
      assert.equal(v.verdict, expected, v.reason);
      assertNoNaN(v);
    });
  }

  void it('fail needs significance: the same +48 estimate on 6 noisy samples is only inconclusive', () => {
    const v = judge({ control: noisy(12, 6, 200, 80), experiment: noisy(13, 6, 240, 80), minSamples: 5 });
    assert.ok(v.effect! > v.allowed, `effect ${v.effect} should be beyond the band ${v.allowed}`);
    assert.ok(v.pValue! >= v.alpha);
    assert.equal(v.verdict, 'inconclusive');
  });

  void it('fail needs the estimate beyond the band: significant +8 in a 10 band, interval reaching past it, is inconclusive', () => {
    const v = judge({ control: noisy(14, 200, 200, 40), experiment: noisy(15, 200, 208, 40) });
    assert.ok(v.pValue! < v.alpha, `p ${v.pValue}`);
    assert.ok(v.effect! <= v.allowed && v.ci![1] > v.allowed, `effect ${v.effect}, ci ${String(v.ci)}, band ${v.allowed}`);
    assert.equal(v.verdict, 'inconclusive');
    assert.match(v.reason, /cannot rule out a rise/);
  });

  void it('a significant change inside the band passes', () => {
    const v = judge({ control: noisy(16, 60, 200, 1), experiment: noisy(17, 60, 203, 1) });
    assert.ok(v.pValue! < 1e-10);
    assert.equal(v.verdict, 'pass');
    assert.match(v.reason, /ruled out/);
  });

  void it('no evidence of change is not a pass when the interval is wide (stricter than Kayenta)', () => {
    const v = judge({ control: noisy(18, 12, 200, 80), experiment: noisy(19, 12, 200, 80) });
    assert.ok(v.pValue! > 0.05, `p ${v.pValue}`); // Kayenta would pass this
    assert.ok(v.ci![1] > v.allowed);
    assert.equal(v.verdict, 'inconclusive');
    // the reason carries the interval
    assert.ok(v.reason.includes(`95% CI `), v.reason);
  });

  void it('pass checks only the bad side: an interval of about −9 to −3 passes increase, not decrease or either', () => {
    // −6 on 200 with a 5% band (10): the low bound reaches below −10, the high bound is below +10
    const control2 = noisy(20, 100, 200, 30);
    const experiment2 = noisy(21, 100, 194, 30);
    const byDirection = (direction: MetricJudgeInput['direction']) => judge({ control: control2, experiment: experiment2, direction });
    const inc = byDirection('increase');
    assert.ok(inc.ci![0] < -inc.allowed && inc.ci![1] < inc.allowed && inc.effect! > -inc.allowed, `ci ${String(inc.ci)}, band ${inc.allowed}`);
    assert.equal(inc.verdict, 'pass');
    assert.equal(byDirection('decrease').verdict, 'inconclusive');
    assert.equal(byDirection('either').verdict, 'inconclusive');
  });

  void it('the fail reason names the shift, the interval, p and the band', () => {
    const v = judge({ control, experiment: risen });
    assert.match(v.reason, /^p99_latency_ms: significant rise, estimated beyond the allowed [\d.]+ \(5% of the control median [\d.]+\)/);
    assert.match(v.reason, /experiment − control \+\d/);
    assert.match(v.reason, /95% CI \+[\d.]+ to \+[\d.]+, p=[\d.e-]+ < alpha 0.05/);
  });
});

void describe('degenerate groups', () => {
  void it('identical constant groups pass (effect 0, interval [0, 0]), even with a zero band', () => {
    const v = judge({ control: Array(20).fill(120), experiment: Array(20).fill(120), tolerance: absolute(0) });
    assert.equal(v.verdict, 'pass');
    assert.equal(v.effect, 0);
    assert.deepEqual(v.ci, [0, 0]);
    assert.equal(v.pValue, 1);
    assert.match(v.reason, /every sample in both groups is 120/);
    assertNoNaN(v);
  });

  void it('a constant shift beyond the band fails', () => {
    const v = judge({ control: Array(10).fill(100), experiment: Array(10).fill(120) });
    assert.equal(v.verdict, 'fail');
    assert.equal(v.effect, 20);
    assert.deepEqual(v.ci, [20, 20]);
    assert.ok(Math.abs(v.pValue! / 1.5937911688066268e-5 - 1) < 1e-6); // R, see mann-whitney.test.ts
    assert.match(v.reason, /both groups are constant \(experiment 120, control 100\)/);
  });

  void it('a constant shift inside the band passes', () => {
    assert.equal(judge({ control: Array(10).fill(100), experiment: Array(10).fill(102) }).verdict, 'pass');
  });

  void it('a constant shift on two samples each is not significant, so inconclusive rather than fail', () => {
    const v = judge({ control: [100, 100], experiment: [120, 120], minSamples: 2 });
    assert.ok(v.pValue! > 0.05);
    assert.equal(v.verdict, 'inconclusive');
  });
});

void describe('input checks', () => {
  const control = [1, 2, 3];
  for (const alpha of [0, 1, -0.1, NaN]) {
    void it(`alpha ${alpha} throws StatsInputError`, () => {
      assert.throws(() => judge({ control, experiment: control, alpha }), StatsInputError);
    });
  }
  void it('a negative tolerance throws StatsInputError', () => {
    assert.throws(() => judge({ control, experiment: control, tolerance: absolute(-1) }), StatsInputError);
  });
});

void describe('overallVerdict', () => {
  const metric = (name: string, verdict: Verdict): MetricVerdict => ({
    name,
    verdict,
    reason: '',
    method: 'mann-whitney',
    control: { n: 0, median: null, mean: null },
    experiment: { n: 0, median: null, mean: null },
    effect: null,
    relativeEffect: null,
    ci: null,
    pValue: null,
    alpha: 0.05,
    tolerance: relative(0.05),
    allowed: 0,
  });

  void it('no metrics → inconclusive', () => {
    assert.deepEqual(overallVerdict([]), { verdict: 'inconclusive', reason: 'no metrics to judge' });
  });

  void it('any fail → fail, naming every failed metric and only those', () => {
    const r = overallVerdict([metric('latency', 'pass'), metric('errors', 'fail'), metric('checkouts', 'inconclusive'), metric('cpu', 'fail')]);
    assert.equal(r.verdict, 'fail');
    assert.equal(r.reason, '2 of 4 metrics failed: errors, cpu');
  });

  void it('no fail but an inconclusive → inconclusive, naming it', () => {
    const r = overallVerdict([metric('latency', 'pass'), metric('checkouts', 'inconclusive')]);
    assert.equal(r.verdict, 'inconclusive');
    assert.equal(r.reason, '1 of 2 metrics inconclusive: checkouts');
  });

  void it('all pass → pass', () => {
    assert.deepEqual(overallVerdict([metric('latency', 'pass')]), { verdict: 'pass', reason: 'all 1 metric passed: latency' });
  });

  void it('works end to end with judged metrics', () => {
    const control = noisy(22, 40, 200, 10);
    const r = overallVerdict([
      judge({ name: 'latency', control, experiment: noisy(23, 40, 201, 2) }),
      judge({ name: 'checkouts', control, experiment: noisy(24, 40, 150, 10), direction: 'decrease' }),
    ]);
    assert.equal(r.verdict, 'fail');
    // Judged metrics carry their checks, so the overall verdict applies Holm across
    // all of them (statistics issue) and says so; see verdict-family.test.ts.
    // The headline says what changed (the relative shift), not only that something did.
    assert.match(r.reason, /^1 of 2 metrics failed: checkouts \(-2\d\.\d%\) \(Holm across 2 tests\)$/);
    // Spread is reported, not judged, by default: one judged test per metric.
    assert.deepEqual(r.correction, { method: 'holm', alpha: 0.05, tests: 2 });
  });
});
