/**
 * The data side of a chart, without SVG: lines split at gaps, long series
 * thinned keeping spikes, and the x and y ranges (with round y bounds).
 */
import { niceStep } from '../../lib/axis-ticks.ts';
import type { Sample } from '../../metric-sources/types.ts';

/** Split at non-finite values and at gaps much longer than the usual step, so a line never bridges missing data. */
export function segmentsOf(samples: readonly Sample[]): Sample[][] {
  const finite = samples.filter((s) => Number.isFinite(s.t)).slice().sort((a, b) => a.t - b.t);
  const steps: number[] = [];
  for (let i = 1; i < finite.length; i++) steps.push((finite[i] as Sample).t - (finite[i - 1] as Sample).t);
  const typical = steps.length >= 2 ? (steps.slice().sort((a, b) => a - b)[Math.floor(steps.length / 2)] as number) : Infinity;
  const segments: Sample[][] = [];
  let current: Sample[] = [];
  let previous: Sample | undefined;
  for (const s of finite) {
    const gap = previous !== undefined && typical > 0 && s.t - previous.t > 5 * typical;
    if (!Number.isFinite(s.v) || gap) {
      if (current.length > 0) segments.push(current);
      current = [];
    }
    if (Number.isFinite(s.v)) current.push(s);
    previous = s;
  }
  if (current.length > 0) segments.push(current);
  return segments;
}

/**
 * Keep at most about `max` points: per time bucket the first, lowest, highest
 * and last sample, in time order, so spikes survive and the shape is the same
 * at screen resolution.
 */
export function decimate(samples: readonly Sample[], buckets: number, max: number): Sample[] {
  if (samples.length <= max) return samples.slice();
  const first = samples[0] as Sample;
  const last = samples[samples.length - 1] as Sample;
  const n = Math.max(1, Math.min(buckets, Math.floor(max / 4)));
  const width = (last.t - first.t) / n || 1;
  const out: Sample[] = [];
  let bucket: Sample[] = [];
  let index = 0;
  const flush = (): void => {
    if (bucket.length === 0) return;
    const picks = new Set<Sample>([bucket[0] as Sample, bucket[bucket.length - 1] as Sample]);
    let lo = bucket[0] as Sample;
    let hi = lo;
    for (const s of bucket) {
      if (s.v < lo.v) lo = s;
      if (s.v > hi.v) hi = s;
    }
    picks.add(lo).add(hi);
    out.push(...bucket.filter((s) => picks.has(s)));
    bucket = [];
  };
  for (const s of samples) {
    const i = Math.min(n - 1, Math.floor((s.t - first.t) / width));
    if (i !== index) {
      flush();
      index = i;
    }
    bucket.push(s);
  }
  flush();
  return out;
}

export function domainOf(values: readonly number[]): [number, number] {
  return extent(values) ?? [0, 1];
}

/** Smallest and largest finite value, or undefined; a loop, since spreading 10⁵ values into Math.min overflows the stack. */
export function extent(values: Iterable<number>): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : undefined;
}

export function widen(lo: number, hi: number, minSpan: number): [number, number] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, minSpan];
  if (hi - lo >= minSpan) return [lo, hi];
  const mid = (lo + hi) / 2;
  return [mid - minSpan / 2, mid + minSpan / 2];
}

/** Data range plus 8% headroom; never below 0 when no value is, a visible range for a constant. */
export function yDomainOf(values: readonly number[]): [number, number] {
  const range = extent(values);
  if (!range) return [0, 1];
  let [lo, hi] = range;
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo >= 0 && lo - pad < 0 ? 0 : lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.08;
  const nonNegative = lo >= 0;
  lo -= pad;
  hi += pad;
  if (nonNegative && lo < 0) lo = 0;
  // Extend to the enclosing nice ticks so the top and bottom gridlines frame the data.
  const step = niceStep((hi - lo) / 5);
  return [Math.floor(lo / step) * step, Math.ceil(hi / step) * step];
}
