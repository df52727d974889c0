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
import { DISPERSION, LOAD_SD, simulateDependent, windowStepsOf, type DependentFamily } from './dependent-families.ts';
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

/**
 * Wald's floor for the dependent-series families (dependent-families.ts), in
 * steps counted from the onset, for an SPRT of the tolerance boundary r₀
 * against the true effect that knows the dispersion, the load and the
 * slowness, and observes:
 *
 *   disjoint  the disjoint window values (one every k steps; the first one
 *             wholly inside the fault is complete k steps after the onset):
 *             Wald's E[N] windows, at least 1, times k. This is the floor the
 *             targets use.
 *   raw       (counts only) the raw per-second events as they happen, which
 *             no Prometheus query returns: Wald's E[N] seconds over the step.
 *
 * Counts: the information is in how events split between the arms,
 * θ = ρ/(1 + ρ) with ρ = r₀ (null) or 1 − effect (truth): KL of Bernoulli(θ₁)
 * from Bernoulli(θ₀) per event, times the events per second (rate·E[L]·(2 −
 * effect), E[L] = exp(sd²/2)), divided by the dispersion 2.5 (the
 * quasi-likelihood information of clustered counts).
 * Quantile: the window's contrast d = e − r₀·c as a Gaussian with the mean
 * and variance of one long simulation with the load and slowness held at 1
 * (known to the oracle): KL per window = μ²/(2σ²).
 */
export interface DependentFloor {
  /** Steps from the onset (β as given). */
  disjoint: number;
  raw: number | null;
}

export function dependentFloor(f: DependentFamily, effect: number, alpha: number, beta: number): DependentFloor {
  const num = waldExpectedSamples(1, alpha, beta);
  const k = windowStepsOf(f);
  const klWindow = dependentKlPerWindow(f, effect);
  const raw = f.kind === 'counter-rate' ? num / ((klWindow / f.windowSeconds) * f.stepSeconds) : null;
  return { disjoint: k * Math.max(1, num / klWindow), raw };
}

const dependentCache = new Map<string, number>();

/** KL per disjoint window of the family at an effect beyond its tolerance. */
export function dependentKlPerWindow(f: DependentFamily, effect: number): number {
  const key = `${f.id}|${effect}`;
  const hit = dependentCache.get(key);
  if (hit !== undefined) return hit;
  let kl: number;
  if (f.kind === 'counter-rate') {
    const r0 = f.direction === 'decrease' ? 1 - f.tolerance : 1 + f.tolerance;
    const rho = f.direction === 'decrease' ? 1 - effect : 1 + effect;
    const perEvent = bernoulliKl(rho / (1 + rho), r0 / (1 + r0));
    const eventsPerSecond = f.rate * Math.exp((LOAD_SD * LOAD_SD) / 2) * (1 + rho);
    kl = (perEvent * eventsPerSecond * f.windowSeconds) / DISPERSION;
  } else {
    const r0 = 1 + f.tolerance;
    const k = windowStepsOf(f);
    const windows = 400;
    const s = simulateDependent(f, new Rng(9_998, Math.round(effect * 1000)), effect, 0, windows * k + k - 1, { wander: false });
    const d: number[] = [];
    for (let j = k - 1; j < s.control.length; j += k) d.push(s.experiment[j]! - r0 * s.control[j]!);
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    const variance = d.reduce((a, b) => a + (b - mean) ** 2, 0) / (d.length - 1);
    kl = (mean * mean) / (2 * variance);
  }
  dependentCache.set(key, kl);
  return kl;
}
