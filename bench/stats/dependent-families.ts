/**
 * Dependent per-step series, as the engine really collects them (issue #13,
 * point 6): raw events are simulated second by second, then turned into what
 * Prometheus would return for the steady-state query at the run's step.
 *
 * Raw process, per second and group:
 *   load      L_t = exp(z_t), z an AR(1) in log space (φ = 0.98 per second,
 *             stationary sd 0.2: the load wanders ±20% over about a minute),
 *             SHARED by both groups.
 *   events    clustered (sticky sessions): sessions ~ Poisson(rate·L_t / 1.75),
 *             each with a geometric number of events on {1, 2, …} of mean 1.75,
 *             so variance/mean = 2·1.75 − 1 = 2.5. The sum of S geometrics is
 *             drawn exactly as S + NegBin(S, 4/7) (gamma–Poisson).
 *   latency   (quantile family) each request's latency is lognormal (median
 *             50 ms, σ 0.5) × a SHARED slowness factor exp(AR(1), φ 0.98 per
 *             second, sd 0.2), counted into cumulative histogram buckets
 *             5 ms · 1.2^i, i = 0…33 (5 ms … 2.1 s) and +Inf.
 *
 * Effect from the fault's first second on, in the experiment group only:
 * its event rate × (1 − effect) (a drop, counts), or its latencies × (1 + effect)
 * (a rise, latency).
 *
 * Per-step values (the query evaluated at t, over (t − window, t]):
 *   counter rate        mean events per second over the window (rate(x[w])).
 *   histogram quantile  histogram_quantile(0.95, …) of the window's bucket
 *                       counts, linear interpolation inside the bucket, the
 *                       first bucket's lower bound 0, the highest finite bound
 *                       when the rank falls in +Inf.
 *
 * Layout of one run: `history` steps whose windows end before the fault, then
 * `window` steps; window step i (0-based) is evaluated (i + 1) steps after
 * the onset, so its window holds min(i + 1, k)·step seconds of fault. Step
 * k − 1 is the first whose window lies fully inside the fault (k = window/step).
 */
import type { Rng } from './prng.ts';

export type DependentFamilyId = 'rate-15s-at-1s' | 'rate-1m-at-15s' | 'p95-15s-at-1s' | 'counts-1s-at-1s';

export interface DependentFamily {
  id: DependentFamilyId;
  label: string;
  description: string;
  /** The query as a spec would write it (documentation). */
  query: string;
  kind: 'counter-rate' | 'quantile';
  direction: 'increase' | 'decrease';
  /** Relative tolerance of the metric. */
  tolerance: number;
  /** The noise model the engine picks for this query shape. */
  model: 'counts' | 'gauss';
  stepSeconds: number;
  windowSeconds: number;
  /** Steps before the window the noise is learned from. */
  history: number;
  /** Steps in the fault window. */
  window: number;
  /** Mean events (counts) or requests (quantile) per second per group, at load 1. */
  rate: number;
}

export const SESSION_MEAN = 1.75;
export const DISPERSION = 2 * SESSION_MEAN - 1;
export const LOAD_PHI = 0.98;
export const LOAD_SD = 0.2;
export const SLOW_PHI = 0.98;
export const SLOW_SD = 0.2;
export const LATENCY_MEDIAN_MS = 50;
export const LATENCY_SIGMA = 0.5;
export const QUANTILE = 0.95;
/**
 * Upper bounds (ms) of the finite buckets, 5 ms · 1.2^i up to 2.1 s; +Inf is
 * implicit. Growing by exactly 1.2 makes histogram_quantile equivariant under
 * a 1.2× rise (every request moves up one bucket, the interpolation scales
 * with it), so the 20% rise is exactly the 20% tolerance boundary in the
 * metric's own terms. With coarser buckets (5 ms · 1.5^i) the interpolation
 * reads a 20% rise as 19–21% depending on where p95 falls, and the boundary
 * row stops being a null.
 */
export const BUCKETS_MS: readonly number[] = Array.from({ length: 34 }, (_, i) => 5 * 1.2 ** i);

