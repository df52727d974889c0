/**
 * The per-metric judge and the overall verdict of an experiment: pure
 * functions from samples to `pass`, `fail` or `inconclusive`, with one human
 * sentence that carries the numbers behind the call.
 *
 * Per metric (`judgeMetric`), on the finite samples of each group (NaN and
 * ±Infinity are dropped and the reason says how many):
 *   1. Too little data. Either group with fewer than `minSamples` values (and
 *      never fewer than 1) → `inconclusive`; effect, ci and pValue are null.
 *   2. The test. `mannWhitney(experiment, control)`, two-sided, confidence
 *      level 1 − alpha, so `effect` is the Hodges–Lehmann shift experiment −
 *      control in the metric's unit and `ci` its (1 − alpha) interval.
 *   3. The band. `allowed` = tolerance × |control median| for a relative
 *      tolerance, the tolerance itself for an absolute one. A relative
 *      tolerance on a control median of 0 gives a band of 0 (any change
 *      counts), and the reason says so.
 *   4. The bad side. `increase`: a rise is harmful (latency, errors);
 *      `decrease`: a drop is harmful (throughput, checkouts/s); `either`: both.
 *   5. `fail` when pValue < alpha AND the point estimate lies beyond the band
 *      on a bad side: a significant and harmful change.
 *   6. `pass` when the interval's bound on each bad side lies within the band
 *      (increase: ci.hi ≤ allowed; decrease: ci.lo ≥ −allowed; either: both):
 *      a harmful change beyond tolerance is ruled out. This is an
 *      equivalence-style pass, stricter than Kayenta's, which passes whenever
 *      p ≥ alpha: here a noisy or short run cannot pass merely by failing to
 *      show a difference.
 *   7. Otherwise `inconclusive`: cannot rule out a change beyond tolerance.
 * A significant change that stays inside the band passes (rule 6 after rule 5
 * declined): the tolerance is what the operator said does not matter.
 *
 * What Kayenta's Mann-Whitney misses (statistics issue), as further checks,
 * each a hypothesis test with its own p-value (`checks`):
 *   8. Spread (continuous metrics): Brown–Forsythe, one-sided "the experiment
 *      is more spread out" (brown-forsythe.ts). Same median, much larger
 *      variance (kayenta#780) leaves Mann-Whitney blind. Harmful when the
 *      ratio of mean absolute deviations exceeds 1 + tolerance (relative), or
 *      their difference exceeds the tolerance (absolute); a rise in spread is
 *      treated as harmful whatever the direction.
 *   9. Rare events (count metrics: non-negative integers per step, given by
 *      `counts: true` or detected when at least half the values are 0): the
 *      exact conditional test of the two Poisson rates on the totals,
 *      against the tolerance boundary when it is relative (poisson-rate.ts).
 *      A few spikes of errors that Mann-Whitney reads as mostly ties
 *      (kayenta#426) are a clear rate ratio. For `pass`, the ratio's interval
 *      must also stay inside the band on the bad side(s).
 *  10. Power. `mde` is the smallest shift the rank test would detect with
 *      probability `power` (default 80%) at the observed sizes (power.ts),
 *      reported always, also when there are too few samples. A run that could
 *      not have detected a change as large as the band (mde > allowed, with
 *      allowed > 0) is `inconclusive`, never `pass` (spinnaker#6278: tiny
 *      samples passed). With a zero band the interval rule alone decides.
 * The checks of one metric are a family: `fail` needs a check whose
 * Holm-adjusted p-value is below alpha AND whose estimate is harmful. With a
 * single check this is rule 5 unchanged. `pValue`, `effect` and `ci` stay
 * Mann-Whitney's (Kayenta parity).
 *
 * Degenerate samples follow from `mannWhitney`'s documented choices: two
 * identical constant groups give effect 0 and interval [0, 0], hence `pass`;
 * two different constant groups give effect = the difference, interval
 * [d, d] and R's p-value, hence `fail` when d is beyond the band and the
 * groups are large enough for p < alpha (about 4 values each at alpha 0.05).
 *
 * Assumptions are those of the test (see mann-whitney.ts): samples independent
 * within and between groups. Autocorrelated time series inflate significance,
 * which makes `fail` too eager and `pass` too easy; the caller should thin
 * samples to roughly independent windows.
 *
 * Overall (`overallVerdict`): any `fail` → `fail`; else any `inconclusive` →
 * `inconclusive`; else `pass`. No metrics at all → `inconclusive`.
 *
 * Many metrics (`judgeFamily`): every check of every metric in a run is one
 * hypothesis, and Holm's procedure (holm.ts) controls the chance of any false
 * `fail` across all of them at alpha. Adjusting can only remove a rejection,
 * so a metric's `fail` may become `inconclusive` (its reason says why), never
 * the reverse; `pass` does not rest on p-values (the intersection–union
 * principle: all metrics must pass, each at level alpha, so no correction is
 * needed). `overallVerdict` applies it whenever the metrics carry checks
 * (verdicts from this version of `judgeMetric`), and then says so.
 */
