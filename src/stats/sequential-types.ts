/**
 * What every sequential (anytime-valid) test returns, and the rules that turn
 * its two p-values into a verdict. The tests themselves live in
 * sequential-rate.ts, sequential-mean.ts and sequential-proportion.ts; each is
 * a pure "one look at a time" API:
 *
 *     let state = init(params);                 // plain JSON data
 *     state = update(state, observation);       // once per look, O(1) or O(log n)
 *     const r = result(state);                  // cheap, any time
 *
 * so a guardrail monitor can persist `state` between evaluations (it survives
 * JSON.stringify/JSON.parse unchanged) and never recomputes the past.
 *
 * Two nulls are tested at every look, both against the tolerance boundary:
 *   - harm:   H0 "no harmful change beyond the tolerance" (e.g. for
 *             `decrease` with 5%: ratio ≥ 0.95). `pValue` is its anytime-valid
 *             p-value; the first look where it is ≤ alpha is `stoppedAt`, and
 *             the verdict is `fail`. This is the test a guardrail halts on.
 *   - safety: H0 "a harmful change beyond the tolerance" (ratio ≤ 0.95).
 *             `safetyPValue` ≤ alpha means harm beyond tolerance is ruled out:
 *             `pass` (an equivalence-style pass, as in the fixed-horizon judge).
 * Neither → `inconclusive`. Anytime-valid means P(∃ look with p ≤ alpha) ≤
 * alpha under the null, however often one looks and whenever one stops; both
 * p-values are therefore running minima (non-increasing). `direction: either`
 * makes harm two-sided (a mixture of both one-sided tests) and needs safety on
 * both sides (intersection–union, no correction needed).
 *
 * `ci` is a (1 − alpha) confidence sequence: it covers the true effect at all
 * looks simultaneously, so it is reported as the running intersection of the
 * per-look sets. ±Infinity marks an open end (JSON shows it as null).
 */
import type { Tolerance } from '../spec/fields.ts';
import { StatsInputError } from './errors.ts';

export type SequentialDirection = 'increase' | 'decrease' | 'either';
export type SequentialMethod = 'sequential-rate' | 'sequential-mean' | 'sequential-proportion';
export type SequentialVerdict = 'pass' | 'fail' | 'inconclusive';

export interface SequentialResult {
  method: SequentialMethod;
  /** Looks fed so far. */
  n: number;
  /** Anytime-valid p-value of H0 "no harmful change beyond tolerance"; non-increasing in n. */
  pValue: number;
  /** Anytime-valid p-value of H0 "harmful change beyond tolerance"; non-increasing in n. */
  safetyPValue: number;
  /** Point estimate of the effect (method-specific scale: a ratio or a difference); null before any information. */
  estimate: number | null;
  /** Relative effect (ratio − 1, or difference / |control mean|); null when undefined. */
  relativeEffect: number | null;
  /** (1 − alpha) confidence sequence on `estimate`'s scale, running intersection. */
  ci: [number, number];
  /** 0-based index of the first look at which pValue ≤ alpha, or null. */
  stoppedAt: number | null;
  /** 0-based index of the first look at which safetyPValue ≤ alpha, or null. */
  safeAt: number | null;
  verdict: SequentialVerdict;
  alpha: number;
  direction: SequentialDirection;
  /** The null boundaries on the effect's scale (ratio, or difference in metric units when absolute). */
  boundary: { lower: number | null; upper: number | null };
}

export function verdictOf(stoppedAt: number | null, safeAt: number | null): SequentialVerdict {
  if (stoppedAt !== null) return 'fail';
  if (safeAt !== null) return 'pass';
  return 'inconclusive';
}

/** exp(−max log M), capped at 1: Ville's inequality turns a running maximum of a test (super)martingale into a p-value. */
export function pFromLogMax(logMax: number): number {
  return Math.min(1, Math.exp(-logMax));
}

/**
 * Log-evidence kept in a state is capped at 700 (a p-value of 1e-304): JSON has
 * no Infinity, and no verdict turns on evidence beyond that.
 */
