/**
 * The numeric cores of rate()/increase()/delta() and histogram_quantile(),
 * as pure functions, transcribed from Prometheus 2.x (promql/functions.go
 * `extrapolatedRate`, promql/quantile.go `bucketQuantile`) so that the scrape
 * source answers what Prometheus would answer on the same samples.
 */

export interface Point {
  /** Unix milliseconds. */
  t: number;
  v: number;
}

/**
 * Prometheus's extrapolated rate over the samples of one range `[rangeStartMs,
 * rangeEndMs]` (oldest first, stale markers already removed):
 * - the increase is last − first, plus, for counters, the value before each
 *   drop (a counter reset restarts from zero);
 * - it is extrapolated towards the range's ends by the gap to each end when
 *   that gap is under 1.1 × the average sample interval, else by half an
 *   interval (the series probably started or ended there);
 * - for a counter, never further back than where it would reach zero.
 * Returns undefined with fewer than two samples (Prometheus drops the series).
 */
export function extrapolatedRate(
  points: readonly Point[],
  rangeStartMs: number,
  rangeEndMs: number,
  rangeSeconds: number,
  isCounter: boolean,
  isRate: boolean,
): number | undefined {
  if (points.length < 2) return undefined;
  const first = points[0] as Point;
  const last = points[points.length - 1] as Point;
  let result = last.v - first.v;
  if (isCounter) {
    // Starts at 0 as Prometheus's does: a negative first value counts as a reset.
    let prev = 0;
    for (const p of points) {
      if (p.v < prev) result += prev;
      prev = p.v;
    }
  }
  let durationToStart = (first.t - rangeStartMs) / 1000;
  const durationToEnd = (rangeEndMs - last.t) / 1000;
  const sampledInterval = (last.t - first.t) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (points.length - 1);

  if (isCounter && result > 0 && first.v >= 0) {
    const durationToZero = sampledInterval * (first.v / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }

  const extrapolationThreshold = averageDurationBetweenSamples * 1.1;
  let extrapolateToInterval = sampledInterval;
  extrapolateToInterval += durationToStart < extrapolationThreshold ? durationToStart : averageDurationBetweenSamples / 2;
  extrapolateToInterval += durationToEnd < extrapolationThreshold ? durationToEnd : averageDurationBetweenSamples / 2;
  let factor = extrapolateToInterval / sampledInterval;
  if (isRate) factor /= rangeSeconds;
  return result * factor;
}

export interface Bucket {
  /** The `le` bound, +Inf for the last bucket. */
  upperBound: number;
  /** Cumulative count (or rate) of observations ≤ upperBound. */
  count: number;
}

/**
 * Prometheus's quantile estimate from cumulative buckets: find the bucket
 * holding rank q × total and interpolate linearly inside it (from 0 for the
 * first bucket unless its bound is ≤ 0). Special cases, as in Prometheus:
 * q < 0 → −Inf, q > 1 → +Inf, q NaN → NaN; no +Inf bucket, fewer than two
 * buckets or no observations → NaN; a rank in the +Inf bucket → the highest
 * finite bound. Buckets with equal bounds are merged and counts forced
 * monotonic (rates of buckets scraped at slightly different times may dip).
 */
export function bucketQuantile(q: number, input: readonly Bucket[]): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  if (input.length === 0) return Number.NaN;
  const sorted = [...input].sort((a, b) => a.upperBound - b.upperBound);
  if ((sorted[sorted.length - 1] as Bucket).upperBound !== Number.POSITIVE_INFINITY) return Number.NaN;

  // coalesceBuckets
  const buckets: Bucket[] = [];
  for (const b of sorted) {
    const last = buckets[buckets.length - 1];
    if (last && last.upperBound === b.upperBound) last.count += b.count;
    else buckets.push({ upperBound: b.upperBound, count: b.count });
  }
  // ensureMonotonic
  let max = Number.NEGATIVE_INFINITY;
  for (const b of buckets) {
    if (b.count > max) max = b.count;
    else if (b.count < max) b.count = max;
  }

  if (buckets.length < 2) return Number.NaN;
  const observations = (buckets[buckets.length - 1] as Bucket).count;
  if (observations === 0) return Number.NaN;
  let rank = q * observations;
  // sort.Search over all but the +Inf bucket: the first with count ≥ rank.
  let b = 0;
  while (b < buckets.length - 1 && !((buckets[b] as Bucket).count >= rank)) b++;

  if (b === buckets.length - 1) return (buckets[buckets.length - 2] as Bucket).upperBound;
  if (b === 0 && (buckets[0] as Bucket).upperBound <= 0) return (buckets[0] as Bucket).upperBound;
  let bucketStart = 0;
  const bucketEnd = (buckets[b] as Bucket).upperBound;
  let count = (buckets[b] as Bucket).count;
  if (b > 0) {
    const prev = buckets[b - 1] as Bucket;
    bucketStart = prev.upperBound;
    count -= prev.count;
    rank -= prev.count;
  }
  return bucketStart + (bucketEnd - bucketStart) * (rank / count);
}
