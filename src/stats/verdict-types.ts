/** The shapes of a metric's verdict and of the judges' input, shared by the judges (paired-judge.ts, kayenta-judge.ts) and verdict.ts. */
import type { Tolerance } from '../spec/fields.ts';
import type { Summary } from './describe.ts';
import { StatsInputError } from './errors.ts';

export type Direction = 'increase' | 'decrease' | 'either';
export type Verdict = 'pass' | 'fail' | 'inconclusive';
/** What a spread change does to a metric: nothing, a reported finding, or a judged check that can fail it. */
export type SpreadPolicy = 'ignore' | 'report' | 'fail';
/** `paired`: dependence-aware, the default (ADR 013). `mann-whitney`: Kayenta parity, assumes independent samples (ADR 002). */
export type JudgeMethod = 'paired' | 'mann-whitney';

export type CheckTest =
  | 'mann-whitney'
  | 'brown-forsythe'
  | 'poisson-rate'
  | 'paired-ratio'
  | 'paired-difference'
  | 'paired-spread'
  | 'overdispersed-poisson';

/** What every judge reads (paired-judge.ts, kayenta-judge.ts, verdict.ts's judgeMetric). */
export interface JudgeInputBase {
  name: string;
  control: readonly number[];
  experiment: readonly number[];
  /** Which way of moving is harmful. */
  direction: Direction;
  tolerance: Tolerance;
  /** Significance level, strictly between 0 and 1; intervals are at 1 − alpha. */
  alpha: number;
  /** Fewest finite values (paired steps) each group needs before it is judged. */
  minSamples: number;
  /** The values are event counts per step: enables the rare-event check. Default: detected. */
  counts?: boolean;
  /** Power at which the minimum detectable effect is reported. Default 0.8. */
  power?: number;
  /** What a spread change does. Default `report`. */
  spread?: SpreadPolicy;
}

/** The checks every judge makes of its input; returns the power to use. */
export function checkJudgeInput(input: JudgeInputBase): number {
  const { name, alpha, tolerance, minSamples } = input;
  const power = input.power ?? 0.8;
  if (!(alpha > 0 && alpha < 1)) throw new StatsInputError(`${name}: alpha must be strictly between 0 and 1, got ${alpha}`);
  if (!(Number.isFinite(tolerance.value) && tolerance.value >= 0)) {
    throw new StatsInputError(`${name}: tolerance must be a finite non-negative number, got ${tolerance.value}`);
  }
  if (!(minSamples >= 0)) throw new StatsInputError(`${name}: minSamples must be ≥ 0, got ${minSamples}`);
  if (!(power > 0 && power < 1)) throw new StatsInputError(`${name}: power must be strictly between 0 and 1, got ${power}`);
  return power;
}

/** One hypothesis test behind a metric's verdict. */
export interface MetricCheck {
  test: CheckTest;
  /** H0 in words. */
  hypothesis: string;
  pValue: number;
  /** Holm-adjusted over the judged checks of the metric (judgeMetric) or of the run (judgeFamily); equals pValue when not judged. */
  adjustedPValue: number;
  /** Level: the shift or ratio; spread: the spread ratio; Poisson: the rate ratio. */
  estimate: number | null;
  ci: [number, number] | null;
  /** The estimate lies beyond the band on a harmful side. */
  harmful: boolean;
  /** Judged and adjustedPValue < alpha. */
  rejected: boolean;
  /** Can fail the metric (in the Holm family). False for a reported-only finding (spread: report). Absent = true. */
  judged?: boolean;
}

export interface MetricVerdict {
  name: string;
  verdict: Verdict;
  /** One human sentence with the numbers. */
  reason: string;
  method: JudgeMethod;
  control: Summary;
  experiment: Summary;
  /** Experiment − control in metric units: Hodges–Lehmann shift (mann-whitney) or difference of means (paired). */
  effect: number | null;
  /** effect / |control centre|; null when that is 0 or unknown. */
  relativeEffect: number | null;
  /** (1 − alpha) interval on effect, in metric units. */
  ci: [number, number] | null;
  /** (1 − alpha) interval on the relative effect (paired, relative tolerance: Fieller's interval on the ratio − 1). */
  relativeCi?: [number, number];
  /** mann-whitney: the rank test's p; paired: the harm test's p against the tolerance boundary (before Holm). */
  pValue: number | null;
  alpha: number;
  tolerance: Tolerance;
  /** The band in metric units; 0 when a relative tolerance has no control centre to scale. */
  allowed: number;
  direction?: Direction;
  /** The tests behind the verdict (absent when too few samples). */
  checks?: MetricCheck[];
  /** Smallest shift detectable with probability `power` at the observed sizes; null with too little data. */
  mde?: number | null;
  mdeRelative?: number | null;
  power?: number;
  /** Independent units behind a paired verdict. */
  units?: { layout: 'windows' | 'batches'; count: number; df: number; stride: number; historyDf?: number };
  /** Steps where only one group had a value (paired judge). */
  unpaired?: number;
  /** Why there is no test (too few samples or units); the verdict is then inconclusive. */
  insufficient?: string;
  /** Harm beyond tolerance ruled out by the intervals (before the power rule). */
  safe?: boolean;
  /** The smallest detectable change exceeds the band: a pass would be luck. */
  powerTooLow?: boolean;
  /** How the query's values were read (query-shape.ts), for the reader. */
  shape?: string;
  /** A detail of the data worth a clause in the reason (constant groups). */
  note?: string;
  /** Non-finite samples ignored. */
  dropped?: number;
}
