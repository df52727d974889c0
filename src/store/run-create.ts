/**
 * Creating runs: the one place that decides whether a run may start, under
 * the database's guarantees (ADR 006: the partial unique index
 * `runs_one_active_per_target`, `runs_idempotency_key`, the cap under an
 * advisory lock). Creates that arrive together share one transaction (group
 * commit) and, when they fit under the cap, one insert.
 */
import { ACTIVE_STATES } from '../engine/types.ts';
import { CapacityError, ConflictError, LockedError, NotFoundError } from './errors.ts';
import { GroupCommit, type Settled } from './group-commit.ts';
import { byIdempotencyKey, RUN_COLUMNS, toRun, type RunRow } from './run-row.ts';
import type { Sql } from './sql.ts';
import type { NewRun, StoredRun } from './types.ts';

export type CreateRun = (input: NewRun) => Promise<{ run: StoredRun; created: boolean }>;

/** Errors this code throws to refuse one create; anything else is the database's. */
const isRefusal = (err: unknown): boolean =>
  err instanceof LockedError || err instanceof NotFoundError || err instanceof ConflictError || err instanceof CapacityError;

/** pg_advisory_xact_lock key serialising capped creates ("ssrunCAP" in ASCII, any fixed bigint would do). */
const CAP_LOCK_KEY = 0x7373_7275_6e43_4150n.toString();
/** Bounded retries when the holder of a target finished between our insert and our look-up. */
const CREATE_ATTEMPTS = 3;

/** The create path of the run repository: validated inputs in, `{ run, created }` or a refusal out. */
export function createRunCreator(sql: Sql): CreateRun {
  /**
   * One create inside the batch's transaction, in one statement (insertMany
   * of one): the insert happens only if the experiment version is live (FOR
   * SHARE: a concurrent experiments.delete, FOR UPDATE, waits for this run to
   * exist, or this waits for the delete), and a unique index it would violate (the target's active
   * run, the idempotency key, the id) makes it insert nothing instead of
   * failing the transaction. Only then is asked why, in the order the answers
   * matter: a repeated key gets its run even when that run holds the target.
   * `active` is the count under the cap lock.
   */
  const createOne = async (tx: Sql, input: NewRun, active: number | undefined): Promise<{ run: StoredRun; created: boolean }> => {
    const full = input.maxActive !== undefined && active !== undefined && active >= input.maxActive;
    for (let attempt = 1; attempt <= CREATE_ATTEMPTS; attempt += 1) {
      if (!full) {
        const [row] = await insertMany(tx, [input]);
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

  /** The insert of createOne for many runs at once, in input order; the rows a unique index refuses are left out. */
  const insertMany = (tx: Sql, inputs: readonly NewRun[]): Promise<RunRow[]> =>
    tx.query<RunRow>(
      `INSERT INTO runs (id, experiment, version, target, created_by, idempotency_key, owner, heartbeat_at)
       SELECT u.id, u.experiment, u.version, u.target, u.created_by, u.key, u.owner, CASE WHEN u.owner IS NULL THEN NULL ELSE now() END
       FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[])
            WITH ORDINALITY AS u(id, experiment, version, target, created_by, key, owner, ord)
       WHERE EXISTS (SELECT 1 FROM experiments e JOIN experiment_versions v ON v.experiment = e.name AND v.version = u.version
                     WHERE e.name = u.experiment AND e.deleted_at IS NULL FOR SHARE OF e)
       ORDER BY u.ord
       ON CONFLICT DO NOTHING RETURNING ${RUN_COLUMNS}`,
      [
        inputs.map((i) => i.id),
        inputs.map((i) => i.experiment),
        inputs.map((i) => i.version),
        inputs.map((i) => i.target),
        inputs.map((i) => i.actor),
        inputs.map((i) => i.idempotencyKey ?? null),
        inputs.map((i) => i.owner ?? null),
      ],
    );

  /**
   * Group commit: the creates that arrive while one transaction is under way
   * share the next one. One creator at a time counts and inserts under the cap
   * (the advisory lock, until commit): a count then an insert outside it let
   * 100 concurrent starts all see room under the cap. A create that is refused
   * (locked, not found, full) is refused by this code, not by a failed
   * statement, so the others of the batch go on; a database error fails the
   * batch, and its creates are then retried one transaction each, so one bad
   * create cannot take the others down. A burst of starts that fits under the
   * cap pays one transaction and one insert (bench:starts).
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
      const results: (Settled<{ run: StoredRun; created: boolean }> | undefined)[] = inputs.map(() => undefined);
      const room = Math.min(...inputs.map((i) => (i.maxActive === undefined || active === undefined ? Infinity : i.maxActive - active)));
      if (inputs.length > 1 && inputs.length <= room) {
        // The whole batch fits under the cap: one statement inserts every run a unique index lets in.
        const inserted = new Map((await insertMany(tx, inputs)).map((row) => [row.id, toRun(row)]));
        inputs.forEach((input, i) => {
          const run = inserted.get(input.id);
          if (run) results[i] = { ok: true, value: { run, created: true } };
        });
        if (active !== undefined) active += inserted.size;
      }
      // The rest, one by one, with the reason each was left out (or a retry).
      for (const [i, input] of inputs.entries()) {
        if (results[i]) continue;
        try {
          const result = await createOne(tx, input, active);
          if (result.created && active !== undefined) active += 1;
          results[i] = { ok: true, value: result };
        } catch (error) {
          if (!isRefusal(error)) throw error;
          results[i] = { ok: false, error };
        }
      }
      return results as Settled<{ run: StoredRun; created: boolean }>[];
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
  return (input) => creates.submit(input);
}
