/**
 * One bench scenario (a family at one effect): `reps` simulated runs of
 * `steps` looks, each judged by the family's sequential test at every look,
 * by a Kayenta-style Mann-Whitney checked at every look (peeking), and by the
 * same Mann-Whitney once at the end (the fixed horizon it is valid for).
 */
import { initSequentialMean, resultSequentialMean, updateSequentialMean } from '../../src/stats/sequential-mean.ts';
import { initSequentialProportion, resultSequentialProportion, updateSequentialProportion } from '../../src/stats/sequential-proportion.ts';
import { initSequentialRate, resultSequentialRate, updateSequentialRate, type SequentialRateParams } from '../../src/stats/sequential-rate.ts';
import { FAMILIES, type Series } from './families.ts';
import { OnlineMannWhitney } from './online-mann-whitney.ts';
import { Rng } from './prng.ts';

export interface ScenarioSpec {
  family: number;
  effectIndex: number;
  effect: number;
  reps: number;
  steps: number;
  alpha: number;
  /** First look at which the peeking Mann-Whitney is checked. */
  firstPeek: number;
  /** A variant of the sequential test (only `poisson` dispersion for the rate test, to show what estimating it buys). */
  variant?: 'poisson-dispersion';
}

export interface ScenarioResult extends ScenarioSpec {
  /** First rejecting look + 1 (looks needed), or null; one per replicate. */
  sequential: (number | null)[];
  peeking: (number | null)[];
  once: boolean[];
  millis: number;
}

export function runScenario(spec: ScenarioSpec): ScenarioResult {
  const started = Date.now();
  const family = FAMILIES[spec.family]!;
  const sequential: (number | null)[] = [];
  const peeking: (number | null)[] = [];
  const once: boolean[] = [];
  const badSide = family.direction === 'increase' ? 1 : -1;
  for (let rep = 0; rep < spec.reps; rep++) {
    const rng = new Rng(spec.family, spec.effectIndex, rep);
    const series = family.simulate(rng, spec.effect, spec.steps);
    sequential.push(runSequential(series, family.direction, spec));
    const mw = new OnlineMannWhitney(spec.steps);
    let peekAt: number | null = null;
    for (let t = 0; t < spec.steps; t++) {
      mw.addX(series.experiment[t]!);
      mw.addY(series.control[t]!);
      if (peekAt === null && t + 1 >= spec.firstPeek) {
        const r = mw.test();
        if (r.pValue < spec.alpha && r.side === badSide) peekAt = t + 1;
      }
    }
    peeking.push(peekAt);
    const last = mw.test();
    once.push(last.pValue < spec.alpha && last.side === badSide);
  }
  return { ...spec, sequential, peeking, once, millis: Date.now() - started };
}

function runSequential(series: Series, direction: 'increase' | 'decrease', spec: ScenarioSpec): number | null {
  const alpha = spec.alpha;
  const seq = series.seq;
  if (seq.method === 'sequential-rate') {
    const params: SequentialRateParams = { alpha, direction, split: 0.5 };
    if (spec.variant === 'poisson-dispersion') params.dispersion = 'poisson';
    let s = initSequentialRate(params);
    for (const o of seq.looks) {
      s = updateSequentialRate(s, o);
      if (s.stoppedAt !== null) break;
    }
    const r = resultSequentialRate(s).stoppedAt;
    return r === null ? null : r + 1;
  }
  if (seq.method === 'sequential-mean') {
    let s = initSequentialMean({ alpha, direction, tolerance: { kind: 'relative', value: 0 } });
    for (const o of seq.looks) {
      s = updateSequentialMean(s, o);
      if (s.stoppedAt !== null) break;
    }
    const r = resultSequentialMean(s).stoppedAt;
    return r === null ? null : r + 1;
  }
  let s = initSequentialProportion({ alpha, direction });
  for (const o of seq.looks) {
    s = updateSequentialProportion(s, o);
    if (s.stoppedAt !== null) break;
  }
  const r = resultSequentialProportion(s).stoppedAt;
  return r === null ? null : r + 1;
}
