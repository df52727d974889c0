/**
 * Runs, their timeline (events) and their collected samples.
 *
 * The database, not this code, guarantees the invariants that matter under
 * concurrency: one active run per target (partial unique index
 * `runs_one_active_per_target`), one run per idempotency key and experiment
 * (`runs_idempotency_key`), final terminal states (trigger), append-only
 * events and samples (triggers). This file turns their violations into
 * LockedError / ConflictError with the useful details.
 */
import { ACTIVE_STATES, TERMINAL_STATES, type FaultWindow, type HaltInfo, type RunState } from '../engine/types.ts';
import { ValidationError } from '../lib/errors.ts';
import type { JsonObject } from '../lib/json.ts';
import type { MetricVerdict, Verdict } from '../stats/verdict.ts';
import { CapacityError, ConflictError, LockedError, NotFoundError } from './errors.ts';
import { GroupCommit, type Settled } from './group-commit.ts';
import { createRunDataRepository } from './run-data.ts';
import { iso, isoOrNull, jsonParam, requireText, timestampParam } from './rows.ts';
import { databaseError, SQLSTATE, type Sql } from './sql.ts';
import {
  type NewRun,
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
/** pg_advisory_xact_lock key serialising capped creates ("ssrunCAP" in ASCII, any fixed bigint would do). */
/** Errors this code throws to refuse one create; anything else is the database's. */
const isRefusal = (err: unknown): boolean =>
  err instanceof LockedError || err instanceof NotFoundError || err instanceof ConflictError || err instanceof CapacityError;

const CAP_LOCK_KEY = 0x7373_7275_6e43_4150n.toString();
/** Bounded retries when the holder of a target finished between our insert and our look-up. */
const CREATE_ATTEMPTS = 3;

interface RunRow {
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

const RUN_COLUMNS =
  'id, experiment, version, target, created_by, idempotency_key, state, verdict, reason, started_at, ended_at, updated_at, fault_window, halt, metrics, owner, heartbeat_at';

function toRun(row: RunRow): StoredRun {
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
  const get = async (id: string): Promise<StoredRun | undefined> => {
    const [row] = await sql.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [id]);
    return row ? toRun(row) : undefined;
  };

  const byIdempotencyKey = async (db: Sql, experiment: string, key: string): Promise<StoredRun | undefined> => {
    const [row] = await db.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE experiment = $1 AND idempotency_key = $2`, [experiment, key]);
    return row ? toRun(row) : undefined;
  };

  /**
   * One create inside the batch's transaction, in one statement: the insert
   * happens only if the experiment version is live (FOR SHARE: a concurrent
   * experiments.delete, FOR UPDATE, waits for this run to exist, or this waits
   * for the delete), and a unique index it would violate (the target's active
   * run, the idempotency key, the id) makes it insert nothing instead of
   * failing the transaction. Only then is asked why, in the order the answers
   * matter: a repeated key gets its run even when that run holds the target.
   * `active` is the count under the cap lock.
   */
  const createOne = async (tx: Sql, input: NewRun, active: number | undefined): Promise<{ run: StoredRun; created: boolean }> => {
    const full = input.maxActive !== undefined && active !== undefined && active >= input.maxActive;
    for (let attempt = 1; attempt <= CREATE_ATTEMPTS; attempt += 1) {
      if (!full) {
        const [row] = await tx.query<RunRow>(
          `INSERT INTO runs (id, experiment, version, target, created_by, idempotency_key, owner, heartbeat_at)
           SELECT $1, $2, $3, $4, $5, $6, $7::text, CASE WHEN $7::text IS NULL THEN NULL ELSE now() END
           WHERE EXISTS (SELECT 1 FROM experiments e JOIN experiment_versions v ON v.experiment = e.name AND v.version = $3
                         WHERE e.name = $2 AND e.deleted_at IS NULL FOR SHARE OF e)
           ON CONFLICT DO NOTHING RETURNING ${RUN_COLUMNS}`,
          [input.id, input.experiment, input.version, input.target, input.actor, input.idempotencyKey ?? null, input.owner ?? null],
        );
        if (row) return { run: toRun(row), created: true };
      }
      if (input.idempotencyKey !== undefined) {
        const existing = await byIdempotencyKey(tx, input.experiment, input.idempotencyKey);
        if (existing) return { run: existing, created: false };
      }
      const [live] = await tx.query<{ name: string }>(
        `SELECT e.name FROM experiments e JOIN experiment_versions v ON v.experiment = e.name AND v.version = $2
         WHERE e.name = $1 AND e.deleted_at IS NULL`,
        [input.experiment, input.version],
      );
      if (!live) throw new NotFoundError('experiment version', `${input.experiment}@${input.version}`);
      if (full) throw new CapacityError(input.maxActive as number);
      const [same] = await tx.query<{ id: string }>('SELECT id FROM runs WHERE id = $1', [input.id]);
      if (same) throw new ConflictError(`run "${input.id}" already exists`, 'run_exists');
      const [holder] = await tx.query<{ id: string }>('SELECT id FROM runs WHERE target = $1 AND state = ANY($2::text[])', [input.target, ACTIVE_STATES]);
      if (holder) throw new LockedError(input.target, holder.id);
      // The holder ended in between: the target is free now, try again.
    }
    throw new ConflictError(`could not create run "${input.id}" after ${CREATE_ATTEMPTS} attempts: target "${input.target}" is contended`, 'target_contended');
  };

  /**
   * Group commit: the creates that arrive while one transaction is under way
   * share the next one. One creator at a time counts and inserts under the cap
   * (the advisory lock, until commit): a count then an insert outside it let
   * 100 concurrent starts all see room under the cap. A create that is refused
   * (locked, not found, full) is refused by this code, not by a failed
   * statement, so the others of the batch go on; a database error fails the
   * batch, and its creates are then retried one transaction each, so one bad
   * create cannot take the others down. A burst of starts pays one transaction
   * and one statement per run (bench:starts).
   */
  const batch = (inputs: NewRun[]): Promise<Settled<{ run: StoredRun; created: boolean }>[]> =>
    sql.transaction(async (tx) => {
      // Always taken: two replicas' batches inserting the same targets in another order would deadlock.
      await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [CAP_LOCK_KEY]);
      let active: number | undefined;
      if (inputs.some((i) => i.maxActive !== undefined)) {
        const [row] = await tx.query<{ n: number }>('SELECT count(*) AS n FROM runs WHERE state = ANY($1::text[])', [ACTIVE_STATES]);
        active = row!.n;
      }
      const results: Settled<{ run: StoredRun; created: boolean }>[] = [];
      for (const input of inputs) {
        try {
          const result = await createOne(tx, input, active);
          if (result.created && active !== undefined) active += 1;
          results.push({ ok: true, value: result });
        } catch (error) {
          if (!isRefusal(error)) throw error;
          results.push({ ok: false, error });
        }
      }
      return results;
    });
  const creates = new GroupCommit<NewRun, { run: StoredRun; created: boolean }>(async (inputs) => {
    try {
      return await batch(inputs);
    } catch (error) {
      if (inputs.length === 1) throw error;
      const alone: Settled<{ run: StoredRun; created: boolean }>[] = [];
      for (const input of inputs) {
        try {
          const [r] = await batch([input]);
          alone.push(r!);
        } catch (err) {
          alone.push({ ok: false, error: err });
        }
      }
      return alone;
    }
  });
  const tryCreate = (input: NewRun): Promise<{ run: StoredRun; created: boolean }> => creates.submit(input);

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
      try {
        return await sql.transaction(async (tx) => {
          const [current] = await tx.query<{ state: RunState }>('SELECT state FROM runs WHERE id = $1 FOR UPDATE', [id]);
          if (!current) throw new NotFoundError('run', id);
          if (TERMINAL.has(current.state) && patch.state !== undefined && patch.state !== current.state) {
            throw new ConflictError(`run ${id} is ${current.state}, which is final; it cannot become ${patch.state}`, 'run_final');
          }
          const sets: string[] = ['updated_at = now()'];
          const params: unknown[] = [id];
          for (const key of Object.keys(patch) as (keyof RunPatch)[]) {
            if (patch[key] === undefined) continue;
            const spec = PATCH_COLUMNS[key] as { column: string; cast: string; value: (v: unknown) => unknown };
            params.push(spec.value(patch[key]));
            sets.push(`${spec.column} = $${params.length}::${spec.cast}`);
          }
          const becomesTerminal = patch.state !== undefined && TERMINAL.has(patch.state) && !TERMINAL.has(current.state);
          // Millisecond precision, as returned at the boundary: a retried patch that
          // echoes the endedAt it read back must match what is stored.
          if (becomesTerminal && patch.endedAt === undefined) sets.push(`ended_at = date_trunc('milliseconds', now())`);
          const [row] = await tx.query<RunRow>(`UPDATE runs SET ${sets.join(', ')} WHERE id = $1 RETURNING ${RUN_COLUMNS}`, params);
          return toRun(row!);
        });
      } catch (err) {
        if (databaseError(err).code === SQLSTATE.runFinal) {
          throw new ConflictError(`run ${id} is final: ${(err as Error).message}`, 'run_final');
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