export const LOG_EVIDENCE_CAP = 700;
export function runningMax(stored: number, current: number): number {
  return Math.min(LOG_EVIDENCE_CAP, Math.max(stored, Number.isNaN(current) ? -Infinity : current)) + 0;
}

/** JSON has no Infinity: open ends of an interval are stored as null. */
export type StoredBound = number | null;
export const toStored = (v: number): StoredBound => (Number.isFinite(v) ? v + 0 : null); // + 0: no −0 in JSON
export const fromStoredLo = (v: StoredBound): number => (v === null ? -Infinity : v);
export const fromStoredHi = (v: StoredBound): number => (v === null ? Infinity : v);

/** Intersect the running interval with this look's; an empty intersection falls back to this look's set. */
export function intersect(lo: StoredBound, hi: StoredBound, newLo: number, newHi: number): [StoredBound, StoredBound] {
  const l = Math.max(fromStoredLo(lo), newLo);
  const h = Math.min(fromStoredHi(hi), newHi);
  // Empty only with probability ≤ alpha under the model, or when its assumptions fail (e.g.
  // the dispersion estimate moved); the current set is then the honest report.
  if (l > h) return [toStored(newLo), toStored(newHi)];
  return [toStored(l), toStored(h)];
}

export function checkAlpha(alpha: number): void {
  if (!(alpha > 0 && alpha < 1)) throw new StatsInputError(`alpha must be strictly between 0 and 1, got ${alpha}`);
}

export function checkDirection(direction: string): asserts direction is SequentialDirection {
  if (direction !== 'increase' && direction !== 'decrease' && direction !== 'either') {
    throw new StatsInputError(`direction must be increase, decrease or either, got ${direction}`);
  }
}

/** A relative tolerance as a fraction; the ratio tests cannot use an absolute one. */
export function relativeTolerance(tolerance: Tolerance | number | undefined, method: SequentialMethod, direction: SequentialDirection): number {
  if (tolerance === undefined) return 0;
  let value: number;
  if (typeof tolerance === 'number') value = tolerance;
  else if (tolerance.kind === 'relative' || tolerance.value === 0) value = tolerance.value;
  else {
    throw new StatsInputError(`${method} tests a ratio between the groups, so its tolerance must be relative (e.g. 5%), got the absolute ${tolerance.value}`);
  }
  if (!(Number.isFinite(value) && value >= 0)) throw new StatsInputError(`tolerance must be a finite number ≥ 0, got ${value}`);
  if (direction !== 'increase' && value >= 1) throw new StatsInputError(`a relative tolerance for a decrease must be below 100%, got ${value}`);
  return value;
}

/** The state fields every ratio-scale sequential test keeps (rate and proportion). */
export interface RatioTestState {
  looks: number;
  logHarmMax: number;
  ciLo: StoredBound;
  ciHi: StoredBound;
  stoppedAt: number | null;
  safeAt: number | null;
  params: { alpha: number; direction: SequentialDirection; tolerance: number };
}

/** The result of a test on a ratio (1 = no effect), with its boundaries at 1 ± tolerance. */
export function ratioResult(method: SequentialMethod, state: RatioTestState, safetyLogMax: number, estimate: number | null): SequentialResult {
  const { alpha, direction, tolerance } = state.params;
  return {
    method,
    n: state.looks,
    pValue: pFromLogMax(state.logHarmMax),
    safetyPValue: pFromLogMax(safetyLogMax),
    estimate,
    relativeEffect: estimate === null || !Number.isFinite(estimate) ? null : estimate - 1,
    ci: [fromStoredLo(state.ciLo), fromStoredHi(state.ciHi)],
    stoppedAt: state.stoppedAt,
    safeAt: state.safeAt,
    verdict: verdictOf(state.stoppedAt, state.safeAt),
    alpha,
    direction,
    boundary: { lower: direction === 'increase' ? null : 1 - tolerance, upper: direction === 'decrease' ? null : 1 + tolerance },
  };
}
