/**
 * Long-run variance of a stream of pairs (a, b) by batch means, kept online on
 * a dyadic ladder of batch sizes so that a sequential test can ask, at every
 * look, for the variance of any linear combination wa·a + wb·b without storing
 * the series: O(log n) numbers of state, O(log n) work per look.
 *
 * Why a long-run variance. Per-step metric values are autocorrelated (a slow
 * minute is followed by another). For a stationary, weakly dependent series the
 * sum of n values has variance ≈ n·σ²_LR with σ²_LR = γ(0) + 2Σγ(k), which can
 * be several times the plain variance γ(0): with AR(1) coefficient φ it is
 * (1 + φ)/(1 − φ) times, i.e. 3× at φ = 0.5 and 9× at φ = 0.8. A test that
 * plugs in γ(0) is over-confident by that factor.
 *
 * Batch means (e.g. Flegal & Jones 2010, "Batch means and spectral variance
 * estimators in Markov chain Monte Carlo", Ann. Statist. 38(2)): cut the series
 * into K batches of b consecutive values; for b much longer than the
 * correlation length the batch sums are nearly independent, each with variance
 * ≈ b·σ²_LR, so b·(sample variance of the batch means) estimates σ²_LR.
 *
 * Which b. Short batches under-estimate under positive autocorrelation; long
 * ones leave few batches and a noisy estimate. Scale j of the ladder holds
 * batches of 2^j values; `longRunVariance` takes, over every scale that has at
 * least max(`minBatches`, √n / 2) complete batches, the LARGEST estimate. Under positive
 * autocorrelation the estimates grow with b until b passes the correlation
 * length, so the maximum is close to the plateau (the long-run variance); under
 * independence every scale estimates the same thing and the maximum is a
 * conservative (upward) plug-in. This is the "honest under autocorrelation"
 * choice, paid for with some power when the data are in fact independent; it
 * cannot see correlation longer than n / minBatches steps.
 *
 * Values are stored relative to the first pair, so that a metric around 10⁶
 * with a spread of 1 loses no digits in the sums of squares.
 */

export interface BatchScale {
  /** Values per batch, 2^j. */
  size: number;
  /** Complete batches. */
  k: number;
  /** The batch being filled. */
  partialCount: number;
  partialA: number;
  partialB: number;
  /** Sums over complete batches of the batch sums, their squares and cross-products. */
  sumA: number;
  sumB: number;
  sumAA: number;
  sumBB: number;
  sumAB: number;
}

export interface PairedBatchMeans {
  n: number;
  /** First pair, subtracted from every value before it is summed. */
  refA: number;
  refB: number;
  /** Totals of the shifted values. */
  totalA: number;
  totalB: number;
  scales: BatchScale[];
}

export function initBatchMeans(): PairedBatchMeans {
  return { n: 0, refA: 0, refB: 0, totalA: 0, totalB: 0, scales: [] };
}

/** A new state with one more pair; the input is not modified. */
export function addPair(state: PairedBatchMeans, a: number, b: number): PairedBatchMeans {
  const first = state.n === 0;
  const refA = first ? z(a) : state.refA;
  const refB = first ? z(b) : state.refB;
  const da = z(a - refA);
  const db = z(b - refB);
  const n = state.n + 1;
  const scales = state.scales.map((s) => addToScale(s, da, db));
  // A new scale 2^j as soon as one batch of it is complete: it starts with everything so far.
  const nextSize = scales.length === 0 ? 1 : 2 * scales[scales.length - 1]!.size;
  if (n === nextSize) {
    const totA = z(state.totalA + da);
    const totB = z(state.totalB + db);
    scales.push({
      size: nextSize,
      k: 1,
      partialCount: 0,
      partialA: 0,
      partialB: 0,
      sumA: totA,
      sumB: totB,
      sumAA: z(totA * totA),
      sumBB: z(totB * totB),
      sumAB: z(totA * totB),
    });
  }
  return { n, refA, refB, totalA: z(state.totalA + da), totalB: z(state.totalB + db), scales };
}

/** −0 → 0: JSON writes −0 as 0, and a state must read back exactly as it was written. */
const z = (v: number): number => (v === 0 ? 0 : v);

