/**
 * Simulated telemetry for the calibration bench. Each family produces, per
 * step, one observation per group: the value a Kayenta-style judge would rank
 * (`control`, `experiment`) and the look the matching sequential test consumes.
 * `effect` is the relative change in the harmful direction applied to the
 * experiment group (0 = A/A).
 *
 *   poisson              events/step ~ Poisson(100) per group; a drop is harmful.
 *   negative-binomial    NB(mean 100, size 50) per group, independently: variance
 *                        3× the mean (bursty users in one group at a time).
 *   ar1-daily            Poisson(100·f_t), f_t a shared load: a "day" (one sine
 *                        period over the horizon, ±50%) times exp of an AR(1)
 *                        (φ 0.9, sd 0.2). The concurrent control sees the same load.
 *   lognormal-latency    per-step latency 200 ms · exp(u_t + v_t,g + 0.1 ε): u shared
 *                        AR(1) (φ 0.9, sd 0.2), v per-group AR(1) (φ 0.7, sd 0.05),
 *                        so the per-step differences are autocorrelated. A rise is harmful.
 *   zero-inflated-errors requests ~ Poisson(1000) per group; each group's error
 *                        source is "active" on a Markov chain (on→on 0.7, off→on 0.3,
 *                        half of the steps) and then errors ~ Poisson(0.4% of
 *                        requests); otherwise 0. Over half the steps have no error;
 *                        variance 3× the mean; bursts last a few steps. A rise is harmful.
 */
import type { MeanObservation } from '../../src/stats/sequential-mean.ts';
import type { ProportionObservation } from '../../src/stats/sequential-proportion.ts';
import type { RateObservation } from '../../src/stats/sequential-rate.ts';
import type { Rng } from './prng.ts';

export type FamilyId = 'poisson' | 'negative-binomial' | 'ar1-daily' | 'lognormal-latency' | 'zero-inflated-errors';

export type Looks =
  | { method: 'sequential-rate'; looks: RateObservation[] }
  | { method: 'sequential-mean'; looks: MeanObservation[] }
  | { method: 'sequential-proportion'; looks: ProportionObservation[] };

export interface Series {
  /** Per-step values for the rank test. */
  control: Float64Array;
  experiment: Float64Array;
  seq: Looks;
}

export interface Family {
  id: FamilyId;
  description: string;
  direction: 'increase' | 'decrease';
  method: Looks['method'];
  simulate(rng: Rng, effect: number, steps: number): Series;
}

const BASE_RATE = 100;
const NB_SIZE = 50;

function countFamily(id: FamilyId, description: string, draw: (rng: Rng, mean: number) => number, load: (rng: Rng, steps: number) => Float64Array | null): Family {
  return {
    id,
    description,
    direction: 'decrease',
    method: 'sequential-rate',
    simulate(rng, effect, steps) {
      const f = load(rng, steps);
      const control = new Float64Array(steps);
      const experiment = new Float64Array(steps);
      const looks: RateObservation[] = [];
      for (let t = 0; t < steps; t++) {
        const mean = BASE_RATE * (f ? f[t]! : 1);
        const c = draw(rng, mean);
        const e = draw(rng, mean * (1 - effect));
        control[t] = c;
        experiment[t] = e;
        looks.push({ control: c, experiment: e });
      }
      return { control, experiment, seq: { method: 'sequential-rate', looks } };
    },
  };
}

/** AR(1) with coefficient phi and stationary sd, started stationary. */
export function ar1(rng: Rng, steps: number, phi: number, sd: number): Float64Array {
  const out = new Float64Array(steps);
  const innov = sd * Math.sqrt(1 - phi * phi);
  let z = sd * rng.normal();
  for (let t = 0; t < steps; t++) {
    out[t] = z;
    z = phi * z + innov * rng.normal();
  }
  return out;
}

export const FAMILIES: Family[] = [
  countFamily('poisson', 'Poisson counts, 100 events/step per group', (rng, m) => rng.poisson(m), () => null),
  countFamily('negative-binomial', 'negative binomial counts (mean 100, size 50: variance 3× mean), independent per group', (rng, m) => rng.negativeBinomial(m, NB_SIZE), () => null),
  countFamily('ar1-daily', 'Poisson counts at a shared rate 100 × daily cycle (±50%) × exp(AR(1) φ=0.9, sd 0.2)', (rng, m) => rng.poisson(m), (rng, steps) => {
    const z = ar1(rng, steps, 0.9, 0.2);
    const f = new Float64Array(steps);
    for (let t = 0; t < steps; t++) f[t] = (1 + 0.5 * Math.sin((2 * Math.PI * t) / steps)) * Math.exp(z[t]! - 0.02);
    return f;
  }),
  {
    id: 'lognormal-latency',
    description: 'lognormal latency per step, 200 ms, shared AR(1) load (φ 0.9) + per-group AR(1) (φ 0.7) + noise',
    direction: 'increase',
    method: 'sequential-mean',
    simulate(rng, effect, steps) {
      const u = ar1(rng, steps, 0.9, 0.2);
      const vc = ar1(rng, steps, 0.7, 0.05);
      const ve = ar1(rng, steps, 0.7, 0.05);
      const control = new Float64Array(steps);
      const experiment = new Float64Array(steps);
      const looks: MeanObservation[] = [];
      for (let t = 0; t < steps; t++) {
        const c = 200 * Math.exp(u[t]! + vc[t]! + 0.1 * rng.normal());
        const e = 200 * (1 + effect) * Math.exp(u[t]! + ve[t]! + 0.1 * rng.normal());
        control[t] = c;
        experiment[t] = e;
        looks.push({ control: c, experiment: e });
      }
      return { control, experiment, seq: { method: 'sequential-mean', looks } };
    },
  },
  {
    id: 'zero-inflated-errors',
    description: 'errors/requests: Poisson(1000) requests; errors only while a per-group Markov source is on (on→on 0.7, off→on 0.3), then Poisson(0.4% of requests)',
    direction: 'increase',
    method: 'sequential-proportion',
    simulate(rng, effect, steps) {
      const control = new Float64Array(steps);
      const experiment = new Float64Array(steps);
      const looks: ProportionObservation[] = [];
      let onC = rng.uniform() < 0.5;
      let onE = rng.uniform() < 0.5;
      for (let t = 0; t < steps; t++) {
        const nc = rng.poisson(1000);
        const ne = rng.poisson(1000);
        const xc = onC ? Math.min(nc, rng.poisson(nc * 0.004)) : 0;
        const xe = onE ? Math.min(ne, rng.poisson(ne * 0.004 * (1 + effect))) : 0;
        control[t] = nc === 0 ? 0 : xc / nc;
        experiment[t] = ne === 0 ? 0 : xe / ne;
        looks.push({ control: { errors: xc, total: nc }, experiment: { errors: xe, total: ne } });
        onC = rng.uniform() < (onC ? 0.7 : 0.3);
        onE = rng.uniform() < (onE ? 0.7 : 0.3);
      }
      return { control, experiment, seq: { method: 'sequential-proportion', looks } };
    },
  },
];
