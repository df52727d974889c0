/**
 * Sequential test on a continuous per-step metric (latency percentiles,
 * ratios, any value per step and group): an anytime-valid normal-mixture test
 * and confidence sequence on the per-step differences experiment − control,
 * with a long-run (autocorrelation-aware) variance.
 *
 * Observation. One look = the pair (control_t, experiment_t) of the same step.
 * Pairing by step removes what both groups share (load, time of day), which is
 * the point of a concurrent control group (ChAP).
 *
 * Effect. Δ = μ_e − μ_c, the mean per-step difference. `estimate` is its
 * running mean and `ci` a (1 − alpha) confidence sequence on it.
 *
 * Hypotheses, tested against the tolerance boundary (sequential-types.ts):
 *   `increase`: harmful ⇔ Δ > band, `decrease`: harmful ⇔ Δ < −band, `either`: both;
 * band = the absolute tolerance, or tolerance × |μ_c| for a relative one.
 * A relative boundary is tested exactly, without plugging in μ_c: Δ > tol·μ_c
 * ⇔ E[e − (1 + tol)·c] > 0 (μ_c > 0), so the test runs on the per-step
 * contrast e_t − (1 + tol)·c_t. Only the sign of μ_c is taken from the data
 * (relative tolerances are meant for positive metrics).
 *
 * Test. For a contrast d_t with sum S and long-run variance σ², s = S/σ̂ feeds
 * the one-sided normal mixture of normal-mixture.ts (harm and safety) and the
 * two-sided one (confidence sequence), i.e. the asymptotic confidence
 * sequences of Waudby-Smith et al. (2024) with a plug-in variance.
 *
 * Variance, honestly. σ̂² is the batch-means long-run variance of the contrast,
 * the largest over dyadic batch sizes with ≥ `minBatches` batches
 * (long-run-variance.ts, with lugsail bias correction), so an autocorrelated
 * series is not mistaken for an independent one; and since it rests on few
 * batches, the standardized sum is read as a Student t on batches − 1 degrees
 * of freedom (normal-mixture.ts). No rejection before `minLooks` looks: a
 * variance from a handful of steps is too noisy to trust. These three
 * choices were calibrated in the bench: with the plain maximum of batch means
 * and a normal reading, AR(1) latencies false-alarmed at ~10% instead of 5%.
 *
 * Assumptions. The contrast is stationary and weakly dependent within the
 * monitored window (a trend shared by both groups cancels; a trend in only one
 * group is an effect). Validity is asymptotic (large n); the bench
 * (`npm run bench:stats`) measures the false-alarm rate under continuous
 * monitoring on lognormal, AR(1)-correlated latencies.
 */
import type { Tolerance } from '../spec/fields.ts';
import { StatsInputError } from './errors.ts';
import { addPair, combinedSum, initBatchMeans, longRunVariance, type PairedBatchMeans } from './long-run-variance.ts';
import { logMixtureOneSided, mixtureRadius, mixtureRho2, standardizedSum, tRadius } from './normal-mixture.ts';
import {
  checkAlpha,
  checkDirection,
  fromStoredHi,
  fromStoredLo,
  intersect,
  pFromLogMax,
  runningMax,
  verdictOf,
  type SequentialDirection,
  type SequentialResult,
  type StoredBound,
} from './sequential-types.ts';
import { logMeanExp2 } from './special.ts';

export interface SequentialMeanParams {
  /** Default 0.05. */
  alpha?: number;
  /** Which way is harmful. Default `either`. */
  direction?: SequentialDirection;
  /** Absolute (metric units) or relative to the control mean. Default absolute 0. */
  tolerance?: Tolerance;
  /** Looks at which the confidence sequence is tightest (mixture scale). Default 100. */
  targetLooks?: number;
  /** No rejection before this many looks. Default 30. */
  minLooks?: number;
  /** Fewest batches a batch size needs to count in the variance. Default 10. */
  minBatches?: number;
}

export interface SequentialMeanState {
  kind: 'sequential-mean';
  version: 1;
  params: Required<SequentialMeanParams>;
  looks: number;
  /** Pairs (experiment, control). */
  bm: PairedBatchMeans;
  logHarmMax: number;
  logSafeUpperMax: number;
  logSafeLowerMax: number;
  ciLo: StoredBound;
  ciHi: StoredBound;
  stoppedAt: number | null;
  safeAt: number | null;
  /** The long-run variance of e − c at the last look, and its batch size. */
  variance: number | null;
  batchSize: number | null;
}

export interface MeanObservation {
  control: number;
  experiment: number;
}

export function initSequentialMean(params: SequentialMeanParams = {}): SequentialMeanState {
  const p: Required<SequentialMeanParams> = {
    alpha: params.alpha ?? 0.05,
    direction: params.direction ?? 'either',
    tolerance: params.tolerance ?? { kind: 'absolute', value: 0 },
    targetLooks: params.targetLooks ?? 100,
    minLooks: params.minLooks ?? 30,
    minBatches: params.minBatches ?? 10,
  };
  checkAlpha(p.alpha);
  checkDirection(p.direction);
  if (!(Number.isFinite(p.tolerance.value) && p.tolerance.value >= 0)) {
    throw new StatsInputError(`tolerance must be a finite number ≥ 0, got ${p.tolerance.value}`);
  }
  if (!(p.targetLooks >= 1)) throw new StatsInputError(`targetLooks must be ≥ 1, got ${p.targetLooks}`);
  if (!(p.minLooks >= 1 && Number.isInteger(p.minLooks))) throw new StatsInputError(`minLooks must be an integer ≥ 1, got ${p.minLooks}`);
  if (!(p.minBatches >= 2 && Number.isInteger(p.minBatches))) throw new StatsInputError(`minBatches must be an integer ≥ 2, got ${p.minBatches}`);
  return {
    kind: 'sequential-mean',
    version: 1,
    params: p,
    looks: 0,
    bm: initBatchMeans(),
    logHarmMax: 0,
    logSafeUpperMax: 0,
    logSafeLowerMax: 0,
    ciLo: null,
    ciHi: null,
    stoppedAt: null,
    safeAt: null,
    variance: null,
    batchSize: null,
  };
}