import type { Tolerance } from '../spec/fields.ts';
import { brownForsythe } from './brown-forsythe.ts';
import { summarize, type Summary } from './describe.ts';
import { StatsInputError } from './errors.ts';
import { holmAdjust } from './holm.ts';
import { mannWhitney } from './mann-whitney.ts';
import { poissonRateTest } from './poisson-rate.ts';
import { minimumDetectableShift, pooledSd } from './power.ts';

export type Direction = 'increase' | 'decrease' | 'either';
export type Verdict = 'pass' | 'fail' | 'inconclusive';

export interface MetricJudgeInput {
  name: string;
  control: readonly number[];
  experiment: readonly number[];
  /** Which way of moving is harmful. */
  direction: Direction;
  tolerance: Tolerance;
  /** Significance level, strictly between 0 and 1; the interval is at 1 − alpha. */
  alpha: number;
  /** Fewest finite values each group needs before it is judged. */
  minSamples: number;
  /**
   * The values are event counts per step (errors, requests): enables the
   * rare-event check. Default: detected (non-negative integers, at least half
   * of them 0).
   */
  counts?: boolean;
  /** Power at which the minimum detectable effect is reported. Default 0.8. */
  power?: number;
}

export type CheckTest = 'mann-whitney' | 'brown-forsythe' | 'poisson-rate';

/** One hypothesis test behind a metric's verdict. */
export interface MetricCheck {
  test: CheckTest;
  /** H0 in words. */
  hypothesis: string;
  pValue: number;
  /** Holm-adjusted over the metric's checks (judgeMetric) or the run's (judgeFamily). */
  adjustedPValue: number;
  /** Mann-Whitney: the shift; Brown–Forsythe: the spread ratio; Poisson: the rate ratio. */
  estimate: number | null;
  ci: [number, number] | null;
  /** The estimate lies beyond the band on a harmful side. */
  harmful: boolean;
  /** adjustedPValue < alpha. */
  rejected: boolean;
}

export interface MetricVerdict {
  name: string;
  verdict: Verdict;
  /** One human sentence with the numbers. */
  reason: string;
  method: 'mann-whitney';
  control: Summary;
  experiment: Summary;
  /** Hodges–Lehmann shift, experiment − control, in metric units. */
  effect: number | null;
  /** effect / |control median|; null when the control median is 0 or unknown. */
  relativeEffect: number | null;
  /** (1 − alpha) interval on effect. */
  ci: [number, number] | null;
  pValue: number | null;
  alpha: number;
  tolerance: Tolerance;
  /** The band in metric units; 0 when a relative tolerance has no control median to scale. */
  allowed: number;
  /** The tests behind the verdict (absent on verdicts from before the statistics issue, and when too few samples). */
  checks?: MetricCheck[];
  /** Smallest shift the rank test detects with probability `power` at the observed sizes; null with < 2 values in all. */
  mde?: number | null;
  /** mde / |control median|; null when that median is 0 or unknown. */
  mdeRelative?: number | null;
  power?: number;
}

