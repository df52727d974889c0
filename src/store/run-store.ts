/**
 * Runs, their timeline (events) and their collected samples.
 *
 * The database, not this code, guarantees the invariants that matter under
 * concurrency: one active run per target (partial unique index
 * `runs_one_active_per_target`), one run per idempotency key and experiment
 * (`runs_idempotency_key`), final terminal states (trigger), append-only
 * events and samples (triggers). This file and run-create.ts (the create
 * path) turn their violations into LockedError / ConflictError with the
 * useful details.
 */
import { ACTIVE_STATES, TERMINAL_STATES } from '../engine/types.ts';
import { ValidationError } from '../lib/errors.ts';
import type { JsonObject } from '../lib/json.ts';
import { ConflictError, NotFoundError } from './errors.ts';
import { createRunCreator } from './run-create.ts';
import { byIdempotencyKey, RUN_COLUMNS, toRun, type RunRow } from './run-row.ts';
import { createRunDataRepository } from './run-data.ts';
import { iso, jsonParam, requireText, timestampParam } from './rows.ts';
import { databaseError, SQLSTATE, type Sql } from './sql.ts';
import {
  type RunPatch,
  type RunRepository,
  type StoredRun,
  type StoredRunEvent,
} from './types.ts';

const ALL_STATES: ReadonlySet<string> = new Set<string>([...ACTIVE_STATES, ...TERMINAL_STATES]);
const TERMINAL: ReadonlySet<string> = new Set<string>(TERMINAL_STATES);
const VERDICTS: ReadonlySet<string> = new Set<string>(['pass', 'fail', 'inconclusive']);

const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 500;
const DEFAULT_STALE_AFTER_MS = 30_000;
interface EventRow {
  seq: number;
  at: Date;
  type: string;
  message: string;
  data: JsonObject | null;
}

function toEvent(row: EventRow): StoredRunEvent {
  const event: StoredRunEvent = { seq: row.seq, at: iso(row.at), type: row.type, message: row.message };
  if (row.data !== null) event.data = row.data;
  return event;
}

/**
 * Columns a patch may set, and how each value is bound. Only these names ever
 * reach the SQL text; values are always parameters.
 */
const PATCH_COLUMNS: { [K in keyof Required<RunPatch>]: { column: string; cast: string; value: (v: RunPatch[K]) => unknown } } = {
  state: { column: 'state', cast: 'text', value: (v) => v },
  verdict: { column: 'verdict', cast: 'text', value: (v) => v },
  reason: { column: 'reason', cast: 'text', value: (v) => v },
  // The engine's own start (the row's default is when the run was requested, a few ms earlier).
  startedAt: { column: 'started_at', cast: 'timestamptz', value: (v) => timestampParam(v ?? '', 'startedAt') },
  endedAt: { column: 'ended_at', cast: 'timestamptz', value: (v) => (v === null || v === undefined ? null : timestampParam(v, 'endedAt')) },
  window: { column: 'fault_window', cast: 'jsonb', value: (v) => jsonParam(v, 'window') },
  halt: { column: 'halt', cast: 'jsonb', value: (v) => jsonParam(v, 'halt') },
  metrics: { column: 'metrics', cast: 'jsonb', value: (v) => jsonParam(v ?? [], 'metrics') },
};

function checkPatch(patch: RunPatch): void {
  for (const key of Object.keys(patch)) {
    if (!(key in PATCH_COLUMNS)) throw new ValidationError([{ path: key, message: 'is not a field a run update may change' }]);
  }
  if (patch.state !== undefined && !ALL_STATES.has(patch.state)) {
    throw new ValidationError([{ path: 'state', message: `unknown run state ${JSON.stringify(patch.state)}` }]);
  }
  if (patch.verdict !== undefined && patch.verdict !== null && !VERDICTS.has(patch.verdict)) {
    throw new ValidationError([{ path: 'verdict', message: `unknown verdict ${JSON.stringify(patch.verdict)}` }]);
  }
  if (patch.reason !== undefined && typeof patch.reason !== 'string') {
    throw new ValidationError([{ path: 'reason', message: 'must be a string' }]);
  }
  if (patch.metrics !== undefined && !Array.isArray(patch.metrics)) {
    throw new ValidationError([{ path: 'metrics', message: 'must be an array' }]);
  }
}