function addToScale(s: BatchScale, da: number, db: number): BatchScale {
  const pa = z(s.partialA + da);
  const pb = z(s.partialB + db);
  const count = s.partialCount + 1;
  if (count < s.size) {
    return { size: s.size, k: s.k, partialCount: count, partialA: pa, partialB: pb, sumA: s.sumA, sumB: s.sumB, sumAA: s.sumAA, sumBB: s.sumBB, sumAB: s.sumAB };
  }
  return {
    size: s.size,
    k: s.k + 1,
    partialCount: 0,
    partialA: 0,
    partialB: 0,
    sumA: z(s.sumA + pa),
    sumB: z(s.sumB + pb),
    sumAA: z(s.sumAA + pa * pa),
    sumBB: z(s.sumBB + pb * pb),
    sumAB: z(s.sumAB + pa * pb),
  };
}

/** Sum of wa·a + wb·b over every pair (not shifted). */
export function combinedSum(state: PairedBatchMeans, wa: number, wb: number): number {
  return wa * (state.totalA + state.n * state.refA) + wb * (state.totalB + state.n * state.refB);
}

export interface LongRunVariance {
  /** Per-value long-run variance of wa·a + wb·b. */
  variance: number;
  /** Batch size of the scale that gave it, and its number of batches. */
  batchSize: number;
  batches: number;
}

/**
 * One candidate estimate of the per-value long-run covariance matrix of (a, b):
 * the batch means at one batch size, or the lugsail combination of that size
 * with the next smaller one. `df` is the number of batches − 1.
 */
export interface ScaleCovariance {
  batchSize: number;
  batches: number;
  df: number;
  lugsail: boolean;
  vaa: number;
  vbb: number;
  vab: number;
}

/**
 * Every candidate at batch sizes with at least `minBatches` complete batches:
 * the plain batch-means matrix, and (above batch size 1) the lugsail matrix
 * 2·BM(b) − BM(b/2). Lugsail batch means (Vats & Flegal 2022, "Lugsail lag
 * windows for estimating time-average covariance matrices", Biometrika
 * 109(3)) cancel the first-order downward bias of batch means under positive
 * autocorrelation (BM(b) ≈ σ²_LR − C/b, so 2·BM(b) − BM(b/2) ≈ σ²_LR); taking
 * the larger of the two per combination errs on the side of a larger variance.
 */
export function scaleCovariances(state: PairedBatchMeans, minBatches: number): ScaleCovariance[] {
  const out: ScaleCovariance[] = [];
  // Long series: at least √n / 2 batches (batch size at most ~2√n, the usual
  // consistent choice), so a long run is not judged on its noisiest 10 batches.
  const needed = Math.max(2, minBatches, Math.ceil(Math.sqrt(state.n) / 2));
  let previous: ScaleCovariance | null = null;
  for (const s of state.scales) {
    if (s.k < 2) break;
    const d = (s.k - 1) * s.size;
    const bm: ScaleCovariance = {
      batchSize: s.size,
      batches: s.k,
      df: s.k - 1,
      lugsail: false,
      vaa: (s.sumAA - (s.sumA * s.sumA) / s.k) / d,
      vbb: (s.sumBB - (s.sumB * s.sumB) / s.k) / d,
      vab: (s.sumAB - (s.sumA * s.sumB) / s.k) / d,
    };
    if (s.k >= needed) {
      out.push(bm);
      if (previous !== null) {
        out.push({ ...bm, lugsail: true, vaa: 2 * bm.vaa - previous.vaa, vbb: 2 * bm.vbb - previous.vbb, vab: 2 * bm.vab - previous.vab });
      }
    }
    previous = bm;
  }
  return out;
}

export interface LongRunVariance {
  /** Per-value long-run variance of wa·a + wb·b. */
  variance: number;
  /** Batch size and batch count of the candidate that gave it. */
  batchSize: number;
  batches: number;
  /** Degrees of freedom to treat it with (batches − 1). */
  df: number;
}

/** The largest candidate estimate (see scaleCovariances), or null while no batch size has `minBatches` batches. */
export function longRunVariance(state: PairedBatchMeans, wa: number, wb: number, minBatches: number): LongRunVariance | null {
  let best: LongRunVariance | null = null;
  for (const c of scaleCovariances(state, minBatches)) {
    const v = Math.max(0, wa * wa * c.vaa + 2 * wa * wb * c.vab + wb * wb * c.vbb);
    if (best === null || v > best.variance) best = { variance: v, batchSize: c.batchSize, batches: c.batches, df: c.df };
  }
  return best;
}
