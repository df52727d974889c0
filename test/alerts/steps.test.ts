/**
 * The step intervals alert expectations are judged over (src/alerts/steps.ts):
 * a fault ladder's steps as they ran, the steps not reached left out; without
 * a ladder the whole window is one step.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stepsOf } from '../../src/alerts/steps.ts';
import type { LadderStep, RunRecord } from '../../src/engine/types.ts';

const T = Date.parse('2026-12-02T10:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();
const step = (index: number, startedAt: number | null, endedAt: number | null): LadderStep => ({
  index,
  params: { errorRate: index },
  label: `errorRate=${index}`,
  plannedMs: 60_000,
  startedAt: startedAt === null ? null : iso(startedAt),
  endedAt: endedAt === null ? null : iso(endedAt),
  verdict: null,
  metrics: null,
});
const run = (extra: Partial<RunRecord>): RunRecord =>
  ({ id: 'r', experiment: 'e', state: 'injecting', verdict: null, reason: '', startedAt: iso(T), endedAt: null, metrics: [], series: [], guardrails: [], events: [], ...extra });

describe('alert steps', () => {
  it('without a ladder the window is one step, ending at its close or now', () => {
    const open = run({ window: { openedAt: iso(T), deadline: iso(T + 60_000) } });
    assert.deepEqual(stepsOf(open, T + 5_000), [{ index: 0, startedAt: T, endedAt: T + 5_000 }]);
  });

  it("a ladder's steps as they ran; the last one ends at the close; steps never reached are left out", () => {
    const ladder = { stopAt: 'fail' as const, alpha: 0.0167, steps: [step(0, T, T + 60_000), step(1, T + 60_000, null), step(2, null, null)] };
    const closed = run({ ladder, window: { openedAt: iso(T), deadline: iso(T + 180_000), closedAt: iso(T + 90_000) } });
    assert.deepEqual(stepsOf(closed, T + 100_000), [
      { index: 0, startedAt: T, endedAt: T + 60_000 },
      { index: 1, startedAt: T + 60_000, endedAt: T + 90_000 },
    ]);
  });
});
