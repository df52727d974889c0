/**
 * The shapes of three Kayenta / Spinnaker issues where the Mann-Whitney judge
 * gave the wrong answer, and what judgeMetric answers now. Each case shows
 * the rank test's own result first (what Kayenta saw), then our verdict and
 * the check that decided it.
 *
 *   kayenta#780   same median, much larger variance → Kayenta passed.
 *   kayenta#426   a few spikes of errors against a control with none → Kayenta passed.
 *   spinnaker#6278  10 points per group → Kayenta passed a 100× jump in 7 of them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mannWhitney } from '../../src/stats/mann-whitney.ts';
import { judgeMetric, type MetricJudgeInput, type MetricVerdict } from '../../src/stats/verdict.ts';

function judge(input: Partial<MetricJudgeInput> & Pick<MetricJudgeInput, 'control' | 'experiment'>): MetricVerdict {
  return judgeMetric({
    method: 'mann-whitney',
    name: 'metric',
    direction: 'increase',
    tolerance: { kind: 'relative', value: 0.25 }, // Kayenta's default band
    alpha: 0.05,
    minSamples: 30,
    ...input,
  });
}

/** Deterministic uniform(−1, 1) values (Lehmer), rounded to 0.01 like a scraped metric. */
function around(seed: number, n: number, center: number, halfWidth: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 48271) % 2147483647;
    return Math.round((center + (2 * (s / 2147483647) - 1) * halfWidth) * 100) / 100;
  });
}

