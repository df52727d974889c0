/**
 * The default judge on dependent series (ADR 013). Assumed: the series are
 * 15 s rates at a 1 s step of clustered counts under a shared AR(1) load
 * (test/helpers/dependent-series.ts), 100 events/s per group, 120 steps in
 * the window and 300 before it; alpha 0.05, tolerance 10%, direction
 * decrease. Measured on 200 seeded A/A series: the false-fail rate must stay
 * ≤ alpha plus three Monte-Carlo standard errors (0.05 + 3·0.015), while
 * Mann-Whitney on such values under a steady load (what the judge did before)
 * finds a difference between identical groups far more often.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeMetric, type MetricJudgeInput } from '../../src/stats/verdict.ts';
import { clusteredRateSeries } from '../helpers/dependent-series.ts';

const H = 300;
const W = 120;
const base = { name: 'checkout-sps', direction: 'decrease', tolerance: { kind: 'relative', value: 0.1 }, alpha: 0.05, minSamples: 30 } as const;

function judgeSeries(seed: number, effect: number, extra: Partial<MetricJudgeInput> = {}, loadSd?: number) {
  const s = clusteredRateSeries({ seed, historySteps: H, windowSteps: W, rangeSeconds: 15, stepSeconds: 1, effect, ...(loadSd === undefined ? {} : { loadSd }) });
  return judgeMetric({
    ...base,
    control: s.control.slice(H),
    experiment: s.experiment.slice(H),
    windowSteps: 15,
    history: { control: s.control.slice(0, H), experiment: s.experiment.slice(0, H), model: 'counts' },
    ...extra,
  });
}

void describe('paired judge on overlapping 15 s rates at a 1 s step', () => {
  void it('A/A: false fails stay at or below alpha, where Mann-Whitney on the same values cries wolf', () => {
    const reps = 200;
    let fails = 0;
    let passes = 0;
    let mwSignificant = 0;
    for (let seed = 1; seed <= reps; seed++) {
      const v = judgeSeries(seed, 0);
      if (v.verdict === 'fail') fails++;
      if (v.verdict === 'pass') passes++;
      // Under a steady load (a shared swing makes the rank test conservative instead, ADR 004).
      const mw = judgeSeries(seed, 0, { method: 'mann-whitney', history: undefined, direction: 'either', tolerance: { kind: 'relative', value: 0 } }, 0);
      if ((mw.pValue ?? 1) < 0.05) mwSignificant++;
    }
    assert.ok(fails / reps <= 0.05 + 3 * Math.sqrt((0.05 * 0.95) / reps), `false fails ${fails}/${reps}`);
    assert.ok(passes / reps >= 0.9, `passes ${passes}/${reps}`);
    assert.ok(mwSignificant / reps > 0.3, `Mann-Whitney significant on ${mwSignificant}/${reps} A/A series`);
  });

  // Significant and material (ADR 025): a fail needs a significant drop and an estimate beyond the band, so a drop
  // inside the band fails only when noise carries the estimate past the band's edge (at most half the time, at the
  // edge itself), and a drop half again the band fails nearly always.
  void it('fails on a drop beyond the band: half the band rarely, the edge less than half the time, 15% nearly always', () => {
    const reps = 150;
    const failRate = (effect: number): number => {
      let fails = 0;
      for (let seed = 1000; seed < 1000 + reps; seed++) if (judgeSeries(seed, effect).verdict === 'fail') fails++;
      return fails / reps;
    };
    const half = failRate(-0.05);
    const edge = failRate(-0.1);
    const beyond = failRate(-0.15);
    assert.ok(half <= 0.05 + 3 * Math.sqrt((0.05 * 0.95) / reps), `a 5% drop fails ${half}`);
    assert.ok(edge > 0.1 && edge < 0.5, `a 10% drop (the band's edge) fails ${edge}`);
    assert.ok(beyond >= 0.9, `a 15% drop fails ${beyond}`);
  });

  void it('a 30% drop fails, in the metric words: a drop, with its ratio interval below the band', () => {
    const v = judgeSeries(7, -0.3);
    assert.equal(v.verdict, 'fail', v.reason);
    assert.ok(v.relativeCi![1] < -0.1, `interval ${JSON.stringify(v.relativeCi)}`);
    assert.match(v.reason, /^checkout-sps: significant drop, estimated beyond the allowed [\d.]+ \(10% of the control mean [\d.]+\): experiment − control -[\d.]+ \(-\d+(\.\d+)?%\)/);
    assert.match(v.reason, /8 independent windows per group, noise pooled with \d+ windows before the fault/);
    assert.deepEqual(v.units, { layout: 'windows', count: 8, df: v.units!.df, stride: 15, historyDf: 19 });
  });

  void it('without history the window alone decides, on t with units − 1 degrees of freedom', () => {
    const v = judgeSeries(7, -0.3, { history: undefined });
    assert.equal(v.units?.df, 7);
    assert.equal(v.units?.historyDf, undefined);
    assert.equal(v.verdict, 'fail', v.reason);
  });

  void it('a missing step is left out where it stands: the phases keep to disjoint windows', () => {
    const s = clusteredRateSeries({ seed: 3, historySteps: 0, windowSteps: W, rangeSeconds: 15, stepSeconds: 1 });
    const gap = [...s.experiment];
    gap[20] = NaN;
    const full = judgeMetric({ ...base, control: s.control, experiment: s.experiment, windowSteps: 15 });
    const holed = judgeMetric({ ...base, control: s.control, experiment: gap, windowSteps: 15 });
    assert.equal(holed.unpaired, 1);
    assert.equal(holed.units?.count, 7, 'phase 5 lost one of its 8 windows');
    assert.ok(Math.abs((holed.relativeEffect ?? 0) - (full.relativeEffect ?? 0)) < 0.01);
  });

  void it('too few independent windows is inconclusive and says so', () => {
    const s = clusteredRateSeries({ seed: 4, historySteps: 0, windowSteps: 30, rangeSeconds: 15, stepSeconds: 1 });
    const v = judgeMetric({ ...base, control: s.control, experiment: s.experiment, windowSteps: 15 });
    assert.equal(v.verdict, 'inconclusive');
    assert.match(v.reason, /2 independent windows per group, at least 3 needed/);
  });
});

void describe('spread is its own finding', () => {
  // Same level, three times the spread in the experiment group, independent values.
  const control = Array.from({ length: 120 }, (_, i) => 100 + ((i * 37) % 11) - 5);
  const experiment = control.map((v, i) => 100 + 3 * (v - 100) * (i % 2 ? 1 : -1));

  void it('report (default): shown with its p-value, never the verdict', () => {
    const v = judgeMetric({ ...base, direction: 'increase', control, experiment, windowSteps: 1 });
    const spread = v.checks!.find((c) => c.test === 'paired-spread')!;
    assert.equal(spread.judged, false);
    assert.ok(spread.harmful && spread.pValue < 0.001, `p ${spread.pValue}`);
    assert.notEqual(v.verdict, 'fail', v.reason);
    assert.match(v.reason, /spread \(paired deviations\): experiment [\d.]+× the control's, p=[^;]+ — reported, does not judge the metric/);
  });

  void it('fail: a judged check in the Holm family that fails the metric as a rise in spread', () => {
    const v = judgeMetric({ ...base, direction: 'increase', control, experiment, windowSteps: 1, spread: 'fail' });
    assert.equal(v.verdict, 'fail', v.reason);
    assert.match(v.reason, /significant rise in spread, estimated beyond the allowed/);
  });

  void it('ignore: not computed', () => {
    const v = judgeMetric({ ...base, direction: 'increase', control, experiment, windowSteps: 1, spread: 'ignore' });
    assert.equal(v.checks!.some((c) => c.test === 'paired-spread'), false);
  });
});
