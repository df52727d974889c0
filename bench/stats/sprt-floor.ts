/**
 * Wald's SPRT expected-sample floor: for a simple null against the simple
 * alternative that is true, the SPRT with error rates (α, β) stops after
 *
 *     E₁[N] ≈ [(1 − β)·log((1 − β)/α) + β·log(β/(1 − α))] / KL(P₁ ‖ P₀)
 *
 * observations (Wald 1945, "Sequential tests of statistical hypotheses",
 * Ann. Math. Statist. 16(2), eq. for E(n|H1); optimal among all tests with those
 * error rates, Wald & Wolfowitz 1948). It needs the effect and every nuisance
 * parameter known, so no practical test reaches it; it is the floor against
 * which a test's time to detect is measured.
 *
 * KL per step is taken on the information each family's test actually uses:
 *   counts: how events split between the groups, KL of Bernoulli(θ₁) from
 *           Bernoulli(θ₀) per event × events per step, divided by the
 *           overdispersion (the negative binomial's variance/mean);
 *   latency and errors: the per-step contrast the test sums, as a Gaussian with
 *           the simulated mean and long-run variance: KL = μ²/(2σ²_LR).
 */
import { FAMILIES, type Family } from './families.ts';
import { Rng } from './prng.ts';

export function waldExpectedSamples(klPerStep: number, alpha: number, beta: number): number {
  const num = (1 - beta) * Math.log((1 - beta) / alpha) + beta * Math.log(beta / (1 - alpha));
  return num / klPerStep;
}

function bernoulliKl(p: number, q: number): number {
  return p * Math.log(p / q) + (1 - p) * Math.log((1 - p) / (1 - q));
}

/** KL per step for a family at an effect (> 0). Gaussian families are estimated from one long simulated run. */
export function klPerStep(family: Family, effect: number): number {
  if (family.method === 'sequential-rate') {
    const theta1 = (1 - effect) / (2 - effect);
    const eventsPerStep = 100 * (2 - effect);
    const dispersion = family.id === 'negative-binomial' ? 1 + 100 / 50 : 1;
    return (bernoulliKl(theta1, 0.5) * eventsPerStep) / dispersion;
  }
  // Mean from the effect run, long-run variance from the A/A run (the null's noise).
  const h1 = contrast(family, effect);
  const h0 = contrast(family, 0);
  return (h1.mean * h1.mean) / (2 * h0.lrv);
}

const STEPS = 1 << 17;
const BATCH = 1 << 11; // far beyond the correlation lengths simulated
const contrastCache = new Map<string, { mean: number; lrv: number }>();

/** Mean and batch-means long-run variance of the per-step contrast the family's test sums, from one long run. */
function contrast(family: Family, effect: number): { mean: number; lrv: number } {
  const key = `${family.id}|${effect}`;
  const hit = contrastCache.get(key);
  if (hit) return hit;
  const s = family.simulate(new Rng(9_999, Math.round(effect * 1000)), effect, STEPS);
  const batchSums: number[] = [];
  let sum = 0;
  let batch = 0;
  for (let t = 0; t < STEPS; t++) {
    let d = 0;
    if (s.seq.method === 'sequential-mean') {
      const o = s.seq.looks[t]!;
      d = o.experiment - o.control;
    } else if (s.seq.method === 'sequential-proportion') {
      const o = s.seq.looks[t]!;
      const req = o.experiment.total + o.control.total;
      const pi = req === 0 ? 0.5 : o.experiment.total / req;
      d = o.experiment.errors * (1 - pi) - o.control.errors * pi;
    }
    sum += d;
    batch += d;
    if ((t + 1) % BATCH === 0) {
      batchSums.push(batch);
      batch = 0;
    }
  }
  const k = batchSums.length;
  const meanBatch = batchSums.reduce((a, b) => a + b, 0) / k;
  const lrv = batchSums.reduce((a, b) => a + (b - meanBatch) ** 2, 0) / (k - 1) / BATCH;
  const out = { mean: sum / STEPS, lrv };
  contrastCache.set(key, out);
  return out;
}

export { FAMILIES };
