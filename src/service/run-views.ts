/**
 * Read models of a stored run: the same RunRecord the engine produces, rebuilt
 * from the run row, its events and its samples, so reports and the API show a
 * stored run exactly as the CLI shows a fresh one.
 */
import { ladderFromEvents } from '../engine/ladder-events.ts';
import type { RunRecord } from '../engine/types.ts';
import type { Store, StoredRun } from '../store/types.ts';

export async function loadRunRecord(store: Store, row: StoredRun, opts: { series?: boolean } = {}): Promise<RunRecord> {
  const [events, series, guardrails] = await Promise.all([
    store.runs.events(row.id),
    opts.series === false ? [] : store.runs.series(row.id),
    opts.series === false ? [] : store.runs.guardrailEvaluations(row.id),
  ]);
  const record: RunRecord = {
    id: row.id,
    experiment: row.experiment,
    state: row.state,
    verdict: row.verdict,
    reason: row.reason,
    startedAt: row.startedAt,
    endedAt: row.endedAt,
    metrics: row.metrics,
    series,
    guardrails,
    events: events.map(({ seq: _seq, ...e }) => e),
  };
  if (row.window) record.window = row.window;
  if (row.halt) record.halt = row.halt;
  const ladder = ladderFromEvents(record.events);
  if (ladder) record.ladder = ladder;
  return record;
}
