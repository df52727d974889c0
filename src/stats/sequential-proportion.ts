/**
 * Sequential test on error proportions: errors / requests in each group per
 * look, compared as a ratio of error rates with an anytime-valid p-value and a
 * confidence sequence on the ratio.
 *
 * Effect. ρ = p_e / p_c, the experiment's error rate over the control's.
 * At look t with requests n_e, n_c and errors x_e, x_c, let π_t = n_e/(n_e + n_c)
 * and
 *     a_t = x_e·(1 − π_t),   b_t = x_c·π_t.
 * Then E[a_t] = p_e·n_e·n_c/(n_e + n_c) and E[b_t] = p_c·n_e·n_c/(n_e + n_c),
 * so E[a_t − r·b_t] = 0 exactly when ρ = r, whatever the traffic does from
 * look to look. Σa/Σb is the Mantel–Haenszel rate ratio stratified by look
 * (Rothman, Greenland & Lash, *Modern Epidemiology*, 3rd ed., ch. 15), the
 * `estimate`.
 *
 * Hypotheses (sequential-types.ts), relative tolerance t: `increase` (more
 * errors is bad, the usual case): harm H0 ρ ≤ 1 + t; `decrease`: ρ ≥ 1 − t;
 * `either`: ρ in [1 − t, 1 + t]. Each is a test that the contrast a_t − r·b_t
 * (r the boundary) has mean ≤ 0 or ≥ 0, run with the one-sided normal mixture
 * and the batch-means long-run variance, Student-t reading and burn-in of
 * sequential-mean.ts.
 *
 * Confidence sequence. {r ≥ 0: |Σa − rΣb| < R·σ̂(r)} with σ̂²(r) the long-run
 * variance of a − r·b (a quadratic in r at each batch size): a sequential
 * Fieller interval, solved in closed form per batch size; the hull of the
 * union over batch sizes is reported.
 *
 * Why not the exact Poisson split here. Errors are bursty: a zero-inflated
 * series where one incident logs twenty errors in one step and none for
 * minutes. Counting each error as an independent event (as the rate test's
 * Poisson model does) reads a burst in one group as overwhelming evidence. The
 * empirical variance of the per-look contrast weighs a burst as one noisy
 * look, which is what it is; with the batch means it also absorbs bursts that
 * span several steps. The price is a large-sample (asymptotic) validity and
 * slower detection of a handful of isolated errors, for which the
 * fixed-horizon judge has the exact rare-event test (poisson-rate.ts).
 */
import type { Tolerance } from '../spec/fields.ts';
import { StatsInputError } from './errors.ts';
import { addPair, combinedSum, initBatchMeans, longRunVariance, scaleCovariances, type PairedBatchMeans } from './long-run-variance.ts';
import { logMixtureOneSided, mixtureRadius, mixtureRho2, standardizedSum, tRadius } from './normal-mixture.ts';
import {
  checkAlpha,
  checkDirection,
  intersect,
  relativeTolerance,
  runningMax,
  type SequentialDirection,
  type SequentialResult,
  type StoredBound,
  ratioResult,
} from './sequential-types.ts';
import { logMeanExp2 } from './special.ts';

export interface SequentialProportionParams {
  /** Default 0.05. */
  alpha?: number;
  /** Which way is harmful. Default `either`. */
  direction?: SequentialDirection;
  /** Relative tolerance on the error-rate ratio: a fraction or a spec tolerance (must be relative, or 0). Default 0. */
  tolerance?: number | Tolerance;
  /** Looks at which the confidence sequence is tightest. Default 100. */
  targetLooks?: number;
  /** No rejection before this many looks. Default 30. */
  minLooks?: number;
  /** Fewest batches a batch size needs to count in the variance. Default 10. */
  minBatches?: number;
}

export interface SequentialProportionState {
  kind: 'sequential-proportion';
  version: 1;
  /** Resolved parameters; the tolerance as a fraction. */
  params: Required<Omit<SequentialProportionParams, 'tolerance'>> & { tolerance: number };
  looks: number;
  /** Pairs (a_t, b_t) of the looks that had requests in some group. */
  bm: PairedBatchMeans;
  errorsE: number;
  errorsC: number;
  requestsE: number;
  requestsC: number;
  logHarmMax: number;
  logSafeUpperMax: number;
  logSafeLowerMax: number;
  ciLo: StoredBound;
  ciHi: StoredBound;
  stoppedAt: number | null;
  safeAt: number | null;
}

