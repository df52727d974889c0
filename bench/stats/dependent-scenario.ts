/**
 * One dependent-series scenario (a family of dependent-families.ts at one
 * effect): `reps` simulated runs, each judged, on the same per-step values,
 *
 *   new guardrail  the windowed anytime-valid test (sequential-windowed.ts)
 *                  with the noise learned from the history before the window
 *                  (noiseFromHistory), fed every step of the window
 *                  (continuous monitoring); one entry per parameter variant,
 *                  among them the engine's shorter read of a counter rate
 *                  (ADR 026: the same events over 2-step windows);
 *   new judge      judgeMetric method 'paired' with windowSteps = window/step,
 *                  once on the whole window (fixed horizon);
 *   old judge      judgeMetric method 'mann-whitney' with spread 'fail'
 *                  (Mann-Whitney + Brown–Forsythe on the per-step values), once;
 *   old guardrail  sequential-mean on the per-step pairs, minLooks 30, every step.
 */
import { initSequentialMean, updateSequentialMean } from '../../src/stats/sequential-mean.ts';
import { initWindowedSequential, noiseFromHistory, updateWindowedSequential, type WindowedSequentialParams } from '../../src/stats/sequential-windowed.ts';
import { judgeMetric, type Verdict } from '../../src/stats/verdict.ts';
import { DEPENDENT_FAMILIES, simulateDependent, windowStepsOf } from './dependent-families.ts';
import { Rng } from './prng.ts';

/** A parameter variant of the new guardrail; the default has no overrides. */
export interface GuardrailVariant {
  label: string;
  targetUnits?: number;
  /** Counter rates: read the same events over windows of this many steps (ADR 026), where shorter than the query's. */
  readWindowSteps?: number;
}

export interface DependentSpec {
  kind: 'dependent';
  family: number;
  effectIndex: number;
  effect: number;
  reps: number;
  alpha: number;
  /** Minimum samples for both fixed-horizon judges (the spec default, 30). */
  minSamples: number;
  variants: GuardrailVariant[];
  /** Replicates [repFrom, repFrom + reps): a scenario may be split across workers. */
  repFrom: number;
}

export interface DependentResult extends DependentSpec {
  /** Per variant, per replicate: looks from the onset to the halt (stoppedAt + 1), or null. */
  guardrail: (number | null)[][];
  /** Per variant: false where it does not apply to the family (a shorter read of what is not a counter rate). */
  applicable: boolean[];
  /** Per replicate: 'p' pass, 'f' fail, 'i' inconclusive. */
  paired: string;
  kayenta: string;
  /** Per replicate: looks to the old guardrail's halt, or null. */
  oldSequential: (number | null)[];
  /** Replicates whose history gave no noise (the test then learns it in the window). */
  noHistory: number;
  millis: number;
}

const code = (v: Verdict): string => (v === 'pass' ? 'p' : v === 'fail' ? 'f' : 'i');

export function runDependentScenario(spec: DependentSpec): DependentResult {
  const started = Date.now();
  const f = DEPENDENT_FAMILIES[spec.family]!;
  const k = windowStepsOf(f);
  const H = f.history;
  const W = f.window;
  const tolerance = { kind: 'relative' as const, value: f.tolerance };
  const guardrail: (number | null)[][] = spec.variants.map(() => []);
  let paired = '';
  let kayenta = '';
  const oldSequential: (number | null)[] = [];
  let noHistory = 0;
  const readSteps = spec.variants.find((v) => v.readWindowSteps !== undefined)?.readWindowSteps;
  const applicable = spec.variants.map((v) => v.readWindowSteps === undefined || (f.kind === 'counter-rate' && v.readWindowSteps < k));
  for (let rep = spec.repFrom; rep < spec.repFrom + spec.reps; rep++) {
    const readWindowSeconds = readSteps === undefined ? undefined : readSteps * f.stepSeconds;
    const x = simulateDependent(f, new Rng(100 + spec.family, spec.effectIndex, rep), spec.effect, H, W, readWindowSeconds === undefined ? {} : { readWindowSeconds });
    const noise = noiseFromHistory(Array.from(x.control.subarray(0, H)), Array.from(x.experiment.subarray(0, H)), f.model);
    if (noise === null) noHistory++;
    const control = Array.from(x.control.subarray(H, H + W));
    const experiment = Array.from(x.experiment.subarray(H, H + W));

    spec.variants.forEach((variant, v) => {
      if (!applicable[v]) return;
      // The shorter read learns its noise from its own history, as the engine does (kpi-guardrails.ts).
      const read = variant.readWindowSteps === undefined ? undefined : x.short;
      const ownNoise = read ? noiseFromHistory(Array.from(read.control.subarray(0, H)), Array.from(read.experiment.subarray(0, H)), f.model) : noise;
      const windowSteps = read ? (variant.readWindowSteps as number) : k;
      const c = read ? Array.from(read.control.subarray(H, H + W)) : control;
      const e = read ? Array.from(read.experiment.subarray(H, H + W)) : experiment;
      const params: WindowedSequentialParams = { alpha: spec.alpha, direction: f.direction, tolerance, windowSteps, model: f.model, noise: ownNoise };
      if (variant.targetUnits !== undefined) params.targetUnits = variant.targetUnits;
      let s = initWindowedSequential(params);
      for (let i = 0; i < W && s.stoppedAt === null; i++) s = updateWindowedSequential(s, { control: c[i]!, experiment: e[i]! });
      guardrail[v]!.push(s.stoppedAt === null ? null : s.stoppedAt + 1);
    });

    const common = { name: f.id, control, experiment, direction: f.direction, tolerance, alpha: spec.alpha, minSamples: spec.minSamples };
    paired += code(judgeMetric({ ...common, method: 'paired', windowSteps: k }).verdict);
    kayenta += code(judgeMetric({ ...common, method: 'mann-whitney', spread: 'fail' }).verdict);

    let old = initSequentialMean({ alpha: spec.alpha, direction: f.direction, tolerance, minLooks: 30 });
    for (let i = 0; i < W && old.stoppedAt === null; i++) old = updateSequentialMean(old, { control: control[i]!, experiment: experiment[i]! });
    oldSequential.push(old.stoppedAt === null ? null : old.stoppedAt + 1);
  }
  return { ...spec, guardrail, applicable, paired, kayenta, oldSequential, noHistory, millis: Date.now() - started };
}
