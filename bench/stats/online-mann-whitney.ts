/**
 * The Kayenta-style baseline checked at every look: R's wilcox.test p-value
 * (normal approximation, tie and continuity correction), kept up to date one
 * pair at a time in O(log n) plus an O(n) array insert, instead of re-ranking
 * the whole window at each look. The test in test/stats checks it against
 * src/stats/mann-whitney.ts at every look.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';

export class OnlineMannWhitney {
  private readonly xs: Float64Array;
  private readonly ys: Float64Array;
  private m = 0;
  private n = 0;
  /** U of x: #{x > y} + ½ #{x = y}. */
  private u = 0;
  private tieTerm = 0;
  private readonly counts = new Map<number, number>();

  constructor(capacity: number) {
    this.xs = new Float64Array(capacity);
    this.ys = new Float64Array(capacity);
  }

  /** Add one x (experiment) value. */
  addX(v: number): void {
    this.u += lowerBound(this.ys, this.n, v) + 0.5 * (upperBound(this.ys, this.n, v) - lowerBound(this.ys, this.n, v));
    insert(this.xs, this.m, v);
    this.m++;
    this.tie(v);
  }

  /** Add one y (control) value. */
  addY(v: number): void {
    const below = lowerBound(this.xs, this.m, v);
    const upTo = upperBound(this.xs, this.m, v);
    this.u += this.m - upTo + 0.5 * (upTo - below);
    insert(this.ys, this.n, v);
    this.n++;
    this.tie(v);
  }

  /** Two-sided p-value and the sign of U − mn/2 (+1: x tends larger). */
  test(): { pValue: number; side: number } {
    const { m, n } = this;
    const N = m + n;
    const sigma = Math.sqrt(((m * n) / 12) * (N + 1 - this.tieTerm / (N * (N - 1))));
    const dz = this.u - (m * n) / 2;
    if (sigma === 0) return { pValue: 1, side: 0 };
    const z = (dz - Math.sign(dz) * 0.5) / sigma;
    return { pValue: Math.min(1, 2 * Math.min(normalCdf(z, 0, 1), normalCdf(-z, 0, 1))), side: Math.sign(dz) };
  }

  private tie(v: number): void {
    const t = this.counts.get(v) ?? 0;
    // (t+1)³ − (t+1) − (t³ − t) = 3t² + 3t
    this.tieTerm += 3 * t * t + 3 * t;
    this.counts.set(v, t + 1);
  }
}

function lowerBound(a: Float64Array, len: number, v: number): number {
  let lo = 0;
  let hi = len;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upperBound(a: Float64Array, len: number, v: number): number {
  let lo = 0;
  let hi = len;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insert(a: Float64Array, len: number, v: number): void {
  const at = upperBound(a, len, v);
  a.copyWithin(at + 1, at, len);
  a[at] = v;
}
