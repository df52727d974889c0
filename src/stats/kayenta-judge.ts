/**
 * Kayenta parity: the fixed-horizon judge of ADR 002/004, kept as the named
 * method `mann-whitney` for users who want Kayenta's numbers.
 *
 * It ASSUMES INDEPENDENT SAMPLES within and between groups. Per-step values of
 * overlapping rate windows, percentiles over windows and shared load swings
 * are not: on `rate(x[15s])` at a 1 s step it reports p < 0.05 on most A/A
 * runs (ADR 013). The default judge is paired-judge.ts.
 *
 * Per metric, on the finite samples of each group:
 *   1. Too few samples (fewer than `minSamples` in a group) → no test.
 *   2. `mannWhitney(experiment, control)`, two-sided at 1 − alpha, exactly as
 *      R's wilcox.test: `effect` is the Hodges–Lehmann shift, `ci` its interval.
 *   3. The band: tolerance × |control median| (relative) or the tolerance.
 *   4. Checks: the rank test (harmful when the shift is beyond the band on a
 *      bad side); for sparse counts R's exact two-sample poisson.test against
 *      the band; otherwise Brown–Forsythe on spread, reported or judged by the
 *      metric's `spread` policy (default `report`: a spread change is its own
 *      finding, never a level verdict).
 *   5. `safe` when the interval's bad-side bound (and the rate ratio's) lies
 *      inside the band; `powerTooLow` when the smallest detectable shift
 *      exceeds the band. verdict.ts turns checks into the verdict.
 */
import type { Tolerance } from '../spec/fields.ts';
import { brownForsythe } from './brown-forsythe.ts';
import { summarize } from './describe.ts';
import { mannWhitney } from './mann-whitney.ts';
import { looksLikeSparseCounts } from './paired-judge.ts';
import { poissonRateTest } from './poisson-rate.ts';
import { minimumDetectableShift, pooledSd } from './power.ts';
import { checkJudgeInput, type Direction, type JudgeInputBase, type MetricCheck, type MetricVerdict } from './verdict-types.ts';

export type KayentaJudgeInput = JudgeInputBase;

export function judgeKayenta(input: KayentaJudgeInput): MetricVerdict {
  const { name, direction, tolerance, alpha, minSamples } = input;
  const power = checkJudgeInput(input);

  const control = input.control.filter((v) => Number.isFinite(v));
  const experiment = input.experiment.filter((v) => Number.isFinite(v));
  const dropped = input.control.length - control.length + (input.experiment.length - experiment.length);
  const controlSummary = summarize(control);
  const experimentSummary = summarize(experiment);
  const controlMedian = controlSummary.median;
  const allowed = tolerance.kind === 'absolute' ? tolerance.value : controlMedian === null ? 0 : tolerance.value * Math.abs(controlMedian);
  const sd = pooledSd(control, experiment);
  const mde = sd === null ? null : minimumDetectableShift({ nX: experiment.length, nY: control.length, sd, alpha, power });
  const base: MetricVerdict = {
    name,
    verdict: 'inconclusive',
    reason: '',
    method: 'mann-whitney',
    control: controlSummary,
    experiment: experimentSummary,
    effect: null,
    relativeEffect: null,
    ci: null,
    pValue: null,
    alpha,
    tolerance,
    allowed,
    direction,
    mde,
    mdeRelative: mde === null || controlMedian === null || controlMedian === 0 ? null : mde / Math.abs(controlMedian),
    power,
    ...(dropped > 0 ? { dropped } : {}),
  };
  const needed = Math.max(minSamples, 1);
  if (controlSummary.n < needed || experimentSummary.n < needed) {
    base.insufficient = `control has ${controlSummary.n} and experiment ${experimentSummary.n} samples, at least ${needed} needed in each group`;
    return base;
  }

  const mw = mannWhitney(experiment, control, { alternative: 'two.sided', confLevel: 1 - alpha });
  const effect = mw.estimate;
  const [lo, hi] = mw.confInt;
  const badUp = direction !== 'decrease';
  const badDown = direction !== 'increase';
  const checks: MetricCheck[] = [
    {
      test: 'mann-whitney',
      hypothesis: 'experiment and control have the same distribution (no shift)',
      pValue: mw.pValue,
      adjustedPValue: mw.pValue,
      estimate: effect,
      ci: [lo, hi],
      harmful: (badUp && effect > allowed) || (badDown && effect < -allowed),
      rejected: false,
      judged: true,
    },
  ];
  let rateSafe = true;
  if (input.counts ?? looksLikeSparseCounts(control, experiment)) {
    const rare = rareEventCheck(control, experiment, direction, tolerance, alpha);
    checks.push(rare.check);
    rateSafe = rare.safe;
  } else if (control.length >= 2 && experiment.length >= 2 && (input.spread ?? 'report') !== 'ignore') {
    checks.push(spreadCheck(control, experiment, tolerance, input.spread === 'fail'));
  }
  return {
    ...base,
    effect,
    relativeEffect: controlMedian === null || controlMedian === 0 ? null : effect / Math.abs(controlMedian),
    ci: [lo, hi],
    pValue: mw.pValue,
    checks,
    safe: (!badUp || hi <= allowed) && (!badDown || lo >= -allowed) && rateSafe,
    powerTooLow: allowed > 0 && mde !== null && mde > allowed,
    ...(mw.degenerate === null
      ? {}
      : {
          note:
            mw.degenerate === 'all-tied'
              ? `every sample in both groups is ${controlMedian ?? 0}`
              : `both groups are constant (experiment ${experimentSummary.median ?? 0}, control ${controlMedian ?? 0})`,
        }),
  };
}

