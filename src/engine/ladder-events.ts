/**
 * A stored run's fault ladder, read back from its timeline: every `ladder.*`
 * event carries the whole ladder as it stood (a few steps), so the latest one
 * is the ladder — no column, no migration, and a crashed run shows how far it
 * climbed.
 */
import type { LadderRecord, RunEvent } from './types.ts';

export function ladderFromEvents(events: readonly RunEvent[]): LadderRecord | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (!e?.type.startsWith('ladder.')) continue;
    const ladder = e.data?.ladder;
    if (ladder && typeof ladder === 'object' && !Array.isArray(ladder) && Array.isArray(ladder.steps)) return ladder as unknown as LadderRecord;
  }
  return undefined;
}