export const DEPENDENT_FAMILIES: DependentFamily[] = [
  {
    id: 'rate-15s-at-1s',
    label: '(a) counter rate, 15 s window, 1 s step',
    description: 'rate over 15 s at a 1 s step of clustered events (100/s per group, variance/mean 2.5) under a shared AR(1) load',
    query: 'sum(rate(checkouts_total{group="$group"}[15s]))',
    kind: 'counter-rate',
    direction: 'decrease',
    tolerance: 0.1,
    model: 'counts',
    stepSeconds: 1,
    windowSeconds: 15,
    history: 300,
    window: 120,
    rate: 100,
  },
  {
    id: 'rate-1m-at-15s',
    label: '(b) counter rate, 1 m window, 15 s step',
    description: 'the same raw events, rate over 1 m every 15 s',
    query: 'sum(rate(checkouts_total{group="$group"}[1m]))',
    kind: 'counter-rate',
    direction: 'decrease',
    tolerance: 0.1,
    model: 'counts',
    stepSeconds: 15,
    windowSeconds: 60,
    history: 40,
    window: 60,
    rate: 100,
  },
  {
    id: 'p95-15s-at-1s',
    label: '(c) histogram p95, 15 s window, 1 s step',
    description:
      'p95 latency over 15 s at a 1 s step from cumulative buckets (5 ms·1.2^i), ~1000 clustered requests/s per group, lognormal (50 ms, σ 0.5) × shared AR(1) slowness',
    query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{group="$group"}[15s])))',
    kind: 'quantile',
    direction: 'increase',
    tolerance: 0.2,
    model: 'gauss',
    stepSeconds: 1,
    windowSeconds: 15,
    history: 300,
    window: 120,
    rate: 1000,
  },
  {
    id: 'counts-1s-at-1s',
    label: '(d) clustered counts, window = step = 1 s',
    description: 'the same raw events counted per 1 s step (k = 1: no overlap, shared load and clustering only)',
    query: 'sum(increase(checkouts_total{group="$group"}[1s]))',
    kind: 'counter-rate',
    direction: 'decrease',
    tolerance: 0.1,
    model: 'counts',
    stepSeconds: 1,
    windowSeconds: 1,
    history: 300,
    window: 120,
    rate: 100,
  },
];

/** Steps sharing raw material: window / step. */
export function windowStepsOf(f: DependentFamily): number {
  return Math.max(1, Math.ceil(f.windowSeconds / f.stepSeconds));
}

export interface DependentSeries {
  /** history + window per-step values per group; the window starts at index `history`. */
  control: Float64Array;
  experiment: Float64Array;
  /** Counter rates only: the same events at the same steps over `SimOptions.readWindowSeconds` (ADR 026's shorter read). */
  short?: { control: Float64Array; experiment: Float64Array };
}

export interface SimOptions {
  /** Shared load and slowness wander (false: both fixed at 1, for the oracle floor). */
  wander?: boolean;
  /**
   * Counter rates: also evaluate each step over this shorter window, ending at the same time, from the
   * same events (no extra randomness: the query's own series are unchanged by asking).
   */
  readWindowSeconds?: number;
}

/** Raw seconds a run needs, and the index of the fault's first second. */
function layout(f: DependentFamily, history: number, window: number): { seconds: number; onset: number } {
  const s = f.stepSeconds;
  const w = f.windowSeconds;
  return { seconds: (history + window - 1) * s + w, onset: (history - 1) * s + w };
}

/** Shared log-space AR(1), started stationary; `sd` 0 gives a constant 1. */
export function sharedFactor(rng: Rng, n: number, phi: number, sd: number): Float64Array {
  const out = new Float64Array(n);
  const innov = sd * Math.sqrt(1 - phi * phi);
  let z = sd * rng.normal();
  for (let t = 0; t < n; t++) {
    out[t] = Math.exp(z);
    z = phi * z + innov * rng.normal();
  }
  return out;
}

/** Events in one second: Poisson sessions, each a geometric number of events with mean SESSION_MEAN. */
export function clustered(rng: Rng, mean: number): number {
  const sessions = rng.poisson(mean / SESSION_MEAN);
  if (sessions === 0) return 0;
  // The sum of `sessions` geometrics on {1, 2, …} with p = 1/SESSION_MEAN is sessions + NegBin(size sessions, p).
  return sessions + rng.poisson(rng.gamma(sessions) * (SESSION_MEAN - 1));
}

export function simulateDependent(f: DependentFamily, rng: Rng, effect: number, history = f.history, window = f.window, opts: SimOptions = {}): DependentSeries {
  return f.kind === 'counter-rate' ? simulateRate(f, rng, effect, history, window, opts) : simulateQuantile(f, rng, effect, history, window, opts);
}

function simulateRate(f: DependentFamily, rng: Rng, effect: number, history: number, window: number, opts: SimOptions): DependentSeries {
  const { seconds, onset } = layout(f, history, window);
  const load = sharedFactor(rng, seconds, LOAD_PHI, opts.wander === false ? 0 : LOAD_SD);
  // Prefix sums of the per-second counts.
  const pc = new Float64Array(seconds + 1);
  const pe = new Float64Array(seconds + 1);
  for (let t = 0; t < seconds; t++) {
    const m = f.rate * load[t]!;
    pc[t + 1] = pc[t]! + clustered(rng, m);
    pe[t + 1] = pe[t]! + clustered(rng, t >= onset ? m * (1 - effect) : m);
  }
  const steps = history + window;
  const control = new Float64Array(steps);
  const experiment = new Float64Array(steps);
  const s = f.stepSeconds;
  const w = f.windowSeconds;
  for (let j = 0; j < steps; j++) {
    const a = j * s;
    control[j] = (pc[a + w]! - pc[a]!) / w;
    experiment[j] = (pe[a + w]! - pe[a]!) / w;
  }
  const r = opts.readWindowSeconds;
  if (r === undefined || !(r > 0 && r < w)) return { control, experiment };
  const short = { control: new Float64Array(steps), experiment: new Float64Array(steps) };
  for (let j = 0; j < steps; j++) {
    const end = j * s + w;
    short.control[j] = (pc[end]! - pc[end - r]!) / r;
    short.experiment[j] = (pe[end]! - pe[end - r]!) / r;
  }
  return { control, experiment, short };
}

