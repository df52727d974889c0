/**
 * The fault's steps as time intervals, which alert expectations are judged
 * per step: a fault ladder's steps as they ran (`run.ladder.steps`, ADR 022),
 * the steps not reached left out; without a ladder the whole window is one
 * step. A step still running ends at `now`.
 */
import type { RunRecord } from '../engine/types.ts';
import type { StepInterval } from './types.ts';

export function stepsOf(run: Readonly<RunRecord>, now: number): StepInterval[] {
  const window = run.window;
  if (!window) return [];
  const closedAt = window.closedAt ? Date.parse(window.closedAt) : undefined;
  if (run.ladder) {
    return run.ladder.steps
      .filter((s) => s.startedAt !== null)
      .map((s) => ({ index: s.index, startedAt: Date.parse(s.startedAt as string), endedAt: s.endedAt ? Date.parse(s.endedAt) : (closedAt ?? now) }));
  }
  return [{ index: 0, startedAt: Date.parse(window.openedAt), endedAt: closedAt ?? now }];
}
