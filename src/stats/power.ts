/**
 * Minimum detectable effect (MDE) of the fixed-horizon rank test at the sample
 * sizes a run actually collected: the smallest location shift the two-sided
 * Mann-Whitney test at level alpha would detect with probability `power`.
 *
 *     MDE = (z₁₋α/₂ + z_power) · σ · √(1/m + 1/n) · √(π/3)
 *
 * σ is the pooled standard deviation of the two groups (about their own
 * means). The √(π/3) factor is the Pitman efficiency of Mann-Whitney relative
 * to the t-test under normal data (3/π, Lehmann 1975, *Nonparametrics*, ch. 2):
 * the rank test needs π/3 ≈ 1.05 times the t-test's sample size there; for
 * heavier tails it needs fewer, so the figure is slightly conservative for
 * latencies. It is an approximation to say "this run could only have seen
 * changes bigger than X", not an exact power calculation; with independent
 * observations assumed, an autocorrelated series makes the true MDE larger.
 */
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { StatsInputError } from './errors.ts';

export interface MdeInput {
  nX: number;
  nY: number;
  /** Pooled standard deviation in metric units. */
  sd: number;
  alpha: number;
  /** Probability of detecting a shift of the returned size. Default 0.8. */
  power?: number;
}

export function minimumDetectableShift(input: MdeInput): number {
  const power = input.power ?? 0.8;
  const { nX, nY, sd, alpha } = input;
  if (!(alpha > 0 && alpha < 1)) throw new StatsInputError(`alpha must be in (0, 1), got ${alpha}`);
  if (!(power > 0 && power < 1)) throw new StatsInputError(`power must be in (0, 1), got ${power}`);
  if (!(nX >= 1 && nY >= 1)) throw new StatsInputError(`need at least one observation per group, got ${nX} and ${nY}`);
  if (!(sd >= 0 && Number.isFinite(sd))) throw new StatsInputError(`sd must be finite and ≥ 0, got ${sd}`);
  const z = normalQuantile(1 - alpha / 2, 0, 1) + normalQuantile(power, 0, 1);
  return z * sd * Math.sqrt(1 / nX + 1 / nY) * Math.sqrt(Math.PI / 3);
}

/** Pooled standard deviation about each group's mean; null when there are fewer than 3 values in all. */
export function pooledSd(x: readonly number[], y: readonly number[]): number | null {
  const df = x.length + y.length - 2;
  if (x.length === 0 || y.length === 0 || df < 1) return null;
  const ss = (v: readonly number[]): number => {
    let mean = 0;
    for (const a of v) mean += a / v.length;
    let s = 0;
    for (const a of v) s += (a - mean) ** 2;
    return s;
  };
  return Math.sqrt((ss(x) + ss(y)) / df);
}