export function judgeMetric(input: MetricJudgeInput): MetricVerdict {
  const { name, direction, tolerance, alpha, minSamples } = input;
  const power = input.power ?? 0.8;
  if (!(alpha > 0 && alpha < 1)) throw new StatsInputError(`${name}: alpha must be strictly between 0 and 1, got ${alpha}`);
  if (!(Number.isFinite(tolerance.value) && tolerance.value >= 0)) {
    throw new StatsInputError(`${name}: tolerance must be a finite non-negative number, got ${tolerance.value}`);
  }
  if (!(minSamples >= 0)) throw new StatsInputError(`${name}: minSamples must be ≥ 0, got ${minSamples}`);
  if (!(power > 0 && power < 1)) throw new StatsInputError(`${name}: power must be strictly between 0 and 1, got ${power}`);

  const control = input.control.filter((v) => Number.isFinite(v));
  const experiment = input.experiment.filter((v) => Number.isFinite(v));
  const dropped = input.control.length - control.length + (input.experiment.length - experiment.length);
  const droppedNote = dropped === 0 ? '' : ` (${dropped} non-finite ${dropped === 1 ? 'sample' : 'samples'} ignored)`;
  const controlSummary = summarize(control);
  const experimentSummary = summarize(experiment);
  const controlMedian = controlSummary.median;

  const allowed =
    tolerance.kind === 'absolute' ? tolerance.value : controlMedian === null ? 0 : tolerance.value * Math.abs(controlMedian);
  const sd = pooledSd(control, experiment);
  const mde = sd === null ? null : minimumDetectableShift({ nX: experiment.length, nY: control.length, sd, alpha, power });
  const mdeRelative = mde === null || controlMedian === null || controlMedian === 0 ? null : mde / Math.abs(controlMedian);
  const base = {
    name,
    method: 'mann-whitney' as const,
    control: controlSummary,
    experiment: experimentSummary,
    alpha,
    tolerance,
    allowed,
    mde,
    mdeRelative,
    power,
  };
  const mdeNote = mde === null ? '' : ` At these sizes the smallest shift detectable with ${percent(power)} power is ±${num(mde)}.`;

  // An empty group cannot be judged whatever minSamples says.
  const needed = Math.max(minSamples, 1);
  if (controlSummary.n < needed || experimentSummary.n < needed) {
    return {
      ...base,
      verdict: 'inconclusive',
      reason:
        `${name}: too few samples to judge: control has ${controlSummary.n} and experiment ` +
        `${experimentSummary.n}, at least ${needed} needed in each group${droppedNote}.${mdeNote}`,
      effect: null,
      relativeEffect: null,
      ci: null,
      pValue: null,
    };
  }

  const mw = mannWhitney(experiment, control, { alternative: 'two.sided', confLevel: 1 - alpha });
  const effect = mw.estimate;
  const [lo, hi] = mw.confInt;
  const pValue = mw.pValue;
  const relativeEffect = controlMedian === null || controlMedian === 0 ? null : effect / Math.abs(controlMedian);

  const badUp = direction !== 'decrease';
  const badDown = direction !== 'increase';
  const harmful = (badUp && effect > allowed) || (badDown && effect < -allowed);
  const ruledOut = (!badUp || hi <= allowed) && (!badDown || lo >= -allowed);

  const checks: MetricCheck[] = [
    {
      test: 'mann-whitney',
      hypothesis: 'experiment and control have the same distribution (no shift)',
      pValue,
      adjustedPValue: pValue,
      estimate: effect,
      ci: [lo, hi],
      harmful,
      rejected: false,
    },
  ];
  const isCounts = input.counts ?? looksLikeSparseCounts(control, experiment);
  let rateRuledOut = true;
  if (isCounts) {
    const rare = rareEventCheck(control, experiment, direction, tolerance, alpha);
    checks.push(rare.check);
    rateRuledOut = rare.ruledOut;
  } else if (control.length >= 2 && experiment.length >= 2) {
    checks.push(spreadCheck(control, experiment, tolerance));
  }
  applyHolm(checks, alpha);

  const failing = checks.filter((c) => c.rejected && c.harmful);
  const powerTooLow = allowed > 0 && mde !== null && mde > allowed;
  const verdict: Verdict = failing.length > 0 ? 'fail' : ruledOut && rateRuledOut && !powerTooLow ? 'pass' : 'inconclusive';

  const change = direction === 'increase' ? 'rise' : direction === 'decrease' ? 'drop' : 'change';
  const band = bandText(tolerance, allowed, controlMedian);
  const shift = `experiment − control ${signed(effect)}${relativeEffect === null ? '' : ` (${signedPercent(relativeEffect)})`}`;
  const evidence = `${percent(1 - alpha)} CI ${signed(lo)} to ${signed(hi)}, p=${pText(pValue)}`;
  const constant =
    mw.degenerate === null
      ? ''
      : mw.degenerate === 'all-tied'
        ? `; every sample in both groups is ${num(controlMedian ?? 0)}`
        : `; both groups are constant (experiment ${num(experimentSummary.median ?? 0)}, control ${num(controlMedian ?? 0)})`;
  const holmNote = checks.length > 1 ? ` (Holm over ${checks.length} tests)` : '';
  const others = checks.slice(1).map((c) => `; ${checkText(c, alpha)}`).join('');

  let reason: string;
  if (verdict === 'fail' && failing.some((c) => c.test === 'mann-whitney')) {
    reason =
      `${name}: significant ${change} beyond the allowed ${band}: ${shift}, ` +
      `${evidence} < alpha ${num(alpha)}${holmNote}${constant}${others}${droppedNote}.`;
  } else if (verdict === 'fail') {
    const what = failing.map((c) => (c.test === 'brown-forsythe' ? 'spread' : 'event rate')).join(' and ');
    reason =
      `${name}: significant rise in ${what} beyond the allowed ${band}${others}${holmNote}; ` +
      `the rank test alone saw ${shift}, ${evidence}${constant}${droppedNote}.`;
  } else if (verdict === 'pass') {
    reason = `${name}: a ${change} beyond the allowed ${band} is ruled out: ${shift}, ${evidence}${constant}${others}${droppedNote}.`;
  } else if (ruledOut && rateRuledOut && powerTooLow) {
    reason =
      `${name}: too little power to rule out a ${change} beyond the allowed ${band}: the smallest shift detectable ` +
      `with ${percent(power)} power at these sizes is ±${num(mde ?? 0)}; ${shift}, ${evidence}${constant}${others}${droppedNote}.`;
  } else {
    reason =
      `${name}: cannot rule out a ${change} beyond the allowed ${band}: ${shift}, ${evidence}${constant}${others}${droppedNote}.`;
  }

  return { ...base, verdict, reason, effect, relativeEffect, ci: [lo, hi], pValue, checks };
}