/** One look. Throws StatsInputError on a non-finite value (filter NaN steps out, or skip the look). */
export function updateSequentialMean(state: SequentialMeanState, obs: MeanObservation): SequentialMeanState {
  if (!Number.isFinite(obs.control) || !Number.isFinite(obs.experiment)) {
    throw new StatsInputError(`look ${state.looks}: control and experiment must be finite numbers, got ${obs.control} and ${obs.experiment}`);
  }
  const { alpha, direction, tolerance, targetLooks, minLooks, minBatches } = state.params;
  const look = state.looks;
  const bm = addPair(state.bm, obs.experiment, obs.control);
  const n = bm.n;
  const next: SequentialMeanState = { ...state, looks: look + 1, bm };

  const raw = longRunVariance(bm, 1, -1, minBatches);
  next.variance = raw?.variance ?? null;
  next.batchSize = raw?.batchSize ?? null;
  if (raw === null || n < minLooks) return next;

  const rho2 = mixtureRho2(alpha, targetLooks);
  const meanC = combinedSum(bm, 0, 1) / n;
  const sUpper = standardizedContrast(bm, tolerance, meanC, 1, minBatches);
  const sLower = direction === 'either' || tolerance.value !== 0 ? standardizedContrast(bm, tolerance, meanC, -1, minBatches) : sUpper;

  const harm =
    direction === 'increase'
      ? logMixtureOneSided(sUpper, n, rho2)
      : direction === 'decrease'
        ? logMixtureOneSided(-sLower, n, rho2)
        : logMeanExp2(logMixtureOneSided(sUpper, n, rho2), logMixtureOneSided(-sLower, n, rho2));
  next.logHarmMax = runningMax(state.logHarmMax, harm);
  if (direction !== 'decrease') next.logSafeUpperMax = runningMax(state.logSafeUpperMax, logMixtureOneSided(-sUpper, n, rho2));
  if (direction !== 'increase') next.logSafeLowerMax = runningMax(state.logSafeLowerMax, logMixtureOneSided(sLower, n, rho2));

  const threshold = Math.log(1 / alpha);
  if (next.stoppedAt === null && next.logHarmMax >= threshold) next.stoppedAt = look;
  if (next.safeAt === null && safetyLogMax(next) >= threshold) next.safeAt = look;

  const center = combinedSum(bm, 1, -1) / n;
  const radius = (Math.sqrt(raw.variance / n) * tRadius(mixtureRadius(n, rho2, alpha), n, raw.df));
  [next.ciLo, next.ciHi] = intersect(state.ciLo, state.ciHi, center - radius, center + radius);
  return next;
}

export function resultSequentialMean(state: SequentialMeanState): SequentialResult {
  const { alpha, direction, tolerance } = state.params;
  const n = state.bm.n;
  const estimate = n === 0 ? null : combinedSum(state.bm, 1, -1) / n;
  const meanC = n === 0 ? null : combinedSum(state.bm, 0, 1) / n;
  const band = tolerance.kind === 'absolute' ? tolerance.value : meanC === null ? null : tolerance.value * Math.abs(meanC);
  return {
    method: 'sequential-mean',
    n: state.looks,
    pValue: pFromLogMax(state.logHarmMax),
    safetyPValue: pFromLogMax(safetyLogMax(state)),
    estimate,
    relativeEffect: estimate === null || meanC === null || meanC === 0 ? null : estimate / Math.abs(meanC),
    ci: [fromStoredLo(state.ciLo), fromStoredHi(state.ciHi)],
    stoppedAt: state.stoppedAt,
    safeAt: state.safeAt,
    verdict: verdictOf(state.stoppedAt, state.safeAt),
    alpha,
    direction,
    boundary: {
      lower: direction === 'increase' || band === null ? null : -band,
      upper: direction === 'decrease' || band === null ? null : band,
    },
  };
}

/** Feed every look in order; the same as calling update once per look. */
export function sequentialMean(looks: readonly MeanObservation[], params: SequentialMeanParams = {}): SequentialResult {
  let s = initSequentialMean(params);
  for (const o of looks) s = updateSequentialMean(s, o);
  return resultSequentialMean(s);
}

/**
 * s for the contrast whose mean is Δ − band (side +1) or Δ + band (side −1):
 * e − c ∓ δ for an absolute band, e − (1 ± t·sign μ_c)·c for a relative one.
 */
function standardizedContrast(bm: PairedBatchMeans, tolerance: Tolerance, meanC: number, side: 1 | -1, minBatches: number): number {
  let wb = -1;
  let offset = 0;
  if (tolerance.kind === 'relative') wb = -(1 + side * tolerance.value * Math.sign(meanC || 1));
  else offset = side * tolerance.value;
  const sum = combinedSum(bm, 1, wb) - bm.n * offset;
  const lrv = longRunVariance(bm, 1, wb, minBatches);
  return lrv === null ? 0 : standardizedSum(sum, lrv.variance, bm.n, lrv.df);
}

function safetyLogMax(state: SequentialMeanState): number {
  const d = state.params.direction;
  if (d === 'increase') return state.logSafeUpperMax;
  if (d === 'decrease') return state.logSafeLowerMax;
  // Both sides must be ruled out: the weaker of the two.
  return Math.min(state.logSafeUpperMax, state.logSafeLowerMax);
}
