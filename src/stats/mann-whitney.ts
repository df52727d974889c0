/**
 * Wilcoxon–Mann–Whitney rank-sum test for two independent samples, with the
 * Hodges–Lehmann estimate of the location shift and its confidence interval,
 * computed as R computes
 *
 *     wilcox.test(x, y, exact = FALSE, correct = TRUE, conf.int = TRUE)
 *
 * (R 4.x, `stats:::wilcox.test.default`, two-sample normal-approximation branch).
 *
 * Hypothesis. H0: x and y are drawn from the same continuous distribution.
 * Under the location-shift model F_x(t) = F_y(t − Δ) this is H0: Δ = 0 against
 * Δ ≠ 0 (`two.sided`), Δ > 0 (`greater`: x tends to be larger) or Δ < 0
 * (`less`). Without the shift model the test is about P(X > Y) ≠ ½, not about
 * medians or means.
 *
 * Assumptions. Every observation is independent of every other, within and
 * between the groups. Metric samples scraped as a time series are usually
 * autocorrelated (a slow minute is followed by another), so the effective
 * sample size is smaller than n: p-values come out too small and intervals too
 * narrow, i.e. significance is inflated. Thin the series, or aggregate to
 * independent windows, before calling this. The p-value is the tie-corrected
 * normal approximation with (by default) a continuity correction, for every
 * sample size; for groups of fewer than about 10 it is rough, as R's is with
 * `exact = FALSE`.
 *
 * The estimate and interval invert the test the way R does. R defines
 * W(d) = standardised rank-sum statistic of (x − d) against y, and solves
 * W(d) = zq with `uniroot(tol = 1e-4)`: zq = ±qnorm(α/2) (or qnorm(α) one-sided)
 * for the bounds, and zq = 0 with the continuity correction switched off for
 * the estimate. W is a non-increasing step function of d that only jumps at the
 * pairwise differences x[i] − y[j]; between two consecutive differences it is
 * (U − mn/2 − correction)/σ₀, where U counts the pairs with x[i] − d > y[j]
 * and σ₀ carries the ties within x and within y. So every root is a pairwise
 * difference (or, where W equals zq on a whole interval, that interval) and
 * this module finds it exactly instead of to 1e-4:
 *   - the count U that crosses zq is found by bisection on U;
 *   - the matching order statistic of the m·n differences is found without
 *     materialising them, by bisecting on the bit pattern of a double (at most
 *     64 steps) with an O(m + n) two-pointer count of differences ≤ t.
 * For the estimate this lands exactly on the median of the pairwise
 * differences, the Hodges–Lehmann estimator: when m·n is odd it is the jump
 * point; when m·n is even W is zero on the whole interval between the two middle
 * differences, R returns whichever point of it uniroot happens to try first,
 * and this module returns the midpoint. The bounds keep R's quirks: they never
 * leave [min(x) − max(y), max(x) − min(y)] (R's early returns when W at an end
 * is already past zq), and the one-sided intervals are open with ±Infinity.
 *
 * Cost: O(m log m + n log n) time for the sorts plus O(64 · (m + n)) per order
 * statistic (five at most), O(m + n) memory. Sizes far beyond 2000 × 2000 are fine.
 *
 * Degenerate cases, where R returns NaN or stops with an error, are decided
 * here and reported in `degenerate` (never NaN, never thrown):
 *   - `all-tied`: every value in both groups is the same number. R's two-sided
 *     p-value is 0/0 = NaN and its interval search fails. We return p = 1 (the
 *     observed statistic is exactly its null expectation and every permutation
 *     gives the same one), estimate 0 and interval [0, 0] (every pairwise
 *     difference is 0; it is also what R's own exact-method interval gives).
 *   - `constant-shift`: each group is constant but the two constants differ.
 *     R's p-value is fine (and returned as R computes it) but its interval
 *     search stops ("lower < upper is not fulfilled"). Every pairwise difference
 *     is the same d, R's search range is [d, d], so estimate = d and the
 *     interval is [d, d] (open on the far side when one-sided).
 * Input R would reject, or that would produce NaN, throws `StatsInputError`:
 * an empty group, a NaN or ±Infinity value (filter them first; R silently drops
 * NA), a confidence level outside (0, 1), or differences that overflow.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { StatsInputError } from './errors.ts';

export type Alternative = 'two.sided' | 'less' | 'greater';

export interface MannWhitneyOptions {
  /** Confidence level of the interval, strictly between 0 and 1. Default 0.95. */
  confLevel?: number;
  /** Alternative hypothesis about the shift x − y. Default `two.sided`. */
  alternative?: Alternative;
  /** Continuity correction in the p-value and the interval, as R's `correct`. Default true. */
  correct?: boolean;
}