/** Non-negative integers, at least half of them 0: per-step counts of rare events. */
function looksLikeSparseCounts(control: readonly number[], experiment: readonly number[]): boolean {
  const all = [...control, ...experiment];
  if (all.length === 0) return false;
  let zeros = 0;
  for (const v of all) {
    if (!(Number.isInteger(v) && v >= 0)) return false;
    if (v === 0) zeros++;
  }
  return zeros * 2 >= all.length;
}

function spreadCheck(control: readonly number[], experiment: readonly number[], tolerance: Tolerance): MetricCheck {
  const bf = brownForsythe(experiment, control, { alternative: 'greater' });
  const harmful =
    tolerance.kind === 'relative'
      ? bf.spreadRatio !== null && bf.spreadRatio > 1 + tolerance.value
      : bf.spreadX - bf.spreadY > tolerance.value;
  return {
    test: 'brown-forsythe',
    hypothesis: 'the experiment is not more spread out than the control (mean absolute deviation from the median)',
    pValue: bf.pValue,
    adjustedPValue: bf.pValue,
    estimate: bf.spreadRatio,
    ci: null,
    harmful,
    rejected: false,
  };
}

function rareEventCheck(
  control: readonly number[],
  experiment: readonly number[],
  direction: Direction,
  tolerance: Tolerance,
  alpha: number,
): { check: MetricCheck; ruledOut: boolean } {
  const sum = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0);
  const x = sum(experiment);
  const y = sum(control);
  const tX = experiment.length;
  const tY = control.length;
  // Against the boundary for a relative band; against "no change" for an absolute one, whose
  // harm is then judged on the difference of the mean counts (as for the rank test).
  const rel = tolerance.kind === 'relative' ? tolerance.value : 0;
  const upper = poissonRateTest(x, y, tX, tY, { ratio: 1 + rel, alternative: 'greater', confLevel: 1 - alpha });
  const lower = rel < 1 ? poissonRateTest(x, y, tX, tY, { ratio: 1 - rel, alternative: 'less', confLevel: 1 - alpha }) : null;
  const pUp = upper.pValue;
  const pDown = lower?.pValue ?? 1;
  const pValue = direction === 'increase' ? pUp : direction === 'decrease' ? pDown : Math.min(1, 2 * Math.min(pUp, pDown));
  const two = poissonRateTest(x, y, tX, tY, { alternative: 'two.sided', confLevel: 1 - alpha });
  const ratio = two.estimate;
  const diff = x / tX - y / tY;
  const up = tolerance.kind === 'relative' ? ratio !== null && ratio > 1 + rel : diff > tolerance.value;
  const down = tolerance.kind === 'relative' ? ratio !== null && ratio < 1 - rel : diff < -tolerance.value;
  const harmful = (direction !== 'decrease' && up) || (direction !== 'increase' && down);
  const [ciLo, ciHi] = two.confInt;
  const ruledOut =
    tolerance.kind !== 'relative' ||
    ((direction === 'decrease' || ciHi <= 1 + rel) && (direction === 'increase' || ciLo >= 1 - rel));
  return {
    check: {
      test: 'poisson-rate',
      hypothesis: `the experiment's event rate per step is within the band of the control's (${x} vs ${y} events in ${tX} and ${tY} steps)`,
      pValue,
      adjustedPValue: pValue,
      estimate: ratio,
      ci: [ciLo, ciHi],
      harmful,
      rejected: false,
    },
    ruledOut,
  };
}