export interface ProportionObservation {
  control: { errors: number; total: number };
  experiment: { errors: number; total: number };
}

export function initSequentialProportion(params: SequentialProportionParams = {}): SequentialProportionState {
  const direction = params.direction ?? 'either';
  checkDirection(direction);
  const p: SequentialProportionState['params'] = {
    alpha: params.alpha ?? 0.05,
    direction,
    tolerance: relativeTolerance(params.tolerance, 'sequential-proportion', direction),
    targetLooks: params.targetLooks ?? 100,
    minLooks: params.minLooks ?? 30,
    minBatches: params.minBatches ?? 10,
  };
  checkAlpha(p.alpha);
  if (!(p.targetLooks >= 1)) throw new StatsInputError(`targetLooks must be ≥ 1, got ${p.targetLooks}`);
  if (!(Number.isInteger(p.minLooks) && p.minLooks >= 1)) throw new StatsInputError(`minLooks must be an integer ≥ 1, got ${p.minLooks}`);
  if (!(Number.isInteger(p.minBatches) && p.minBatches >= 2)) throw new StatsInputError(`minBatches must be an integer ≥ 2, got ${p.minBatches}`);
  return {
    kind: 'sequential-proportion',
    version: 1,
    params: p,
    looks: 0,
    bm: initBatchMeans(),
    errorsE: 0,
    errorsC: 0,
    requestsE: 0,
    requestsC: 0,
    logHarmMax: 0,
    logSafeUpperMax: 0,
    logSafeLowerMax: 0,
    ciLo: 0,
    ciHi: null,
    stoppedAt: null,
    safeAt: null,
  };
}

export function updateSequentialProportion(state: SequentialProportionState, obs: ProportionObservation): SequentialProportionState {
  const look = state.looks;
  checkGroup(obs.control, 'control', look);
  checkGroup(obs.experiment, 'experiment', look);
  const next: SequentialProportionState = {
    ...state,
    looks: look + 1,
    errorsE: state.errorsE + obs.experiment.errors,
    errorsC: state.errorsC + obs.control.errors,
    requestsE: state.requestsE + obs.experiment.total,
    requestsC: state.requestsC + obs.control.total,
  };
  const requests = obs.experiment.total + obs.control.total;
  // A look without traffic carries no information about the ratio.
  if (requests === 0) return next;
  const pi = obs.experiment.total / requests;
  const bm = addPair(state.bm, obs.experiment.errors * (1 - pi), obs.control.errors * pi);
  next.bm = bm;
  const { alpha, direction, tolerance, targetLooks, minLooks, minBatches } = state.params;
  const n = bm.n;

  const rho2 = mixtureRho2(alpha, targetLooks);
  if (n >= minLooks && longRunVariance(bm, 1, -1, minBatches) !== null) {
    const sUpper = standardizedRatioContrast(bm, 1 + tolerance, minBatches);
    const sLower = tolerance === 0 ? sUpper : standardizedRatioContrast(bm, 1 - tolerance, minBatches);
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
  }

  const [lo, hi] = fiellerSet(bm, mixtureRadius(n, rho2, alpha), minBatches);

  [next.ciLo, next.ciHi] = intersect(state.ciLo, state.ciHi, lo, hi);
  return next;
}

export function resultSequentialProportion(state: SequentialProportionState): SequentialResult {
  const sumA = combinedSum(state.bm, 1, 0);
  const sumB = combinedSum(state.bm, 0, 1);
  const estimate = state.bm.n === 0 || (sumA === 0 && sumB === 0) ? null : sumB === 0 ? Infinity : sumA / sumB;
  return ratioResult('sequential-proportion', state, safetyLogMax(state), estimate);
}

export function sequentialProportion(looks: readonly ProportionObservation[], params: SequentialProportionParams = {}): SequentialResult {
  let s = initSequentialProportion(params);
  for (const o of looks) s = updateSequentialProportion(s, o);
  return resultSequentialProportion(s);
}

