/**
 * Telemetry shaped like production's, for the judge's tests: per-second event
 * counts per group, clustered (sticky sessions: a Poisson number of sessions,
 * each a geometric number of events, variance/mean ≈ 2.6) under a load shared
 * by both groups (AR(1) in log space, ±20%), turned into what Prometheus
 * returns for `sum(rate(x[W]))` at step S: the mean count over the last W
 * seconds, every S seconds. Seeded, so every run sees the same numbers.
 */
import { Rng } from '../../bench/stats/prng.ts';

export interface RateSeriesOptions {
  seed: number;
  /** Steps of history before the window, and in the window. */
  historySteps: number;
  windowSteps: number;
  /** Range window and step, seconds. */
  rangeSeconds: number;
  stepSeconds: number;
  /** Events per second per group at average load. Default 100. */
  rate?: number;
  /** Sd of the shared log-load (AR(1), φ 0.95). Default 0.2; 0 = steady load. */
  loadSd?: number;
  /** Relative change of the experiment's event rate from the window's first second (−0.5: halved). */
  effect?: number;
}

export function clusteredRateSeries(o: RateSeriesOptions): { control: number[]; experiment: number[] } {
  const rng = new Rng(o.seed, 7);
  const rate = o.rate ?? 100;
  const seconds = (o.historySteps + o.windowSteps) * o.stepSeconds + o.rangeSeconds;
  const faultStart = o.rangeSeconds + o.historySteps * o.stepSeconds;
  const meanSession = 1.8;
  const clustered = (mean: number): number => {
    const sessions = rng.poisson(mean / meanSession);
    let n = 0;
    for (let i = 0; i < sessions; i++) {
      let k = 1;
      while (rng.uniform() > 1 / meanSession && k < 1000) k++;
      n += k;
    }
    return n;
  };
  const c: number[] = [];
  const e: number[] = [];
  let x = 0;
  const phi = 0.95;
  for (let t = 0; t < seconds; t++) {
    x = phi * x + (o.loadSd ?? 0.2) * Math.sqrt(1 - phi * phi) * rng.normal();
    const load = Math.exp(x);
    c.push(clustered(rate * load));
    e.push(clustered(rate * load * (t >= faultStart ? 1 + (o.effect ?? 0) : 1)));
  }
  const control: number[] = [];
  const experiment: number[] = [];
  for (let s = 0; s < o.historySteps + o.windowSteps; s++) {
    const end = o.rangeSeconds + s * o.stepSeconds;
    let sc = 0;
    let se = 0;
    for (let t = end - o.rangeSeconds; t < end; t++) {
      sc += c[t]!;
      se += e[t]!;
    }
    control.push(sc / o.rangeSeconds);
    experiment.push(se / o.rangeSeconds);
  }
  return { control, experiment };
}