export function createRunRepository(sql: Sql): RunRepository {
  const tryCreate = createRunCreator(sql);
  const get = async (id: string): Promise<StoredRun | undefined> => {
    const [row] = await sql.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [id]);
    return row ? toRun(row) : undefined;
  };

  return {
    ...createRunDataRepository(sql),

    async create(input) {
      requireText(input.id, 'id', 128);
      requireText(input.experiment, 'experiment', 128);
      requireText(input.target, 'target', 512);
      requireText(input.actor, 'actor', 256);
      if (input.idempotencyKey !== undefined) requireText(input.idempotencyKey, 'idempotencyKey', 255);
      if (input.owner !== undefined) requireText(input.owner, 'owner', 256);
      if (input.maxActive !== undefined && (!Number.isSafeInteger(input.maxActive) || input.maxActive < 0)) {
        throw new ValidationError([{ path: 'maxActive', message: 'must be a non-negative integer' }]);
      }
      if (!Number.isSafeInteger(input.version) || input.version < 1) {
        throw new ValidationError([{ path: 'version', message: 'must be a positive integer' }]);
      }
      return tryCreate(input);
    },

    get,

    findByIdempotencyKey: (experiment, key) => byIdempotencyKey(sql, experiment, key),

    async list(query = {}) {
      const limit = Math.min(Math.max(Math.trunc(query.limit ?? DEFAULT_LIST_LIMIT), 1), MAX_LIST_LIMIT);
      const states = query.state === undefined ? null : typeof query.state === 'string' ? [query.state] : [...query.state];
      let beforeSeq: number | null = null;
      if (query.before !== undefined) {
        const [row] = await sql.query<{ seq: number }>('SELECT seq FROM runs WHERE id = $1', [query.before]);
        if (!row) throw new NotFoundError('run', query.before);
        beforeSeq = row.seq;
      }
      const rows = await sql.query<RunRow>(
        `SELECT ${RUN_COLUMNS} FROM runs
         WHERE ($1::text IS NULL OR experiment = $1)
           AND ($2::text[] IS NULL OR state = ANY($2::text[]))
           AND ($3::bigint IS NULL OR seq < $3)
         ORDER BY seq DESC LIMIT $4`,
        [query.experiment ?? null, states, beforeSeq, limit],
      );
      return rows.map(toRun);
    },

    async listActive() {
      const rows = await sql.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE state = ANY($1::text[]) ORDER BY seq`, [ACTIVE_STATES]);
      return rows.map(toRun);
    },

    async countActive() {
      const [row] = await sql.query<{ n: number }>('SELECT count(*) AS n FROM runs WHERE state = ANY($1::text[])', [ACTIVE_STATES]);
      return row!.n;
    },

    async update(id, patch) {
      checkPatch(patch);
      const sets: string[] = ['updated_at = now()'];
      const params: unknown[] = [id];
      for (const key of Object.keys(patch) as (keyof RunPatch)[]) {
        if (patch[key] === undefined) continue;
        const spec = PATCH_COLUMNS[key] as { column: string; cast: string; value: (v: unknown) => unknown };
        params.push(spec.value(patch[key]));
        sets.push(`${spec.column} = $${params.length}::${spec.cast}`);
      }
      if (patch.state !== undefined && TERMINAL.has(patch.state) && patch.endedAt === undefined) {
        // A run that becomes final ends now (`state` on the right is the stored one). Millisecond
        // precision, as returned at the boundary: a retried patch that echoes the endedAt it read back
        // must match what is stored.
        params.push(TERMINAL_STATES);
        sets.push(`ended_at = CASE WHEN state = ANY($${params.length}::text[]) THEN ended_at ELSE date_trunc('milliseconds', now()) END`);
      }
      try {
        // One statement, so no transaction holds the database between round trips: the row lock is the
        // UPDATE's own, and the trigger refuses any change to a final run's state, verdict or end (SS002).
        const [row] = await sql.query<RunRow>(`UPDATE runs SET ${sets.join(', ')} WHERE id = $1 RETURNING ${RUN_COLUMNS}`, params);
        if (!row) throw new NotFoundError('run', id);
        return toRun(row);
      } catch (err) {
        if (databaseError(err).code === SQLSTATE.runFinal) {
          const becoming = patch.state === undefined ? '' : `; it cannot become ${patch.state}`;
          throw new ConflictError(`${(err as Error).message}${becoming}`, 'run_final');
        }
        throw err;
      }
    },

    async appendEvent(id, event) {
      requireText(event.type, 'type', 128);
      if (typeof event.message !== 'string') throw new ValidationError([{ path: 'message', message: 'must be a string' }]);
      const at = event.at === undefined ? null : timestampParam(event.at, 'at');
      try {
        const [row] = await sql.query<EventRow>(
          `INSERT INTO run_events (run_id, at, type, message, data)
           VALUES ($1, COALESCE($2::timestamptz, now()), $3, $4, $5::jsonb)
           RETURNING seq, at, type, message, data`,
          [id, at, event.type, event.message, jsonParam(event.data, 'data')],
        );
        return toEvent(row!);
      } catch (err) {
        if (databaseError(err).code === SQLSTATE.foreignKeyViolation) throw new NotFoundError('run', id);
        throw err;
      }
    },

    async events(id, opts = {}) {
      const rows = await sql.query<EventRow>(
        'SELECT seq, at, type, message, data FROM run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq',
        [id, opts.after ?? 0],
      );
      return rows.map(toEvent);
    },

    async claim(id, owner, staleAfterMs = DEFAULT_STALE_AFTER_MS) {
      requireText(owner, 'owner', 256);
      const [row] = await sql.query<RunRow>(
        `UPDATE runs SET owner = $2, heartbeat_at = now()
         WHERE id = $1 AND state = ANY($3::text[])
           AND (owner IS NULL OR owner = $2 OR heartbeat_at IS NULL OR heartbeat_at <= now() - $4::double precision * interval '1 millisecond')
         RETURNING ${RUN_COLUMNS}`,
        [id, owner, ACTIVE_STATES, staleAfterMs],
      );
      return row ? toRun(row) : undefined;
    },

    async heartbeat(id, owner) {
      const rows = await sql.query<{ id: string }>('UPDATE runs SET heartbeat_at = now() WHERE id = $1 AND owner = $2 RETURNING id', [id, owner]);
      return rows.length > 0;
    },
  };
}
