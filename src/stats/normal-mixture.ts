/**
 * Normal-mixture test martingales (Robbins 1970, "Statistical methods related
 * to the law of the iterated logarithm", Ann. Math. Statist. 41:1397–1409) in
 * standardized units, the building block of the sequential mean and
 * proportion tests.
 *
 * Let s = S/σ be a sum of n increments with mean 0 and (long-run) variance σ²
 * per increment, so that exp(λs − λ²n/2) is (approximately) a martingale for
 * every λ. Mixing λ over N(0, ρ²) gives the two-sided mixture
 *
 *     log M = −½ log(1 + ρ²n) + ρ²s² / (2(1 + ρ²n)),
 *
 * and mixing over the half-normal on λ ≥ 0 the one-sided one
 *
 *     log M⁺ = log 2 − ½ log(1 + ρ²n) + z²/2 + log Φ(z),  z = ρs/√(1 + ρ²n),
 *
 * which is a supermartingale for every mean ≤ 0 (a composite null) and gains
 * up to a factor 2 over the two-sided mixture on the side it watches. Ville's
 * inequality, P(∃n: M ≥ 1/α) ≤ α, makes 1/max M an anytime-valid p-value and
 * {μ: log M(μ) < log 1/α} a confidence sequence.
 *
 * With σ replaced by an estimate, these are the asymptotic confidence
 * sequences of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2024),
 * "Time-uniform central limit theory and asymptotic confidence sequences",
 * Ann. Statist. 52(6): valid in the limit under a strong invariance principle,
 * which also holds for weakly dependent stationary increments when σ² is their
 * long-run variance (see long-run-variance.ts).
 *
 * Small-sample correction. A plug-in σ̂² estimated from K batches makes
 * s/√n behave like Student's t with K − 1 degrees of freedom rather than a
 * normal deviate; treating it as normal is exactly the over-confidence of a
 * z-test on a handful of points. `standardizedSum` therefore maps t to the
 * normal deviate with the same tail probability before it enters the mixture,
 * and `tRadius` widens the confidence sequence the same way. As K grows the
 * correction vanishes.
 *
 * ρ sets where the boundary is tightest; Howard, Ramdas, McAuliffe & Sekhon
 * (2021), "Time-uniform, nonparametric, nonasymptotic confidence sequences",
 * Ann. Statist. 49(2), eq. (3.10)–(3.11), give
 *     ρ² = (2 log(1/α) + log(1 + 2 log(1/α))) / m
 * to make it tightest after m looks.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { logNormalCdf, studentTQuantileUpper, studentTSf } from './special.ts';

export function mixtureRho2(alpha: number, targetLooks: number): number {
  const l = 2 * Math.log(1 / alpha);
  return (l + Math.log(1 + l)) / targetLooks;
}

export function logMixtureTwoSided(s: number, n: number, rho2: number): number {
  const v = 1 + rho2 * n;
  return -0.5 * Math.log(v) + (rho2 * s * s) / (2 * v);
}

export function logMixtureOneSided(s: number, n: number, rho2: number): number {
  if (s === Infinity) return Infinity;
  if (s === -Infinity) return -Infinity;
  const v = 1 + rho2 * n;
  const z = (Math.sqrt(rho2) * s) / Math.sqrt(v);
  return Math.LN2 - 0.5 * Math.log(v) + (z * z) / 2 + logNormalCdf(z);
}

/** The confidence-sequence radius in standardized-sum units: the two-sided mixture rejects when |s| ≥ this. */
export function mixtureRadius(n: number, rho2: number, alpha: number): number {
  const v = 1 + rho2 * n;
  return Math.sqrt((v / rho2) * (2 * Math.log(1 / alpha) + Math.log(v)));
}

/**
 * s = S/σ̂ for a sum S of n values with plug-in per-value variance σ̂² on df
 * degrees of freedom, with t = s/√n mapped to the normal deviate of equal tail
 * probability. A zero variance leaves no noise to weigh S against: 0 for
 * S = 0, else ±Infinity.
 */
export function standardizedSum(sum: number, variance: number, n: number, df: number): number {
  if (!(variance > 0)) return sum === 0 ? 0 : sum > 0 ? Infinity : -Infinity;
  const t = sum / Math.sqrt(variance * n);
  if (t === 0) return 0;
  const tail = studentTSf(Math.abs(t), df);
  // Beyond ~1e-308 the tail underflows; 38.5 is the normal deviate of the smallest double.
  const z = tail > 0 ? -normalQuantile(tail, 0, 1) : 38.5;
  return Math.sign(t) * Math.max(0, z) * Math.sqrt(n);
}

/**
 * Half-width, in units of σ̂/√n, of the confidence sequence from a mixture
 * radius R (in s units) with the small-sample correction: the t quantile with
 * the same tail probability as R/√n.
 */
export function tRadius(radius: number, n: number, df: number): number {
  // The same (radius, n, df) recurs at every look of every run with the same
  // parameters, so the quantile is memoized (a small numeric-keyed cache).
  let byNdf = radiusCache.get(radius);
  if (byNdf === undefined) {
    if (radiusCache.size >= 50_000) radiusCache.clear();
    byNdf = new Map<number, number>();
    radiusCache.set(radius, byNdf);
  }
  const key = n * 1_000_003 + df;
  const hit = byNdf.get(key);
  if (hit !== undefined) return hit;
  const tail = normalCdf(-radius / Math.sqrt(n), 0, 1);
  const value = tail > 0 ? studentTQuantileUpper(tail, df) : Infinity;
  byNdf.set(key, value);
  return value;
}

const radiusCache = new Map<number, Map<number, number>>();
