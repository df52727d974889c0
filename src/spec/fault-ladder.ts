/**
 * Fault ladders (`spec.fault.steps`, ADR 022): one fault window whose setting
 * climbs through steps, e.g. latency 200 ms → 500 ms → 1 s. Each step is the
 * fields it changes over `fault.params` (its *level*), plus an optional
 * `duration` (else `fault.stepDuration`). Every step's merged params are
 * validated by the adapter's own schema, here, so a run never meets a step
 * its injector would refuse mid-window.
 *
 * Only adapters that can change an open fault in place accept steps (their
 * factory's `ladder`); they also say what a step must keep (the target).
 */
import { z } from 'zod';
import type { InjectorFactory } from '../injectors/types.ts';
import { durationMs } from './fields.ts';

export const MAX_LADDER_STEPS = 20;
export const STOP_AT = ['fail', 'halt', 'never'] as const;
export type StopAt = (typeof STOP_AT)[number];

/** One validated step of a ladder. */
export interface FaultStep {
  /** 0-based position on the ladder. */
  index: number;
  /** The fields this step sets, as written (without `duration`): what reports call its level. */
  level: Record<string, unknown>;
  /** `fault.params` with the level applied, parsed by the adapter's schema. */
  params: unknown;
  /** How long the step is held, in ms. */
  duration: number;
}

export const rawStepSchema = z.record(z.string(), z.unknown());

type Issue = { path: (string | number)[]; message: string };

/**
 * Validate a ladder against its adapter. Returns the steps, or the issues
 * (paths relative to `spec.fault`).
 */
export function parseLadder(
  factory: InjectorFactory<unknown>,
  base: unknown,
  rawSteps: Record<string, unknown>[],
  stepDuration: number | undefined,
  ladderKinds: readonly string[],
): { steps: FaultStep[]; issues: Issue[] } {
  const issues: Issue[] = [];
  if (!factory.ladder) {
    return { steps: [], issues: [{ path: ['steps'], message: `the ${factory.kind} injector cannot change a fault while it is open; fault.steps works with: ${ladderKinds.join(', ')}` }] };
  }
  const baseObj = base && typeof base === 'object' && !Array.isArray(base) ? (base as Record<string, unknown>) : {};
  const steps: FaultStep[] = [];
  let first: unknown;
  rawSteps.forEach((raw, index) => {
    const { duration: rawDuration, ...level } = raw;
    let duration = stepDuration;
    if (rawDuration !== undefined) {
      const parsed = durationMs.safeParse(rawDuration);
      if (!parsed.success) issues.push({ path: ['steps', index, 'duration'], message: parsed.error.issues[0]?.message ?? 'not a duration' });
      else duration = parsed.data;
    }
    if (duration === undefined) issues.push({ path: ['steps', index, 'duration'], message: 'needs a duration, or fault.stepDuration for every step' });
    else if (!(duration > 0)) issues.push({ path: ['steps', index, 'duration'], message: 'must be more than 0' });
    if (Object.keys(level).length === 0) issues.push({ path: ['steps', index], message: 'sets nothing: give the params this step changes (e.g. latencyMs: 200)' });
    const parsed = factory.paramsSchema.safeParse({ ...baseObj, ...level });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const key = issue.path[0];
        // An issue about a field the step sets is the step's; the rest belong to fault.params.
        const at = typeof key === 'string' && key in level ? ['steps', index] : ['params'];
        issues.push({ path: [...at, ...(issue.path as (string | number)[])], message: issue.message });
      }
      return;
    }
    if (index === 0) first = parsed.data;
    else {
      const problem = factory.ladder?.stepProblem?.(first, parsed.data);
      if (problem) issues.push({ path: ['steps', index], message: problem });
    }
    steps.push({ index, level, params: parsed.data, duration: duration ?? 0 });
  });
  return { steps, issues };
}

/** A step's level in words, for tables and charts: `latencyMs=200`, `errorRate=0.5%`. */
export function levelLabel(level: Record<string, unknown>): string {
  return Object.entries(level)
    .map(([k, v]) => `${k}=${typeof v === 'number' && /rate|toxicity/i.test(k) && v <= 1 ? `${+(v * 100).toPrecision(6)}%` : typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}