/** Why the usual computation did not apply; see the module comment. */
export type MannWhitneyDegenerate = 'all-tied' | 'constant-shift';

export interface MannWhitneyResult {
  /** R's W: the Mann–Whitney U of x, sum of x's ranks minus nX(nX + 1)/2 (half-integers with ties). */
  statistic: number;
  pValue: number;
  /** Hodges–Lehmann estimate of the location shift x − y. */
  estimate: number;
  /** Interval on x − y; one-sided intervals are open with −Infinity or +Infinity. */
  confInt: [number, number];
  confLevel: number;
  nX: number;
  nY: number;
  alternative: Alternative;
  degenerate: MannWhitneyDegenerate | null;
}

export function mannWhitney(
  x: readonly number[],
  y: readonly number[],
  opts: MannWhitneyOptions = {},
): MannWhitneyResult {
  const confLevel = opts.confLevel ?? 0.95;
  const alternative = opts.alternative ?? 'two.sided';
  const correct = opts.correct ?? true;
  if (!Number.isFinite(confLevel) || confLevel <= 0 || confLevel >= 1) {
    throw new StatsInputError(`confLevel must be strictly between 0 and 1, got ${confLevel}`);
  }
  const xs = sortedFinite(x, 'x');
  const ys = sortedFinite(y, 'y');
  const m = xs.length;
  const n = ys.length;
  const mn = m * n;
  const xMin = xs[0]!;
  const xMax = xs[m - 1]!;
  const yMin = ys[0]!;
  const yMax = ys[n - 1]!;
  // R's search range for the shift.
  const muMin = xMin - yMax + 0; // + 0 turns a −0 into 0
  const muMax = xMax - yMin + 0;
  if (!Number.isFinite(muMin) || !Number.isFinite(muMax)) {
    throw new StatsInputError('pairwise differences overflow a double; rescale the data');
  }

  const corr = (dz: number): number => {
    if (!correct) return 0;
    if (alternative === 'two.sided') return Math.sign(dz) * 0.5;
    return alternative === 'greater' ? 0.5 : -0.5;
  };

  // --- the test (R: STATISTIC, SIGMA, PVAL) ---------------------------------
  const pooled = rankSum(xs, ys, 0);
  const statistic = pooled.rankSumX - (m * (m + 1)) / 2;
  const sigma = sigmaOf(m, n, pooled.tieTerm);
  let pValue: number;
  if (sigma === 0) {
    // Only when all m + n values are equal; see `all-tied` above.
    pValue = 1;
  } else {
    const dz = statistic - mn / 2;
    const z = (dz - corr(dz)) / sigma;
    const lower = normalCdf(z, 0, 1);
    // Upper tail by symmetry rather than 1 − lower, which cancels away the
    // digits of a small upper-tail p-value.
    const upper = normalCdf(-z, 0, 1);
    pValue = alternative === 'less' ? lower : alternative === 'greater' ? upper : 2 * Math.min(lower, upper);
  }

  const base = { statistic, pValue, confLevel, nX: m, nY: n, alternative };
  const alpha = 1 - confLevel;

  if (xMin === xMax && yMin === yMax) {
    const d = muMin;
    return {
      ...base,
      estimate: d,
      confInt: openSide(alternative, d, d),
      degenerate: sigma === 0 ? 'all-tied' : 'constant-shift',
    };
  }

  // --- the interval and the estimate (R: W, root, uniroot) ------------------
  const diffs = new PairwiseDifferences(xs, ys, muMin, muMax);
  // Between consecutive pairwise differences the only ties are those within x
  // and within y, so this σ₀ holds on every open interval of d.
  const sigma0 = sigmaOf(m, n, tieTermOf(xs) + tieTermOf(ys));

  // R's W at an exact d, used only at the two ends of the search range, where
  // R evaluates it literally (ties between x − d and y included).
  const wAt = (d: number): number => {
    const r = rankSum(xs, ys, d);
    const dz = r.rankSumX - (m * (m + 1)) / 2 - mn / 2;
    return (dz - corr(dz)) / sigmaOf(m, n, r.tieTerm);
  };
  const wMuMin = wAt(muMin);
  const wMuMax = wAt(muMax);

  const bound = (zq: number): number => {
    // R's root(): an end is returned as is when W there is already past zq.
    // The clamp in stepRoot gives the same answer in exact arithmetic; these
    // keep R's behaviour where x − d rounds so that R sees no tie at the end.
    if (wMuMin - zq <= 0) return muMin;
    if (wMuMax - zq >= 0) return muMax;
    return stepRoot(diffs, mn, (u) => {
      const dz = u - mn / 2;
      return (dz - corr(dz)) / sigma0;
    }, zq);
  };

  let confInt: [number, number];
  if (alternative === 'two.sided') {
    const q = normalQuantile(alpha / 2, 0, 1); // negative
    confInt = [bound(-q), bound(q)];
  } else if (alternative === 'greater') {
    confInt = [bound(-normalQuantile(alpha, 0, 1)), Infinity];
  } else {
    confInt = [-Infinity, bound(normalQuantile(alpha, 0, 1))];
  }

  // R switches the continuity correction off before solving W(d) = 0.
  const estimate = stepRoot(diffs, mn, (u) => (u - mn / 2) / sigma0, 0);

  return { ...base, estimate, confInt, degenerate: null };
}

