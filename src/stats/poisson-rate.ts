/**
 * Exact test of two Poisson rates by conditioning on the total count, computed
 * as R computes
 *
 *     poisson.test(c(x, y), c(tX, tY), r = ratio, alternative, conf.level)
 *
 * (R 4.x, `stats::poisson.test`, two-sample branch, which calls `binom.test`).
 *
 * Hypothesis. x ~ Poisson(λx·tX) and y ~ Poisson(λy·tY), independent. Given
 * x + y = n, x ~ Binomial(n, p) with p = ρ·tX / (ρ·tX + tY), ρ = λx/λy.
 * H0: ρ = `ratio` (two-sided), ρ ≤ `ratio` (`greater`) or ρ ≥ `ratio`
 * (`less`). The p-value is exact (no large-sample approximation), which is why
 * it is the rare-event test: with a handful of errors in one group and none in
 * the other, a rank test on per-step values sees mostly ties (kayenta#426),
 * while this test uses every event.
 *
 * Assumptions. Events are independent given the rates: each error is its own
 * Poisson event. Errors that arrive in bursts (one incident, twenty failed
 * requests in one step) are overdispersed and make this test too eager; the
 * sequential proportion test estimates the dispersion instead.
 *
 * The estimate is the rate ratio (x/tX)/(y/tY) (Infinity when y = 0 < x,
 * null when x = y = 0) and the interval is the Clopper–Pearson interval of p
 * mapped to ρ, as R reports it.
 */
import { StatsInputError } from './errors.ts';
import type { Alternative } from './mann-whitney.ts';
import { betaQuantile, binomialCdf, binomialLogPmf, binomialSf } from './special.ts';

export interface BinomialTestResult {
  pValue: number;
  /** x / n; null when n = 0. */
  estimate: number | null;
  /** Clopper–Pearson interval on the success probability. */
  confInt: [number, number];
}

/** R's binom.test(x, n, p, alternative, conf.level); n = 0 gives p = 1 and the interval [0, 1]. */
export function binomialTest(
  x: number,
  n: number,
  p: number,
  alternative: Alternative = 'two.sided',
  confLevel = 0.95,
): BinomialTestResult {
  if (!(Number.isInteger(x) && Number.isInteger(n) && x >= 0 && n >= x)) {
    throw new StatsInputError(`binomialTest: need integers 0 ≤ x ≤ n, got x=${x}, n=${n}`);
  }
  if (!(p >= 0 && p <= 1)) throw new StatsInputError(`binomialTest: p must be in [0, 1], got ${p}`);
  if (!(confLevel > 0 && confLevel < 1)) throw new StatsInputError(`binomialTest: confLevel must be in (0, 1), got ${confLevel}`);
  if (n === 0) return { pValue: 1, estimate: null, confInt: [0, 1] };

  let pValue: number;
  if (alternative === 'less') pValue = binomialCdf(x, n, p);
  else if (alternative === 'greater') pValue = binomialSf(x - 1, n, p);
  else pValue = twoSidedBinomialP(x, n, p);

  const alpha = 1 - confLevel;
  const lower = (a: number): number => (x === 0 ? 0 : betaQuantile(a, x, n - x + 1));
  const upper = (a: number): number => (x === n ? 1 : betaQuantile(1 - a, x + 1, n - x));
  const confInt: [number, number] =
    alternative === 'less' ? [0, upper(alpha)] : alternative === 'greater' ? [lower(alpha), 1] : [lower(alpha / 2), upper(alpha / 2)];
  return { pValue: Math.min(1, pValue), estimate: x / n, confInt };
}

/**
 * R's two-sided rule: add the probabilities of every outcome on the other side
 * of the mean that is no more likely than the observed one (relative slack
 * 1e-7). The pmf is unimodal, so those outcomes form a tail found by bisection.
 */
function twoSidedBinomialP(x: number, n: number, p: number): number {
  const m = n * p;
  if (x === m) return 1;
  const logD = binomialLogPmf(x, n, p) + Math.log1p(1e-7);
  if (x < m) {
    // Smallest i ≥ ceil(m) with pmf(i) ≤ d; pmf decreases on [ceil(m), n].
    let lo = Math.ceil(m);
    let hi = n + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (binomialLogPmf(mid, n, p) <= logD) hi = mid;
      else lo = mid + 1;
    }
    const y = n + 1 - lo; // how many such i
    return binomialCdf(x, n, p) + binomialSf(n - y, n, p);
  }
  // Largest i ≤ floor(m) with pmf(i) ≤ d; pmf increases on [0, floor(m)].
  let lo = -1;
  let hi = Math.floor(m);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (binomialLogPmf(mid, n, p) <= logD) lo = mid;
    else hi = mid - 1;
  }
  const y = lo + 1;
  return binomialCdf(y - 1, n, p) + binomialSf(x - 1, n, p);
}

export interface PoissonRateTestOptions {
  /** The rate ratio λx/λy under H0. Default 1. */
  ratio?: number;
  alternative?: Alternative;
  confLevel?: number;
}

export interface PoissonRateTestResult {
  pValue: number;
  /** (x/tX)/(y/tY); Infinity when y = 0 < x; null when x = y = 0. */
  estimate: number | null;
  /** Interval on the rate ratio (upper end Infinity when open). */
  confInt: [number, number];
  /** The conditional binomial probability under H0. */
  nullProbability: number;
  x: number;
  y: number;
}

export function poissonRateTest(
  x: number,
  y: number,
  tX: number,
  tY: number,
  opts: PoissonRateTestOptions = {},
): PoissonRateTestResult {
  const ratio = opts.ratio ?? 1;
  if (!(tX > 0 && tY > 0 && Number.isFinite(tX) && Number.isFinite(tY))) {
    throw new StatsInputError(`poissonRateTest: exposures must be finite and > 0, got ${tX}, ${tY}`);
  }
  if (!(ratio > 0 && Number.isFinite(ratio))) throw new StatsInputError(`poissonRateTest: ratio must be finite and > 0, got ${ratio}`);
  const p = (ratio * tX) / (ratio * tX + tY);
  const b = binomialTest(x, x + y, p, opts.alternative ?? 'two.sided', opts.confLevel ?? 0.95);
  const toRatio = (q: number): number => (q >= 1 ? Infinity : ((q / (1 - q)) * tY) / tX);
  const estimate = x + y === 0 ? null : y === 0 ? Infinity : x / tX / (y / tY);
  return { pValue: b.pValue, estimate, confInt: [toRatio(b.confInt[0]), toRatio(b.confInt[1])], nullProbability: p, x, y };
}
