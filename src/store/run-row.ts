/**
 * A row of `runs` as the database returns it, the columns every query selects,
 * and its mapping to the store's StoredRun: shared by the run repository and
 * its create path (run-create.ts).
 */
import type { FaultWindow, HaltInfo, RunState } from '../engine/types.ts';
import type { MetricVerdict, Verdict } from '../stats/verdict.ts';
import { iso, isoOrNull } from './rows.ts';
import type { Sql } from './sql.ts';
import type { StoredRun } from './types.ts';

export interface RunRow {
  id: string;
  experiment: string;
  version: number;
  target: string;
  created_by: string;
  idempotency_key: string | null;
  state: RunState;
  verdict: Verdict | null;
  reason: string;
  started_at: Date;
  ended_at: Date | null;
  updated_at: Date;
  fault_window: FaultWindow | null;
  halt: HaltInfo | null;
  metrics: MetricVerdict[];
  owner: string | null;
  heartbeat_at: Date | null;
}

export const RUN_COLUMNS =
  'id, experiment, version, target, created_by, idempotency_key, state, verdict, reason, started_at, ended_at, updated_at, fault_window, halt, metrics, owner, heartbeat_at';

export function toRun(row: RunRow): StoredRun {
  return {
    id: row.id,
    experiment: row.experiment,
    version: row.version,
    target: row.target,
    actor: row.created_by,
    idempotencyKey: row.idempotency_key,
    state: row.state,
    verdict: row.verdict,
    reason: row.reason,
    startedAt: iso(row.started_at),
    endedAt: isoOrNull(row.ended_at),
    updatedAt: iso(row.updated_at),
    window: row.fault_window,
    halt: row.halt,
    metrics: row.metrics,
    owner: row.owner,
    heartbeatAt: isoOrNull(row.heartbeat_at),
  };
}

/** The run an idempotency key created for this experiment (the unique index `runs_idempotency_key`). */
export async function byIdempotencyKey(db: Sql, experiment: string, key: string): Promise<StoredRun | undefined> {
  const [row] = await db.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE experiment = $1 AND idempotency_key = $2`, [experiment, key]);
  return row ? toRun(row) : undefined;
}