/**
 * The root of g(U(d)) = zq, where U(d) = #{pairs with x − d > y} on the open
 * intervals between pairwise differences and g is non-decreasing in U. Where
 * g(u) = zq for a run of u, the roots form an interval and its midpoint is
 * returned. Clamped to [min, max] difference, R's search range.
 */
function stepRoot(diffs: PairwiseDifferences, mn: number, g: (u: number) => number, zq: number): number {
  // W − zq > 0 while u > uAtMost, = 0 for uBelow < u ≤ uAtMost, < 0 for u ≤ uBelow.
  const uAtMost = lastTrue(mn, (u) => g(u) - zq <= 0);
  const uBelow = lastTrue(mn, (u) => g(u) - zq < 0);
  // d just right of the k-th smallest difference has U = mn − k.
  const kLo = clamp(mn - uAtMost, 1, mn);
  const kHi = clamp(mn - uBelow, 1, mn);
  const lo = diffs.kth(kLo);
  const hi = kHi === kLo ? lo : diffs.kth(kHi);
  return lo === hi ? lo : (lo + hi) / 2;
}

/** Largest u in [0, n] with ok(u), or −1; ok must hold on a prefix. */
function lastTrue(n: number, ok: (u: number) => boolean): number {
  let lo = -1;
  let hi = n + 1;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (ok(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function openSide(alternative: Alternative, lo: number, hi: number): [number, number] {
  if (alternative === 'greater') return [lo, Infinity];
  if (alternative === 'less') return [-Infinity, hi];
  return [lo, hi];
}

/** R's SIGMA: sd of the rank sum under H0 with the tie correction. */
function sigmaOf(m: number, n: number, tieTerm: number): number {
  return Math.sqrt(((m * n) / 12) * (m + n + 1 - tieTerm / ((m + n) * (m + n - 1))));
}

/**
 * Sum of mid-ranks of (x − shift) in the pooled sample and Σ(t³ − t) over tie
 * groups, by merging the two sorted arrays. x − shift is computed exactly as R
 * computes `x - d`, so ties are the ones R sees.
 */
function rankSum(xs: Float64Array, ys: Float64Array, shift: number): { rankSumX: number; tieTerm: number } {
  const m = xs.length;
  const n = ys.length;
  let i = 0;
  let j = 0;
  let pos = 0;
  let rankSumX = 0;
  let tieTerm = 0;
  while (i < m || j < n) {
    const v = i >= m ? ys[j]! : j >= n ? xs[i]! - shift : Math.min(xs[i]! - shift, ys[j]!);
    let cx = 0;
    while (i < m && xs[i]! - shift === v) {
      cx++;
      i++;
    }
    let cy = 0;
    while (j < n && ys[j] === v) {
      cy++;
      j++;
    }
    const t = cx + cy;
    rankSumX += cx * (pos + (t + 1) / 2);
    tieTerm += t * t * t - t;
    pos += t;
  }
  return { rankSumX, tieTerm };
}

/** Σ(t³ − t) over the tie groups of one sorted array. */
function tieTermOf(sorted: Float64Array): number {
  let term = 0;
  let i = 0;
  while (i < sorted.length) {
    let t = 1;
    while (i + t < sorted.length && sorted[i + t] === sorted[i]) t++;
    term += t * t * t - t;
    i += t;
  }
  return term;
}

function sortedFinite(values: readonly number[], name: string): Float64Array {
  if (values.length === 0) throw new StatsInputError(`${name} is empty: need at least one observation`);
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new StatsInputError(`${name}[${i}] is ${v}: only finite values can be ranked`);
    out[i] = v;
  }
  return out.sort();
}

/**
 * The m·n differences x[i] − y[j] (as doubles, as R's `outer(x, y, "-")`),
 * queried by rank without storing them.
 */
class PairwiseDifferences {
  private readonly xs: Float64Array;
  private readonly ys: Float64Array;
  private readonly min: number;
  private readonly max: number;

  constructor(xs: Float64Array, ys: Float64Array, min: number, max: number) {
    this.xs = xs;
    this.ys = ys;
    this.min = min;
    this.max = max;
  }

  /** #{(i, j): x[i] − y[j] ≤ t}. For a fixed i the qualifying j form a suffix of sorted y that only shrinks as x[i] grows. */
  countAtMost(t: number): number {
    const { xs, ys } = this;
    const n = ys.length;
    let p = 0;
    let count = 0;
    for (let i = 0; i < xs.length; i++) {
      const xi = xs[i]!;
      while (p < n && xi - ys[p]! > t) p++;
      count += n - p;
    }
    return count;
  }

  /**
   * The k-th smallest difference (1-based): the smallest double t with
   * countAtMost(t) ≥ k. Bisecting on the order-preserving integer image of the
   * doubles in [min, max] ends in at most 64 steps on an exact difference.
   */
  kth(k: number): number {
    let lo = orderKey(this.min);
    let hi = orderKey(this.max);
    while (lo < hi) {
      const mid = lo + (hi - lo) / 2n;
      if (this.countAtMost(fromOrderKey(mid)) >= k) hi = mid;
      else lo = mid + 1n;
    }
    return fromOrderKey(lo) + 0; // + 0 turns a −0 into 0
  }
}

// Doubles mapped to unsigned 64-bit integers whose order is the doubles' order.
const scratch = new Float64Array(1);
const scratchBits = new BigUint64Array(scratch.buffer);
const SIGN_BIT = 1n << 63n;
const ALL_BITS = (1n << 64n) - 1n;

function orderKey(v: number): bigint {
  scratch[0] = v;
  const bits = scratchBits[0]!;
  return bits & SIGN_BIT ? ALL_BITS ^ bits : bits | SIGN_BIT;
}

function fromOrderKey(key: bigint): number {
  scratchBits[0] = key & SIGN_BIT ? key ^ SIGN_BIT : ALL_BITS ^ key;
  return scratch[0]!;
}
