/**
 * Special functions the tests need, in double precision: log-beta, the
 * regularized incomplete beta function and its inverse, and the binomial,
 * Student-t and F distribution functions built on it. Accuracy is checked
 * against R (pbeta, qbeta, pbinom, dbinom, pt, pf) in the golden tests; the
 * incomplete beta is the Lentz continued fraction of Numerical Recipes §6.4,
 * good to about 1e-13 relative in the ranges used here.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { gammaln } from 'simple-statistics';
import { StatsInputError } from './errors.ts';

export function logBeta(a: number, b: number): number {
  return gammaln(a) + gammaln(b) - gammaln(a + b);
}

/** log C(n, k) for real n ≥ k ≥ 0. */
export function logChoose(n: number, k: number): number {
  if (k === 0 || k === n) return 0;
  return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1);
}

/** Regularized incomplete beta I_x(a, b) for a, b > 0, x in [0, 1]. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new StatsInputError(`incompleteBeta: a and b must be > 0, got ${a}, ${b}`);
  if (!(x >= 0 && x <= 1)) throw new StatsInputError(`incompleteBeta: x must be in [0, 1], got ${x}`);
  if (x === 0) return 0;
  if (x === 1) return 1;
  const lnFront = a * Math.log(x) + b * Math.log1p(-x) - logBeta(a, b);
  // The continued fraction converges fast for x < (a + 1)/(a + b + 2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

/** Upper tail 1 − I_x(a, b), computed without cancellation. */
export function incompleteBetaUpper(x: number, a: number, b: number): number {
  return incompleteBeta(1 - x, b, a);
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const eps = 1e-16;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  // Enough for a, b up to ~1e9 (the iteration count grows like sqrt(max(a, b))).
  const maxIter = 10_000 + Math.ceil(10 * Math.sqrt(Math.max(a, b)));
  for (let m = 1; m <= maxIter; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < eps) return h;
  }
  return h; // not reached for the parameter ranges the callers use
}

/**
 * The p-quantile of Beta(a, b): the x with I_x(a, b) = p, by bisection (on the
 * upper tail when p > ½, so small upper quantiles keep their digits).
 * Used for Clopper–Pearson limits, as R's qbeta.
 */
export function betaQuantile(p: number, a: number, b: number): number {
  if (!(p >= 0 && p <= 1)) throw new StatsInputError(`betaQuantile: p must be in [0, 1], got ${p}`);
  if (p === 0) return 0;
  if (p === 1) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 1100 && hi - lo > 0; i++) {
    const mid = lo + (hi - lo) / 2;
    if (mid === lo || mid === hi) break;
    if (incompleteBeta(mid, a, b) < p) lo = mid;
    else hi = mid;
    // Relative precision is what matters near 0 and near 1.
    if (hi - lo <= 1e-15 * Math.min(hi, 1 - lo)) break;
  }
  return lo + (hi - lo) / 2;
}

/** log P(X = k) for X ~ Binomial(n, p). */
export function binomialLogPmf(k: number, n: number, p: number): number {
  if (k < 0 || k > n) return -Infinity;
  if (p === 0) return k === 0 ? 0 : -Infinity;
  if (p === 1) return k === n ? 0 : -Infinity;
  return logChoose(n, k) + k * Math.log(p) + (n - k) * Math.log1p(-p);
}

/** P(X ≤ k) for X ~ Binomial(n, p), k an integer. */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  return incompleteBeta(1 - p, n - k, k + 1);
}

/** P(X > k) = P(X ≥ k + 1) for X ~ Binomial(n, p), k an integer. */
export function binomialSf(k: number, n: number, p: number): number {
  if (k < 0) return 1;
  if (k >= n) return 0;
  return incompleteBeta(p, k + 1, n - k);
}

/** P(T > t) for Student's t with df degrees of freedom. */
export function studentTSf(t: number, df: number): number {
  if (t === Infinity) return 0;
  if (t === -Infinity) return 1;
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? tail : 1 - tail;
}

/**
 * The t with P(T > t) = p for Student's t with df degrees of freedom, p in
 * (0, 1): Newton's method on the upper tail from the normal quantile, kept
 * inside a bracket (bisection when a step leaves it).
 */
export function studentTQuantileUpper(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new StatsInputError(`studentTQuantileUpper: p must be in (0, 1), got ${p}`);
  if (p === 0.5) return 0;
  if (p > 0.5) return -studentTQuantileUpper(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (studentTSf(hi, df) > p) {
    lo = hi;
    hi *= 4;
    if (hi > 1e300) return Infinity;
  }
  const logC = gammaln((df + 1) / 2) - gammaln(df / 2) - 0.5 * Math.log(df * Math.PI);
  const density = (t: number): number => Math.exp(logC - ((df + 1) / 2) * Math.log1p((t * t) / df));
  let t = Math.min(hi, Math.max(lo, -normalQuantile(p, 0, 1)));
  for (let i = 0; i < 100; i++) {
    const f = studentTSf(t, df) - p; // decreasing in t
    if (f === 0) return t;
    if (f > 0) lo = t;
    else hi = t;
    let next = t + f / density(t);
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - t) <= 1e-12 * Math.max(1, t)) return next;
    t = next;
  }
  return t;
}

/** P(F > f) for the F distribution with (d1, d2) degrees of freedom. */
export function fSf(f: number, d1: number, d2: number): number {
  if (f <= 0) return 1;
  if (f === Infinity) return 0;
  return incompleteBeta(d2 / (d2 + d1 * f), d2 / 2, d1 / 2);
}

/** log Φ(z), finite far into the lower tail (Mills-ratio asymptotics below −30). */
export function logNormalCdf(z: number): number {
  if (z > -30) return Math.log(normalCdf(z, 0, 1));
  // Φ(z) ≈ φ(z)/|z| · (1 − 1/z² + 3/z⁴) for z → −∞.
  const z2 = z * z;
  return -z2 / 2 - Math.log(-z) - 0.5 * Math.log(2 * Math.PI) + Math.log1p(-1 / z2 + 3 / (z2 * z2));
}

/** log(Σ exp(v)) without overflow. */
export function logSumExp(values: readonly number[]): number {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (const v of values) s += Math.exp(v - max);
  return max + Math.log(s);
}

/** log(½eᵃ + ½eᵇ). */
export function logMeanExp2(a: number, b: number): number {
  const m = Math.max(a, b);
  if (m === -Infinity || m === Infinity) return m;
  return m + Math.log((Math.exp(a - m) + Math.exp(b - m)) / 2);
}
