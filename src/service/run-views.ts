/**
 * Read models of a stored run: the same RunRecord the engine produces, rebuilt
 * from the run row, its events and its samples, so reports and the API show a
 * stored run exactly as the CLI shows a fresh one.
 */
import { ladderFromEvents } from '../engine/ladder-events.ts';
import type { AlertsResult } from '../alerts/types.ts';
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
  // The alerts verdict lives in its event (no column of its own): the last one judged is the run's.
  const judged = record.events.findLast((e) => e.type === 'alerts.judged');
  if (judged?.data?.alerts && typeof judged.data.alerts === 'object') record.alerts = judged.data.alerts as unknown as AlertsResult;
  const ladder = ladderFromEvents(record.events);
  if (ladder) record.ladder = ladder;
  return record;
}

/** The run row's columns from a RunRecord: what the run service writes at every event. */
export function snapshot(run: Readonly<RunRecord>) {
  return {
    state: run.state,
    startedAt: run.startedAt,
    verdict: run.verdict,
    reason: run.reason,
    endedAt: run.endedAt,
    ...(run.window ? { window: run.window } : {}),
    ...(run.halt ? { halt: run.halt } : {}),
    metrics: run.metrics,
  };
}