function checkGroup(g: { errors: number; total: number }, name: string, look: number): void {
  const { errors, total } = g;
  if (!(Number.isFinite(errors) && Number.isFinite(total) && errors >= 0 && total >= 0 && errors <= total)) {
    throw new StatsInputError(`look ${look}: ${name} needs 0 ≤ errors ≤ total (finite), got errors ${errors}, total ${total}`);
  }
}

/** s for the contrast a − r·b, whose mean is 0 exactly when the error-rate ratio is r. */
function standardizedRatioContrast(bm: PairedBatchMeans, r: number, minBatches: number): number {
  const lrv = longRunVariance(bm, 1, -r, minBatches);
  return lrv === null ? 0 : standardizedSum(combinedSum(bm, 1, -r), lrv.variance, bm.n, lrv.df);
}

function safetyLogMax(state: SequentialProportionState): number {
  const d = state.params.direction;
  if (d === 'increase') return state.logSafeUpperMax;
  if (d === 'decrease') return state.logSafeLowerMax;
  return Math.min(state.logSafeUpperMax, state.logSafeLowerMax);
}

/**
 * {r ≥ 0: (A − rB)² < R_j²·max_j q_j(r)}, where q_j(r) = vaa − 2r·vab + r²·vbb is
 * the per-look long-run variance of a − r·b for variance candidate j and R_j
 * the radius with its small-sample correction. Each j gives the
 * solution set of a quadratic inequality; the hull of their union is returned,
 * [0, ∞) while no batch size is usable.
 */
function fiellerSet(bm: PairedBatchMeans, radius: number, minBatches: number): [number, number] {
  const covs = scaleCovariances(bm, minBatches);
  if (covs.length === 0) return [0, Infinity];
  const A = combinedSum(bm, 1, 0);
  const B = combinedSum(bm, 0, 1);
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of covs) {
    // |A − rB| < t·√n·σ̂(r): the mixture radius with this candidate's small-sample correction.
    const R2 = tRadius(radius, bm.n, c.df) ** 2 * bm.n;
    if (!Number.isFinite(R2)) return [0, Infinity];
    // c2 r² + c1 r + c0 < 0
    const c2 = B * B - R2 * c.vbb;
    const c1 = -2 * (A * B - R2 * c.vab);
    const c0 = A * A - R2 * c.vaa;
    const [l, h] = quadraticNegativeHull(c2, c1, c0);
    if (l > h) continue;
    lo = Math.min(lo, l);
    hi = Math.max(hi, h);
  }
  if (lo > hi) return [0, Infinity];
  return [Math.max(0, lo), hi];
}

/** Hull of {r ≥ 0: c2 r² + c1 r + c0 < 0} (empty as [∞, −∞]). */
function quadraticNegativeHull(c2: number, c1: number, c0: number): [number, number] {
  const scale = Math.max(Math.abs(c2), Math.abs(c1), Math.abs(c0));
  if (scale === 0) return [Infinity, -Infinity];
  const a = c2 / scale;
  const b = c1 / scale;
  const c = c0 / scale;
  if (Math.abs(a) < 1e-14) {
    if (Math.abs(b) < 1e-14) return c < 0 ? [0, Infinity] : [Infinity, -Infinity];
    const root = -c / b;
    return b > 0 ? [0, Math.max(0, root)] : [Math.max(0, root), Infinity];
  }
  const disc = b * b - 4 * a * c;
  if (disc < 0) return a > 0 ? [Infinity, -Infinity] : [0, Infinity];
  const sq = Math.sqrt(disc);
  // Stable roots.
  const qq = -0.5 * (b + Math.sign(b || 1) * sq);
  const r1 = qq / a;
  const r2 = qq === 0 ? -r1 : c / qq;
  const lo = Math.min(r1, r2);
  const hi = Math.max(r1, r2);
  if (a > 0) return hi < 0 ? [Infinity, -Infinity] : [Math.max(0, lo), hi];
  // Negative outside the roots: within r ≥ 0 that is [0, lo) ∪ (hi, ∞); its hull.
  if (lo > 0) return [0, Infinity];
  return [Math.max(0, hi), Infinity];
}
