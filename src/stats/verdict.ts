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
 */
import type { Tolerance } from '../spec/fields.ts';
import { summarize, type Summary } from './describe.ts';
import { StatsInputError } from './errors.ts';
import { mannWhitney } from './mann-whitney.ts';

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
}

export function judgeMetric(input: MetricJudgeInput): MetricVerdict {
  const { name, direction, tolerance, alpha, minSamples } = input;
  if (!(alpha > 0 && alpha < 1)) throw new StatsInputError(`${name}: alpha must be strictly between 0 and 1, got ${alpha}`);
  if (!(Number.isFinite(tolerance.value) && tolerance.value >= 0)) {
    throw new StatsInputError(`${name}: tolerance must be a finite non-negative number, got ${tolerance.value}`);
  }
  if (!(minSamples >= 0)) throw new StatsInputError(`${name}: minSamples must be ≥ 0, got ${minSamples}`);

  const control = input.control.filter((v) => Number.isFinite(v));
  const experiment = input.experiment.filter((v) => Number.isFinite(v));
  const dropped = input.control.length - control.length + (input.experiment.length - experiment.length);
  const droppedNote = dropped === 0 ? '' : ` (${dropped} non-finite ${dropped === 1 ? 'sample' : 'samples'} ignored)`;
  const controlSummary = summarize(control);
  const experimentSummary = summarize(experiment);
  const controlMedian = controlSummary.median;

  const allowed =
    tolerance.kind === 'absolute' ? tolerance.value : controlMedian === null ? 0 : tolerance.value * Math.abs(controlMedian);
  const base = {
    name,
    method: 'mann-whitney' as const,
    control: controlSummary,
    experiment: experimentSummary,
    alpha,
    tolerance,
    allowed,
  };

  // An empty group cannot be judged whatever minSamples says.
  const needed = Math.max(minSamples, 1);
  if (controlSummary.n < needed || experimentSummary.n < needed) {
    return {
      ...base,
      verdict: 'inconclusive',
      reason:
        `${name}: too few samples to judge: control has ${controlSummary.n} and experiment ` +
        `${experimentSummary.n}, at least ${needed} needed in each group${droppedNote}.`,
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
  const verdict: Verdict = pValue < alpha && harmful ? 'fail' : ruledOut ? 'pass' : 'inconclusive';

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

  let reason: string;
  if (verdict === 'fail') {
    reason =
      `${name}: significant ${change} beyond the allowed ${band}: ${shift}, ` +
      `${evidence} < alpha ${num(alpha)}${constant}${droppedNote}.`;
  } else if (verdict === 'pass') {
    reason = `${name}: a ${change} beyond the allowed ${band} is ruled out: ${shift}, ${evidence}${constant}${droppedNote}.`;
  } else {
    reason =
      `${name}: cannot rule out a ${change} beyond the allowed ${band}: ${shift}, ${evidence}${constant}${droppedNote}.`;
  }

  return { ...base, verdict, reason, effect, relativeEffect, ci: [lo, hi], pValue };
}

export function overallVerdict(metrics: readonly MetricVerdict[]): { verdict: Verdict; reason: string } {
  const total = metrics.length;
  if (total === 0) return { verdict: 'inconclusive', reason: 'no metrics to judge' };
  const of = (names: string[]): string => `${names.length} of ${total} ${total === 1 ? 'metric' : 'metrics'}`;
  const failed = metrics.filter((m) => m.verdict === 'fail').map((m) => m.name);
  if (failed.length > 0) return { verdict: 'fail', reason: `${of(failed)} failed: ${failed.join(', ')}` };
  const unsure = metrics.filter((m) => m.verdict === 'inconclusive').map((m) => m.name);
  if (unsure.length > 0) return { verdict: 'inconclusive', reason: `${of(unsure)} inconclusive: ${unsure.join(', ')}` };
  return { verdict: 'pass', reason: `all ${total} ${total === 1 ? 'metric' : 'metrics'} passed: ${metrics.map((m) => m.name).join(', ')}` };
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