function applyHolm(checks: MetricCheck[], alpha: number): void {
  const adjusted = holmAdjust(checks.map((c) => c.pValue));
  checks.forEach((c, i) => {
    c.adjustedPValue = adjusted[i]!;
    c.rejected = adjusted[i]! < alpha;
  });
}

function checkText(c: MetricCheck, alpha: number): string {
  const p = `p=${pText(c.pValue)}${c.adjustedPValue !== c.pValue ? ` (Holm ${pText(c.adjustedPValue)})` : ''}`;
  const sig = c.rejected ? ` < alpha ${num(alpha)}` : '';
  if (c.test === 'brown-forsythe') {
    const ratio =
      c.estimate === null
        ? 'no spread in either group'
        : c.estimate === Infinity
          ? 'experiment spread out, control constant'
          : `experiment ${num(c.estimate)}× the control's`;
    return `spread (Brown–Forsythe): ${ratio}, ${p}${sig}`;
  }
  const ratio = c.estimate === null ? 'no events in either group' : `rate ratio ${c.estimate === Infinity ? 'Infinity' : num(c.estimate)}`;
  const ci = c.ci === null ? '' : `, CI ${num(c.ci[0])} to ${c.ci[1] === Infinity ? 'Infinity' : num(c.ci[1])}`;
  return `event rate (exact Poisson): ${ratio}${ci}, ${p}${sig}`;
}

export interface FamilyCorrection {
  method: 'holm' | 'none';
  alpha: number;
  /** How many hypotheses (checks across all metrics) the correction covered. */
  tests: number;
}

export interface OverallVerdict {
  verdict: Verdict;
  reason: string;
  /** Present when the metrics carried checks and a family-wise correction was applied. */
  correction?: FamilyCorrection;
}

export function overallVerdict(metrics: readonly MetricVerdict[]): OverallVerdict {
  if (metrics.some((m) => m.checks !== undefined)) {
    const { verdict, reason, correction } = judgeFamily(metrics);
    return { verdict, reason, correction };
  }
  return aggregate(metrics, '');
}