void describe('kayenta#780: same median, much larger variance', () => {
  const control = around(3, 60, 100, 3);
  const experiment = around(4, 60, 100, 60);

  void it('Mann-Whitney sees nothing: p ≈ 0.9, shift ≈ −2 on a median of 100', () => {
    const mw = mannWhitney(experiment, control);
    assert.ok(mw.pValue > 0.5, `p ${mw.pValue}`);
    assert.ok(Math.abs(mw.estimate) < 3, `shift ${mw.estimate}`);
  });

  void it('by default the spread change is reported as its own finding, not as a level fail', () => {
    const v = judge({ name: 'p95_latency', control, experiment, tolerance: { kind: 'relative', value: 0.1 } });
    assert.notEqual(v.verdict, 'fail', v.reason);
    const spread = v.checks!.find((c) => c.test === 'brown-forsythe')!;
    assert.equal(spread.judged, false);
    assert.ok(spread.harmful && spread.pValue < 0.05);
    assert.match(v.reason, /spread \(Brown–Forsythe\): experiment [\d.]+× the control's, p=[^;]*reported, does not judge the metric/);
  });

  void it('with spread: fail our judge fails it on the spread check (Brown–Forsythe), and says so', () => {
    const v = judge({ name: 'p95_latency', control, experiment, tolerance: { kind: 'relative', value: 0.1 }, spread: 'fail' });
    assert.equal(v.verdict, 'fail', v.reason);
    const spread = v.checks!.find((c) => c.test === 'brown-forsythe')!;
    assert.ok(spread.rejected && spread.harmful);
    assert.ok(spread.estimate! > 10, `spread ratio ${spread.estimate}`);
    assert.equal(v.checks!.find((c) => c.test === 'mann-whitney')!.rejected, false);
    assert.match(v.reason, /significant rise in spread/);
    assert.match(v.reason, /Brown–Forsythe/);
  });

  void it('a spread increase inside the band is not a failure', () => {
    const v = judge({ control: around(5, 60, 100, 10), experiment: around(6, 60, 100, 11), tolerance: { kind: 'relative', value: 0.25 }, spread: 'fail' });
    assert.notEqual(v.verdict, 'fail', v.reason);
  });

  void it('the published data (the control is the noisy group) is not a spread failure of the experiment', () => {
    const experimentData = [10.0, 10.1, 10.2, 10.3, 10.4, 10.5, 10.6, 17.0, 17.1, 17.2, 17.3, 17.4, 17.5, 17.6, 17.7];
    const controlData = [1.0, 100.0, 4.0, 101.0, 5.0, 102.0, 6.0, 103.0, 7.0, 104.0, 8.0, 105.0, 9.0, 106.0, 17.0];
    const v = judge({ control: controlData, experiment: experimentData, minSamples: 15, spread: 'fail' });
    assert.equal(v.checks!.find((c) => c.test === 'brown-forsythe')!.harmful, false);
    assert.notEqual(v.verdict, 'pass'); // and not a pass either: 15 points cannot rule out a 25% rise
  });
});

void describe('kayenta#426: sparse error counts', () => {
  void it('the published case (4 errors vs none in 6 steps): Kayenta passed, we say inconclusive', () => {
    const experiment = [0.0, 1.0, 2.0, 1.0, 0.0, 0.0];
    const control = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    const v = judge({ name: 'errors', control, experiment, minSamples: 6 });
    assert.equal(v.verdict, 'inconclusive', v.reason);
    const rare = v.checks!.find((c) => c.test === 'poisson-rate')!;
    assert.ok(rare.pValue > 0.05); // 4 events cannot be significant against a 25% band
    assert.equal(rare.ci![1], Infinity);
  });

  void it('an hour of steps with five error spikes against one stray error: the rank test misses it, the rare-event test fails it', () => {
    const control = Array<number>(60).fill(0);
    control[17] = 1;
    const experiment = Array<number>(60).fill(0);
    for (const [i, v] of [[5, 2], [12, 3], [30, 1], [41, 4], [50, 2]] as const) experiment[i] = v;
    const mw = mannWhitney(experiment, control);
    assert.ok(mw.pValue > 0.05, `Mann-Whitney p ${mw.pValue}`);
    assert.equal(mw.estimate, 0);

    const v = judge({ name: 'errors', control, experiment });
    assert.equal(v.verdict, 'fail', v.reason);
    const rare = v.checks!.find((c) => c.test === 'poisson-rate')!;
    assert.equal(rare.estimate, 12);
    assert.ok(rare.rejected && rare.harmful);
    assert.match(v.reason, /event rate \(exact Poisson\): rate ratio 12/);
  });

  void it('counts are detected only when sparse; `counts: true` forces the check', () => {
    const busy = around(7, 40, 50, 10).map(Math.round);
    const v = judge({ control: busy, experiment: busy });
    assert.equal(v.checks!.some((c) => c.test === 'poisson-rate'), false);
    assert.equal(judge({ control: busy, experiment: busy, counts: true }).checks!.some((c) => c.test === 'poisson-rate'), true);
  });
});

void describe('spinnaker#6278: tiny samples', () => {
  const experiment = [100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 1.0, 1.0, 1.0];
  const control = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];

  void it('below the minimum sample it is inconclusive, and the reason gives the minimum detectable effect', () => {
    const v = judge({ control, experiment });
    assert.equal(v.verdict, 'inconclusive');
    assert.ok(v.mde! > 40, `mde ${v.mde}`);
    assert.match(v.reason, /too few samples/);
    assert.match(v.reason, /smallest shift detectable with 80% power is ±43\.\d/);
  });

  void it('judged anyway (minSamples 10) it fails: the jump is significant and far beyond the band', () => {
    const v = judge({ control, experiment, minSamples: 10 });
    assert.equal(v.verdict, 'fail', v.reason);
  });

  void it('a tiny sample with no visible change is not a pass: too little power for the band', () => {
    const v = judge({ control: [100, 104, 97, 101, 99], experiment: [101, 99, 103, 98, 100], minSamples: 5, tolerance: { kind: 'relative', value: 0.02 } });
    assert.ok(v.mde! > v.allowed, `mde ${v.mde} vs band ${v.allowed}`);
    assert.equal(v.verdict, 'inconclusive', v.reason);
    assert.match(v.reason, /too little power|cannot rule out/);
  });

  void it('the same spread with enough samples passes: the power rule is what held it back', () => {
    const v = judge({ control: around(8, 400, 100, 3), experiment: around(9, 400, 100, 3), tolerance: { kind: 'relative', value: 0.02 } });
    assert.ok(v.mde! < v.allowed);
    assert.equal(v.verdict, 'pass', v.reason);
  });
});
