/**
 * The KPI guardrail's test (`compare:`): an anytime-valid test of "no harm
 * beyond tolerance", checked at every step, valid from the first look, on the
 * dependent series the engine collects (ADR 013).
 *
 * Units. A query with a range window of k steps gives values that share
 * events with their k − 1 neighbours. Phase p (steps p, p+k, p+2k, …) is a
 * sequence of disjoint windows, so each phase carries its own test
 * martingale M_p, updated only by its own windows. Under independent
 * increments every M_p is a supermartingale for the whole step-by-step
 * history (a window (t − k, t] is independent of everything before t − k and
 * M_p does not move in between), and so is their average M̄ = (1/k)·Σ M_p.
 * Ville's inequality on M̄ — P(∃t: M̄_t ≥ 1/α) ≤ α — makes halting at the
 * first such step an α-level test under continuous monitoring. Averaging
 * keeps every step useful: at a 1 s step with a 15 s window, the step after
 * a drop starts already moves one phase.
 *
 * Contrast at the boundary. With relative tolerance δ the harm boundary is
 * r₀ = 1 − δ (a drop) or 1 + δ (a rise); a unit contributes d = e − r₀·c,
 * mean 0 at the boundary whatever the load (the groups share it), negative
 * (decrease) or positive (increase) under harm. An absolute band a uses
 * d = e − c ± a.
 *
 * Noise, known before the window opens. The variance of each unit's d comes
 * from the history of both groups before the fault (queried at window open;
 * no burn-in, no peeking at the window's own data):
 *   counts  counter rates: conditional on the window's total N = e + c, the
 *           split is binomial, Var(d | N) = φ·r₀·N, with φ the dispersion
 *           (clustered, sticky users; any unit scale) estimated from history
 *           as mean((e − c)²/(e + c)). Load swings cancel exactly.
 *   gauss   percentiles, ratios, gauges: Var(d) = Var(e) + r₀²Var(c) −
 *           2r₀Cov(e, c) from history.
 * Per phase, S = Σd and V = Σ Var(d); exp(λS − λ²V/2) is a martingale for
 * every λ, mixed over a half-normal λ (normal-mixture.ts, one-sided: it
 * watches only the harmful side). `either` averages the two one-sided
 * mixtures. Without history (a new metric), the variance is taken from the
 * window's own earlier steps and nothing halts before `minUnits` windows of a
 * phase have been seen — slower, and said so in the result.
 *
 * Assumptions: windows of a phase are independent given the shared load;
 * the history's noise is no smaller than the window's (a fault that makes the
 * control noisier is not expected); the normal approximation for sums over a
 * window's events. The bench (`npm run bench:stats`) measures false halts on
 * overlapping windows, histogram percentiles and clustered counts with shared
 * AR(1) load, and time to halt against Wald's SPRT floor.
 */
import type { Tolerance } from '../spec/fields.ts';
import { StatsInputError } from './errors.ts';
import { logMixtureOneSided, mixtureRho2 } from './normal-mixture.ts';
import { logMeanExp2, logSumExp } from './special.ts';

export type NoiseModel = 'counts' | 'gauss';

/** Per-unit noise, from history. */
export type NoiseScale = { model: 'counts'; phi: number; meanTotal: number } | { model: 'gauss'; vee: number; vcc: number; vec: number };

export interface WindowedSequentialParams {
  alpha: number;
  direction: 'increase' | 'decrease' | 'either';
  tolerance: Tolerance;
  /** Steps sharing raw material (⌈range window / step⌉), at least 1. */
  windowSteps: number;
  model: NoiseModel;
  /** From history (noiseFromHistory); null: estimated from the window's own earlier steps. */
  noise: NoiseScale | null;
  /** Units (windows) at which the mixture is tightest. Default 4: fast halts on big harms (bench:stats shows 20% drops at ≤ 2× the SPRT floor with it, 2.5× with 8). */
  targetUnits?: number;
  /** Without history: windows per phase before a halt is possible. Default 4. */
  minUnits?: number;
}

interface Side {
  r0: number;
  shift: number;
  s: number[];
  v: number[];
}

export interface WindowedSequentialState {
  kind: 'sequential-windowed';
  params: Required<Omit<WindowedSequentialParams, 'noise'>> & { noise: NoiseScale | null };
  looks: number;
  units: number[];
  sides: Side[];
  sumE: number;
  sumC: number;
  /** Without history: running sums of the per-step values for the online variance. */
  online: { n: number; e: number; c: number; ee: number; cc: number; ec: number; split: number; splitN: number; see: number; sec: number; scc: number };
  logMax: number;
  stoppedAt: number | null;
}

