/**
 * The dose–response reading of a fault ladder (ADR 022): per steady-state
 * metric and per step, the effect (experiment − control) with its interval,
 * as the judge gave it on that step's samples; and two names a reader wants:
 *
 * - the **highest level tolerated**: the last step of the unbroken run of
 *   steps, from the first, on which every metric passed — the judge's pass:
 *   its interval rules out harm beyond tolerance (and it had the power to see
 *   harm that large). Read in order, each claim is made only if every lower
 *   one was (a fixed-sequence procedure), so the claims together keep the
 *   judge's level; a step after an inconclusive or harmed one is never
 *   "tolerated", whatever its own numbers say.
 * - the **first level that harmed**: the first step on which a metric failed.
 *
 * Pure: no I/O, the verdicts come in judged.
 */
import type { Verdict } from './verdict-types.ts';

/** The part of a metric's verdict on one step that the ladder keeps. */
export interface StepMetric {
  name: string;
  verdict: Verdict;
  reason: string;
  /** Experiment − control, in the metric's unit. */
  effect: number | null;
  relativeEffect: number | null;
  /** Interval on the effect at the step's level. */
  ci: [number, number] | null;
  relativeCi: [number, number] | null;
  pValue: number | null;
  /** The tolerance band in the metric's unit (effect beyond ±allowed on the harmful side is harm). */
  allowed: number;
  /** `relative` bands are drawn on the relative effect, `absolute` ones on the effect. */
  toleranceKind: 'relative' | 'absolute';
  tolerance: number;
  direction: 'increase' | 'decrease' | 'either';
  n: { control: number; experiment: number };
}

export interface StepReading {
  index: number;
  /** The step's level in words: `latencyMs=500`. */
  label: string;
  /** null: not judged (the ladder stopped before it). */
  metrics: StepMetric[] | null;
}

export interface LevelRef {
  index: number;
  label: string;
}

export interface DoseResponse {
  highestTolerated: LevelRef | null;
  firstHarmed: (LevelRef & { metrics: string[] }) | null;
  perMetric: { name: string; highestTolerated: LevelRef | null; firstHarmed: LevelRef | null }[];
}

/** Combine the steps' verdicts into the ladder's verdict of a step: fail if any metric failed, pass if all passed. */
export function stepVerdict(metrics: readonly Pick<StepMetric, 'verdict'>[] | null): Verdict | null {
  if (!metrics) return null;
  if (metrics.length === 0) return 'inconclusive';
  if (metrics.some((m) => m.verdict === 'fail')) return 'fail';
  return metrics.every((m) => m.verdict === 'pass') ? 'pass' : 'inconclusive';
}

export function summarizeDoseResponse(steps: readonly StepReading[]): DoseResponse {
  const ordered = [...steps].sort((a, b) => a.index - b.index);
  const ref = (s: StepReading): LevelRef => ({ index: s.index, label: s.label });
  const scan = (verdictOf: (s: StepReading) => Verdict | null): { tolerated: LevelRef | null; harmed: LevelRef | null } => {
    let tolerated: LevelRef | null = null;
    let unbroken = true;
    let harmed: LevelRef | null = null;
    for (const s of ordered) {
      const v = verdictOf(s);
      if (unbroken && v === 'pass') tolerated = ref(s);
      else unbroken = false;
      if (!harmed && v === 'fail') harmed = ref(s);
    }
    return { tolerated, harmed };
  };
  const overall = scan((s) => stepVerdict(s.metrics));
  const names = [...new Set(ordered.flatMap((s) => (s.metrics ?? []).map((m) => m.name)))];
  const perMetric = names.map((name) => {
    const r = scan((s) => {
      const m = s.metrics?.find((x) => x.name === name);
      return m ? m.verdict : null;
    });
    return { name, highestTolerated: r.tolerated, firstHarmed: r.harmed };
  });
  const harmedStep = overall.harmed ? ordered.find((s) => s.index === overall.harmed?.index) : undefined;
  return {
    highestTolerated: overall.tolerated,
    firstHarmed: overall.harmed ? { ...overall.harmed, metrics: (harmedStep?.metrics ?? []).filter((m) => m.verdict === 'fail').map((m) => m.name) } : null,
    perMetric,
  };
}

/** One sentence: "tolerates latencyMs=200; first harmed at latencyMs=500 (checkout-sps)". */
export function describeDoseResponse(d: DoseResponse, stepsRun: number, stepsTotal: number): string {
  const tolerated = d.highestTolerated ? `highest level tolerated: ${d.highestTolerated.label}` : 'no level tolerated';
  const harmed = d.firstHarmed ? `first harmed at ${d.firstHarmed.label} (${d.firstHarmed.metrics.join(', ')})` : 'no level harmed';
  const ran = stepsRun < stepsTotal ? `; stopped after step ${stepsRun} of ${stepsTotal}` : '';
  return `${tolerated}; ${harmed}${ran}`;
}