/**
 * Family-wise error control across a run's metrics: Holm over every check of
 * every metric (see the module comment). Returns the adjusted metric verdicts
 * (copies; a `fail` that does not survive becomes `inconclusive`), the overall
 * verdict, and the correction applied. Metrics without checks (too few samples,
 * or older verdicts) keep their verdict.
 */
export function judgeFamily(
  metrics: readonly MetricVerdict[],
  opts: { method?: 'holm' | 'none'; alpha?: number } = {},
): OverallVerdict & { correction: FamilyCorrection; metrics: MetricVerdict[] } {
  const method = opts.method ?? 'holm';
  const alpha = opts.alpha ?? (metrics.length === 0 ? 0.05 : Math.min(...metrics.map((m) => m.alpha)));
  const all = metrics.flatMap((m) => m.checks ?? []);
  const adjusted = method === 'holm' ? holmAdjust(all.map((c) => c.pValue)) : all.map((c) => c.pValue);
  let k = 0;
  const out = metrics.map((m): MetricVerdict => {
    if (m.checks === undefined) return m;
    const checks = m.checks.map((c) => {
      const adjustedPValue = adjusted[k++]!;
      return { ...c, adjustedPValue, rejected: adjustedPValue < alpha };
    });
    const copy: MetricVerdict = { ...m, checks };
    if (m.verdict === 'fail' && !checks.some((c) => c.rejected && c.harmful)) {
      const best = Math.min(...checks.filter((c) => c.harmful).map((c) => c.adjustedPValue));
      copy.verdict = 'inconclusive';
      copy.reason =
        `${m.name}: not significant once corrected for ${all.length} tests across the run's metrics ` +
        `(Holm, smallest adjusted p=${pText(best)} ≥ alpha ${num(alpha)}); before correction: ${m.reason}`;
    }
    return copy;
  });
  const correction: FamilyCorrection = { method, alpha, tests: all.length };
  const note = method === 'holm' && all.length > 1 ? ` (Holm across ${all.length} tests)` : '';
  return { ...aggregate(out, note), correction, metrics: out };
}

function aggregate(metrics: readonly MetricVerdict[], note: string): { verdict: Verdict; reason: string } {
  const total = metrics.length;
  if (total === 0) return { verdict: 'inconclusive', reason: 'no metrics to judge' };
  const of = (names: string[]): string => `${names.length} of ${total} ${total === 1 ? 'metric' : 'metrics'}`;
  const failed = metrics.filter((m) => m.verdict === 'fail').map((m) => m.name);
  if (failed.length > 0) return { verdict: 'fail', reason: `${of(failed)} failed: ${failed.join(', ')}${note}` };
  const unsure = metrics.filter((m) => m.verdict === 'inconclusive').map((m) => m.name);
  if (unsure.length > 0) return { verdict: 'inconclusive', reason: `${of(unsure)} inconclusive: ${unsure.join(', ')}${note}` };
  return { verdict: 'pass', reason: `all ${total} ${total === 1 ? 'metric' : 'metrics'} passed: ${metrics.map((m) => m.name).join(', ')}${note}` };
}

function bandText(tolerance: Tolerance, allowed: number, controlMedian: number | null): string {
  if (tolerance.kind === 'absolute') return num(allowed);
  if (controlMedian === 0) return `0 (${percent(tolerance.value)} of a control median of 0, so any change counts)`;
  return `${num(allowed)} (${percent(tolerance.value)} of the control median ${num(controlMedian ?? 0)})`;
}

/** Four significant digits, more for large values so that 123457 does not print as 1.235e+5. */
function num(v: number): string {
  if (v === 0) return '0';
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e15) return v.toPrecision(3);
  return String(Number(v.toPrecision(Math.max(4, Math.ceil(Math.log10(a))))));
}

function signed(v: number): string {
  return v > 0 ? `+${num(v)}` : num(v);
}

function percent(fraction: number): string {
  return `${Number((fraction * 100).toPrecision(3))}%`;
}

function signedPercent(fraction: number): string {
  return fraction > 0 ? `+${percent(fraction)}` : percent(fraction);
}

function pText(p: number): string {
  return p < 1e-3 ? p.toExponential(1) : String(Number(p.toPrecision(2)));
}