export interface WindowedSequentialResult {
  /** Anytime-valid p-value of "no harm beyond tolerance": 1 / max M̄. */
  pValue: number;
  alpha: number;
  /** Look (0-based) at which M̄ first reached 1/alpha. */
  stoppedAt: number | null;
  looks: number;
  /** Ratio of the experiment's to the control's sum so far (relative band) or mean difference (absolute). */
  estimate: number | null;
  /** Where the noise came from. */
  noise: 'history' | 'window';
}

export function initWindowedSequential(params: WindowedSequentialParams): WindowedSequentialState {
  const { alpha, direction, tolerance, windowSteps } = params;
  if (!(alpha > 0 && alpha < 1)) throw new StatsInputError(`alpha must be in (0, 1), got ${alpha}`);
  if (!(Number.isInteger(windowSteps) && windowSteps >= 1)) throw new StatsInputError(`windowSteps must be an integer ≥ 1, got ${windowSteps}`);
  if (tolerance.kind === 'relative' && direction !== 'increase' && tolerance.value >= 1) {
    throw new StatsInputError(`a relative tolerance of ${tolerance.value * 100}% leaves no drop to detect`);
  }
  const sides: Side[] = [];
  const rel = tolerance.kind === 'relative';
  const phase = (): number[] => new Array<number>(windowSteps).fill(0);
  if (direction !== 'increase') sides.push({ r0: rel ? 1 - tolerance.value : 1, shift: rel ? 0 : tolerance.value, s: phase(), v: phase() });
  if (direction !== 'decrease') sides.push({ r0: rel ? 1 + tolerance.value : 1, shift: rel ? 0 : -tolerance.value, s: phase(), v: phase() });
  return {
    kind: 'sequential-windowed',
    params: { targetUnits: 4, minUnits: 4, ...params },
    looks: 0,
    units: phase(),
    sides,
    sumE: 0,
    sumC: 0,
    online: { n: 0, e: 0, c: 0, ee: 0, cc: 0, ec: 0, split: 0, splitN: 0, see: 0, sec: 0, scc: 0 },
    logMax: 0,
    stoppedAt: null,
  };
}

/** One look: the paired values of the newest step. Non-finite values skip the step (its phase waits a window). */
export function updateWindowedSequential(state: WindowedSequentialState, obs: { control: number; experiment: number }): WindowedSequentialState {
  const { control: c, experiment: e } = obs;
  const p = state.looks % state.params.windowSteps;
  const next: WindowedSequentialState = structuredClone(state);
  next.looks += 1;
  if (!(Number.isFinite(c) && Number.isFinite(e))) return next;
  const noise = state.params.noise ?? onlineNoise(state);
  const ready = state.params.noise !== null || state.units[p]! >= state.params.minUnits;
  next.units[p]! += 1;
  next.sumE += e;
  next.sumC += c;
  addOnline(next.online, e, c);
  if (noise === null) return next;
  const rho2 = mixtureRho2(state.params.alpha, state.params.targetUnits);
  const logs: number[] = [];
  for (const side of next.sides) {
    const d = e - side.r0 * c + side.shift;
    const v = unitVariance(noise, side.r0, e, c);
    side.s[p]! += d;
    side.v[p]! += v;
    // Harm is d < 0 on the drop side (r0 < 1 or a positive shift), d > 0 on the rise side.
    const sign = side.r0 < 1 || side.shift > 0 ? -1 : 1;
    const meanV = meanUnitVariance(noise, side.r0);
    const perPhase = side.s.map((s, i) => (side.v[i]! > 0 ? logMixtureOneSided((sign * s) / Math.sqrt(meanV), side.v[i]! / meanV, rho2) : 0));
    logs.push(logSumExp(perPhase) - Math.log(perPhase.length));
  }
  const logM = logs.length === 2 ? logMeanExp2(logs[0]!, logs[1]!) : logs[0]!;
  if (ready && logM > next.logMax) next.logMax = logM;
  if (ready && next.stoppedAt === null && logM >= Math.log(1 / state.params.alpha)) next.stoppedAt = next.looks - 1;
  return next;
}

