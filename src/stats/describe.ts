/**
 * Descriptive statistics shown beside a verdict. Only finite values count:
 * a NaN or ±Infinity from a metric source (0/0 rates, empty buckets) is not an
 * observation, and is never allowed to turn a median or a mean into NaN.
 */
import { median, sum } from 'simple-statistics';

export interface Summary {
  /** How many finite values were summarised. */
  n: number;
  /** null when there is no finite value. */
  median: number | null;
  /** null when there is no finite value. */
  mean: number | null;
}

export function summarize(xs: readonly number[]): Summary {
  const finite = xs.filter((v) => Number.isFinite(v));
  const n = finite.length;
  if (n === 0) return { n, median: null, mean: null };
  // Dividing before adding keeps every partial sum within the largest |value|,
  // so the mean of finite values is finite; the sum itself is compensated
  // (Neumaier), so the early division costs no meaningful precision.
  return { n, median: median(finite), mean: sum(finite.map((v) => v / n)) };
}
