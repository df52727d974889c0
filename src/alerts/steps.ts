/**
 * The fault's steps as time intervals, which alert expectations are judged
 * per step. Until fault ladders (`fault.steps`, each `{ index, params,
 * startedAt, endedAt }`) land, the whole window is one step; the ladder
 * replaces this function's body with the run's recorded steps.
 */
import type { RunRecord } from '../engine/types.ts';
import type { StepInterval } from './types.ts';

export function stepsOf(run: Readonly<RunRecord>, now: number): StepInterval[] {
  const window = run.window;
  if (!window) return [];
  const closedAt = window.closedAt ? Date.parse(window.closedAt) : undefined;
  return [{ index: 0, startedAt: Date.parse(window.openedAt), endedAt: closedAt ?? now }];
}