export function resultWindowedSequential(state: WindowedSequentialState): WindowedSequentialResult {
  const rel = state.params.tolerance.kind === 'relative';
  const n = state.units.reduce((a, b) => a + b, 0);
  const estimate = n === 0 ? null : rel ? (state.sumC > 0 ? state.sumE / state.sumC : null) : (state.sumE - state.sumC) / n;
  return {
    pValue: Math.min(1, Math.exp(-state.logMax)),
    alpha: state.params.alpha,
    stoppedAt: state.stoppedAt,
    looks: state.looks,
    estimate,
    noise: state.params.noise === null ? 'window' : 'history',
  };
}

/** Feed every look at once (tests, benchmarks, `compare`). */
export function windowedSequential(looks: readonly { control: number; experiment: number }[], params: WindowedSequentialParams): WindowedSequentialResult {
  let state = initWindowedSequential(params);
  for (const look of looks) state = updateWindowedSequential(state, look);
  return resultWindowedSequential(state);
}

function unitVariance(noise: NoiseScale, r0: number, e: number, c: number): number {
  if (noise.model === 'counts') return noise.phi * r0 * Math.max(0, e + c);
  return Math.max(0, noise.vee + r0 * r0 * noise.vcc - 2 * r0 * noise.vec);
}

/** The variance scale that standardizes the mixture (fixed for a run, so the mixture's prior is too): a typical unit's variance. */
function meanUnitVariance(noise: NoiseScale, r0: number): number {
  if (noise.model === 'gauss') return Math.max(unitVariance(noise, r0, 0, 0), Number.MIN_VALUE);
  return Math.max(noise.phi * r0 * noise.meanTotal, Number.MIN_VALUE);
}

/**
 * The per-unit noise of a pair of series before the window: dispersion of the
 * split (counts) or the variances and covariance (gauss). Every step is a
 * unit here: the marginal variance of one window does not need independent
 * windows to be estimated. Null when fewer than `minSteps` paired steps.
 */
export function noiseFromHistory(control: readonly number[], experiment: readonly number[], model: NoiseModel, minSteps = 20): NoiseScale | null {
  const acc = { n: 0, e: 0, c: 0, ee: 0, cc: 0, ec: 0, split: 0, splitN: 0, see: 0, sec: 0, scc: 0 };
  const n = Math.min(control.length, experiment.length);
  for (let i = 0; i < n; i++) {
    const c = control[i]!;
    const e = experiment[i]!;
    if (Number.isFinite(c) && Number.isFinite(e)) addOnline(acc, e, c);
  }
  if (acc.n < minSteps) return null;
  return noiseOf(acc, model);
}

function addOnline(acc: WindowedSequentialState['online'], e: number, c: number): void {
  acc.n += 1;
  acc.e += e;
  acc.c += c;
  acc.ee += e * e;
  acc.cc += c * c;
  acc.ec += e * c;
  if (e + c > 0) {
    acc.split += (e - c) ** 2 / (e + c);
    acc.splitN += 1;
    acc.see += (e * e) / (e + c);
    acc.sec += (e * c) / (e + c);
    acc.scc += (c * c) / (e + c);
  }
}

function noiseOf(acc: WindowedSequentialState['online'], model: NoiseModel): NoiseScale | null {
  if (model === 'counts') {
    if (acc.splitN < 2) return null;
    // (e − c)²/(e + c) has mean φ under an even split; the floor keeps a perfectly even history from claiming no noise.
    return { model: 'counts', phi: Math.max(acc.split / acc.splitN, 1e-9), meanTotal: (acc.e + acc.c) / acc.n };
  }
  if (acc.n < 2) return null;
  const me = acc.e / acc.n;
  const mc = acc.c / acc.n;
  const k = acc.n / (acc.n - 1);
  return { model: 'gauss', vee: k * (acc.ee / acc.n - me * me), vcc: k * (acc.cc / acc.n - mc * mc), vec: k * (acc.ec / acc.n - me * mc) };
}

/**
 * Without history: the noise of the window's earlier steps (predictable: the
 * current step is not in it). For counts the split is measured around the
 * window's own ratio R̂ — Var(e − R·c | N) = φ·R·N — so an effect does not
 * pass for noise.
 */
function onlineNoise(state: WindowedSequentialState): NoiseScale | null {
  const acc = state.online;
  if (acc.n < 2 * state.params.windowSteps) return null;
  if (state.params.model !== 'counts' || acc.splitN < 2 || !(acc.c > 0) || !(acc.e > 0)) return noiseOf(acc, state.params.model);
  const r = acc.e / acc.c;
  const phi = (acc.see - 2 * r * acc.sec + r * r * acc.scc) / (r * acc.splitN);
  return { model: 'counts', phi: Math.max(phi, 1e-9), meanTotal: (acc.e + acc.c) / acc.n };
}