const NB = BUCKETS_MS.length + 1;
const GUIDE = 64;

/**
 * Per-second bucket counts of one group: N clustered requests, each dropped
 * into its bucket by inverting the bucket CDF (a guide table makes it O(1)).
 */
function fillBuckets(rng: Rng, requests: number, logScale: number, out: Float64Array, offset: number, cdf: Float64Array, guide: Int32Array): void {
  for (let b = 0; b < NB - 1; b++) cdf[b] = normalCdf((Math.log(BUCKETS_MS[b]!) - logScale) / LATENCY_SIGMA);
  cdf[NB - 1] = 1;
  let b = 0;
  for (let g = 0; g < GUIDE; g++) {
    while (cdf[b]! < g / GUIDE) b++;
    guide[g] = b;
  }
  for (let r = 0; r < requests; r++) {
    const u = rng.uniform();
    let i = guide[Math.floor(u * GUIDE)]!;
    while (cdf[i]! <= u && i < NB - 1) i++;
    out[offset + i]! += 1;
  }
}

function simulateQuantile(f: DependentFamily, rng: Rng, effect: number, history: number, window: number, opts: SimOptions): DependentSeries {
  const { seconds, onset } = layout(f, history, window);
  const wander = opts.wander !== false;
  const load = sharedFactor(rng, seconds, LOAD_PHI, wander ? LOAD_SD : 0);
  const slow = sharedFactor(rng, seconds, SLOW_PHI, wander ? SLOW_SD : 0);
  // Prefix sums of the per-second bucket counts (non-cumulative buckets), row t = seconds before t.
  const hc = new Float64Array((seconds + 1) * NB);
  const he = new Float64Array((seconds + 1) * NB);
  const cdf = new Float64Array(NB);
  const guide = new Int32Array(GUIDE);
  const logMedian = Math.log(LATENCY_MEDIAN_MS);
  const logRise = Math.log(1 + effect);
  for (let t = 0; t < seconds; t++) {
    const row = (t + 1) * NB;
    for (let b = 0; b < NB; b++) {
      hc[row + b] = hc[row - NB + b]!;
      he[row + b] = he[row - NB + b]!;
    }
    const m = f.rate * load[t]!;
    const logScale = logMedian + Math.log(slow[t]!);
    fillBuckets(rng, clustered(rng, m), logScale, hc, row, cdf, guide);
    fillBuckets(rng, clustered(rng, m), t >= onset ? logScale + logRise : logScale, he, row, cdf, guide);
  }
  const steps = history + window;
  const control = new Float64Array(steps);
  const experiment = new Float64Array(steps);
  const s = f.stepSeconds;
  const w = f.windowSeconds;
  const counts = new Float64Array(NB);
  for (let j = 0; j < steps; j++) {
    const a = j * s * NB;
    const z = (j * s + w) * NB;
    for (let b = 0; b < NB; b++) counts[b] = hc[z + b]! - hc[a + b]!;
    control[j] = histogramQuantile(QUANTILE, counts);
    for (let b = 0; b < NB; b++) counts[b] = he[z + b]! - he[a + b]!;
    experiment[j] = histogramQuantile(QUANTILE, counts);
  }
  return { control, experiment };
}

/**
 * Prometheus's histogram_quantile on one histogram given as per-bucket
 * (non-cumulative) counts over BUCKETS_MS and +Inf: the rank q·total is found
 * in the cumulative counts and interpolated linearly inside its bucket.
 */
export function histogramQuantile(q: number, counts: Float64Array): number {
  let total = 0;
  for (let b = 0; b < NB; b++) total += counts[b]!;
  if (total === 0) return NaN;
  const rank = q * total;
  let cum = 0;
  for (let b = 0; b < NB - 1; b++) {
    const next = cum + counts[b]!;
    if (next >= rank && counts[b]! > 0) {
      const lo = b === 0 ? 0 : BUCKETS_MS[b - 1]!;
      const hi = BUCKETS_MS[b]!;
      return lo + ((hi - lo) * (rank - cum)) / counts[b]!;
    }
    cum = next;
  }
  return BUCKETS_MS[NB - 2]!;
}

/** Standard normal CDF. */
function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** erfc with fractional error < 1.2e-7 (Numerical Recipes, erfcc), plenty for bucket probabilities. */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}
