/**
 * Independent units from a dependent per-step series (ADR 013).
 *
 * The engine collects one value per step and group. Neighbouring values are
 * not independent: `rate(x[15s])` at a 1 s step shares 14/15 of its events
 * with the next value, a p95 over a 15 s window shares its requests, a load
 * swing moves both groups at once. A test that counts every step as a sample
 * (Mann-Whitney, Brown–Forsythe, a t-test) is over-confident by roughly the
 * window/step ratio. Here the series is cut into units that are independent:
 *
 *   windows  The query has a range window of k steps. Values k steps apart are
 *            built from disjoint events, so phase p (steps p, p+k, p+2k, …) is a
 *            series of independent windows. Every phase estimates the same
 *            mean; the judge averages the phases' means (using every step) and
 *            their variances (each phase's sample variance over its m_p windows
 *            divided by m_p). The variance of an average of equally distributed,
 *            correlated phase means is at most their common variance, so the
 *            estimate is conservative; the reference distribution is Student's
 *            t on min m_p − 1 degrees of freedom.
 *   batches  No range window (a gauge): the dependence between steps is
 *            unknown, so steps are grouped into ⌊n/b⌋ batches of b = ⌊√n⌋
 *            consecutive steps (batch means; Jones, Haran, Caffo & Neath 2006,
 *            the √n rule), and the batch means are the units.
 *
 * Pairing. Units pair control and experiment at the same steps: what the
 * groups share (load, time of day, a deploy elsewhere) cancels in their
 * contrast, which is the point of a concurrent control (ChAP).
 *
 * Assumptions: units of one phase are independent (true for events counted in
 * disjoint windows when events are independent across windows; sticky users
 * whose sessions straddle a window edge add a little dependence), and the
 * contrast's distribution is close enough to normal for a t reference
 * (sums over a window's events, or percentiles over a window's requests).
 */

export type UnitLayout = { kind: 'windows'; stride: number } | { kind: 'batches'; size: number };

/** How to cut n paired steps of a query whose raw material spans `windowSteps` steps (`null`: unknown, a gauge). */
export function unitLayout(windowSteps: number | null, n: number): UnitLayout {
  if (windowSteps === null) return { kind: 'batches', size: Math.max(1, Math.floor(Math.sqrt(n))) };
  return { kind: 'windows', stride: Math.max(1, Math.floor(windowSteps)) };
}

/** Per phase, the unit values of one series. */
export function toUnits(values: readonly number[], layout: UnitLayout): number[][] {
  if (layout.kind === 'windows') {
    const phases: number[][] = Array.from({ length: Math.min(layout.stride, values.length) }, () => []);
    values.forEach((v, i) => phases[i % layout.stride]!.push(v));
    return phases;
  }
  const batches: number[] = [];
  for (let i = 0; i + layout.size <= values.length; i += layout.size) {
    let s = 0;
    for (let j = i; j < i + layout.size; j++) s += values[j]!;
    batches.push(s / layout.size);
  }
  return [batches];
}

/**
 * Moments of a pair of series (a, b) over independent units: the means over
 * every step, and the variance/covariance of those means, averaged over
 * phases. `varianceOf(wa, wb)` is the variance of wa·mean(a) + wb·mean(b).
 */
export interface PairedMoments {
  /** Paired steps. */
  n: number;
  meanA: number;
  meanB: number;
  /** Var(mean a), Var(mean b), Cov(mean a, mean b), from the units. */
  vaa: number;
  vbb: number;
  vab: number;
  /** Degrees of freedom of the t reference: fewest units in a phase − 1. */
  df: number;
  /** Independent units per group (the smallest phase's count). */
  units: number;
  layout: UnitLayout;
  /** Degrees of freedom contributed by the noise learned before the window (paired-judge.ts), if any. */
  historyDf?: number;
}

export function pairedMoments(a: readonly number[], b: readonly number[], layout: UnitLayout): PairedMoments {
  // Position i is step i; a pair with a non-finite value is left out where it stands, so phases keep to disjoint windows.
  const n0 = Math.min(a.length, b.length);
  const ok = (i: number): boolean => Number.isFinite(a[i]) && Number.isFinite(b[i]);
  let n = 0;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < n0; i++) {
    if (!ok(i)) continue;
    n += 1;
    sa += a[i]!;
    sb += b[i]!;
  }
  const meanA = n > 0 ? sa / n : NaN;
  const meanB = n > 0 ? sb / n : NaN;
  const { ua, ub } = unitPairs(a, b, n0, ok, layout);
  let vaa = 0;
  let vbb = 0;
  let vab = 0;
  let phases = 0;
  let units = Infinity;
  ua.forEach((pa, p) => {
    const pb = ub[p]!;
    const m = pa.length;
    units = Math.min(units, m);
    if (m < 2) return;
    const ma = mean(pa);
    const mb = mean(pb);
    let saa = 0;
    let sbb = 0;
    let sab = 0;
    for (let i = 0; i < m; i++) {
      const da = pa[i]! - ma;
      const db = pb[i]! - mb;
      saa += da * da;
      sbb += db * db;
      sab += da * db;
    }
    vaa += saa / (m - 1) / m;
    vbb += sbb / (m - 1) / m;
    vab += sab / (m - 1) / m;
    phases += 1;
  });
  if (units === Infinity) units = 0;
  if (phases === 0) return { n, meanA, meanB, vaa: NaN, vbb: NaN, vab: NaN, df: 0, units, layout };
  return { n, meanA, meanB, vaa: vaa / phases, vbb: vbb / phases, vab: vab / phases, df: Math.max(0, units - 1), units, layout };
}

/** The unit values of both series, per phase: finite pairs at their step (windows), or means of a batch's finite pairs (batches, at least half finite). */
function unitPairs(a: readonly number[], b: readonly number[], n0: number, ok: (i: number) => boolean, layout: UnitLayout): { ua: number[][]; ub: number[][] } {
  if (layout.kind === 'windows') {
    const ua: number[][] = Array.from({ length: Math.min(layout.stride, n0) }, () => []);
    const ub: number[][] = Array.from({ length: Math.min(layout.stride, n0) }, () => []);
    for (let i = 0; i < n0; i++) {
      if (!ok(i)) continue;
      ua[i % layout.stride]!.push(a[i]!);
      ub[i % layout.stride]!.push(b[i]!);
    }
    return { ua, ub };
  }
  const ua: number[] = [];
  const ub: number[] = [];
  for (let i = 0; i + layout.size <= n0; i += layout.size) {
    let k = 0;
    let sa = 0;
    let sb = 0;
    for (let j = i; j < i + layout.size; j++) {
      if (!ok(j)) continue;
      k += 1;
      sa += a[j]!;
      sb += b[j]!;
    }
    if (k * 2 < layout.size || k === 0) continue;
    ua.push(sa / k);
    ub.push(sb / k);
  }
  return { ua: [ua], ub: [ub] };
}

/** Var(wa·mean a + wb·mean b), never negative. */
export function combinedVariance(m: PairedMoments, wa: number, wb: number): number {
  return Math.max(0, wa * wa * m.vaa + wb * wb * m.vbb + 2 * wa * wb * m.vab);
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}