function spreadCheck(control: readonly number[], experiment: readonly number[], tolerance: Tolerance, judged: boolean): MetricCheck {
  const bf = brownForsythe(experiment, control, { alternative: 'greater' });
  const harmful =
    tolerance.kind === 'relative' ? bf.spreadRatio !== null && bf.spreadRatio > 1 + tolerance.value : bf.spreadX - bf.spreadY > tolerance.value;
  return {
    test: 'brown-forsythe',
    hypothesis: 'the experiment is not more spread out than the control (mean absolute deviation from the median)',
    pValue: bf.pValue,
    adjustedPValue: bf.pValue,
    estimate: bf.spreadRatio,
    ci: null,
    harmful,
    rejected: false,
    judged,
  };
}

function rareEventCheck(
  control: readonly number[],
  experiment: readonly number[],
  direction: Direction,
  tolerance: Tolerance,
  alpha: number,
): { check: MetricCheck; safe: boolean } {
  const sum = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0);
  const x = sum(experiment);
  const y = sum(control);
  const tX = experiment.length;
  const tY = control.length;
  // Against the boundary for a relative band; against "no change" for an absolute one, whose
  // harm is then judged on the difference of the mean counts (as for the rank test).
  const rel = tolerance.kind === 'relative' ? tolerance.value : 0;
  const pUp = poissonRateTest(x, y, tX, tY, { ratio: 1 + rel, alternative: 'greater', confLevel: 1 - alpha }).pValue;
  const pDown = rel < 1 ? poissonRateTest(x, y, tX, tY, { ratio: 1 - rel, alternative: 'less', confLevel: 1 - alpha }).pValue : 1;
  const pValue = direction === 'increase' ? pUp : direction === 'decrease' ? pDown : Math.min(1, 2 * Math.min(pUp, pDown));
  const two = poissonRateTest(x, y, tX, tY, { alternative: 'two.sided', confLevel: 1 - alpha });
  const ratio = two.estimate;
  const diff = x / tX - y / tY;
  const up = tolerance.kind === 'relative' ? ratio !== null && ratio > 1 + rel : diff > tolerance.value;
  const down = tolerance.kind === 'relative' ? ratio !== null && ratio < 1 - rel : diff < -tolerance.value;
  const [ciLo, ciHi] = two.confInt;
  return {
    check: {
      test: 'poisson-rate',
      hypothesis: `the experiment's event rate per step is within the band of the control's (${x} vs ${y} events in ${tX} and ${tY} steps)`,
      pValue,
      adjustedPValue: pValue,
      estimate: ratio,
      ci: [ciLo, ciHi],
      harmful: (direction !== 'decrease' && up) || (direction !== 'increase' && down),
      rejected: false,
      judged: true,
    },
    safe: tolerance.kind !== 'relative' || ((direction === 'decrease' || ciHi <= 1 + rel) && (direction === 'increase' || ciLo >= 1 - rel)),
  };
}
