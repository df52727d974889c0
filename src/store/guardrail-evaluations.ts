/**
 * Every guardrail evaluation of a run (value, time, breached; a null value is
 * "no data"), so a report read back from the store charts each guardrail the
 * way the CLI's report of the same run does.
 *
 * Bounded: past MAX_EVALUATIONS_PER_GUARDRAIL rows for one guardrail of a run,
 * every second row that is neither a breach nor the guardrail's first or last
 * evaluation is deleted, which halves the thinnable rows and keeps what a
 * reader must see (where it started, where it ended, every breach). A 30 min
 * window at a 1 s interval is thinned about once; the table stays a few
 * thousand rows per run at most.
 */
import type { GuardrailObservation } from '../engine/types.ts';
import { ValidationError } from '../lib/errors.ts';
import { NotFoundError } from './errors.ts';
import { requireText } from './rows.ts';
import { databaseError, SQLSTATE, type Sql } from './sql.ts';

/** Rows kept per guardrail of a run before thinning. */
export const MAX_EVALUATIONS_PER_GUARDRAIL = 1_000;
/** Bound on one append (one tick appends one per guardrail). */
export const MAX_EVALUATIONS_PER_APPEND = 1_000;

export interface GuardrailEvaluationRepository {
  /**
   * Append evaluations (`at` integer ms, `value` finite or null). One already
   * stored for the same guardrail and time is skipped, so a retried append is
   * harmless. Returns how many were added. NotFoundError for an unknown run.
   */
  appendGuardrailEvaluations(id: string, observations: readonly GuardrailObservation[]): Promise<number>;
  /** The run's evaluations (after thinning), ordered by time then guardrail. */
  guardrailEvaluations(id: string): Promise<GuardrailObservation[]>;
}

function check(observations: readonly GuardrailObservation[]): void {
  const given: unknown = observations;
  if (!Array.isArray(given)) throw new ValidationError([{ path: 'observations', message: 'must be an array' }]);
  if (observations.length > MAX_EVALUATIONS_PER_APPEND) {
    throw new ValidationError([{ path: 'observations', message: `at most ${MAX_EVALUATIONS_PER_APPEND} per append, got ${observations.length}` }]);
  }
  observations.forEach((o, i) => {
    requireText(o.guardrail, `observations.${i}.guardrail`, 256);
    if (!Number.isSafeInteger(o.at)) throw new ValidationError([{ path: `observations.${i}.at`, message: 'must be an integer (Unix ms)' }]);
    if (o.value !== null && (typeof o.value !== 'number' || !Number.isFinite(o.value))) {
      throw new ValidationError([{ path: `observations.${i}.value`, message: 'must be a finite number or null (no data)' }]);
    }
    if (typeof o.breached !== 'boolean') throw new ValidationError([{ path: `observations.${i}.breached`, message: 'must be a boolean' }]);
  });
}

/**
 * When to count a guardrail's rows: after every `every` rows appended for one
 * (run, guardrail) by this process, rather than on every append (a count per
 * guardrail per look was most of a tick's statements). The table then stays
 * within the cap plus about two checks' worth of rows per guardrail.
 */
export class Thinning {
  readonly every: number;
  private readonly since = new Map<string, number>();

  constructor(readonly cap: number) {
    this.every = Math.max(1, Math.min(100, Math.floor(cap / 10)));
  }

  /** Record `added` rows; true when the guardrail is due a count. */
  due(runId: string, guardrail: string, added: number): boolean {
    const key = `${runId}\u0000${guardrail}`;
    const n = (this.since.get(key) ?? 0) + added;
    if (n < this.every) {
      // Bounded: forgetting the counts of long-ended runs costs at most one late check each.
      if (this.since.size >= 10_000 && !this.since.has(key)) this.since.clear();
      this.since.set(key, n);
      return false;
    }
    this.since.delete(key);
    return true;
  }
}

/** Insert many runs' evaluations (checked) and thin the guardrails that are due. Returns the rows added. */
export async function insertEvaluations(
  tx: Sql,
  items: readonly { runId: string; observations: readonly GuardrailObservation[] }[],
  thinning: Thinning,
): Promise<number> {
  const rows: { run_id: string; guardrail: string; t: number; value: number | null; breached: boolean }[] = [];
  for (const item of items) {
    check(item.observations);
    for (const o of item.observations) rows.push({ run_id: item.runId, guardrail: o.guardrail, t: o.at, value: o.value, breached: o.breached });
  }
  if (rows.length === 0) return 0;
  const [inserted] = await tx.query<{ n: number }>(
    `WITH added AS (
       INSERT INTO run_guardrail_evaluations (run_id, guardrail, t, value, breached)
       SELECT o.run_id, o.guardrail, o.t, o.value, o.breached
       FROM jsonb_to_recordset($1::jsonb) AS o(run_id text, guardrail text, t bigint, value double precision, breached boolean)
       ON CONFLICT (run_id, guardrail, t) DO NOTHING
       RETURNING 1)
     SELECT count(*) AS n FROM added`,
    [JSON.stringify(rows)],
  );
  const appended = new Map<string, { runId: string; guardrail: string; n: number }>();
  for (const r of rows) {
    const key = JSON.stringify([r.run_id, r.guardrail]);
    const entry = appended.get(key) ?? { runId: r.run_id, guardrail: r.guardrail, n: 0 };
    entry.n += 1;
    appended.set(key, entry);
  }
  for (const { runId, guardrail, n } of appended.values()) {
    if (thinning.due(runId, guardrail, n)) await thin(tx, runId, guardrail, thinning.cap);
  }
  return inserted!.n;
}

export function createGuardrailEvaluationRepository(
  sql: Sql,
  cap = MAX_EVALUATIONS_PER_GUARDRAIL,
): GuardrailEvaluationRepository & { readonly thinning: Thinning } {
  const thinning = new Thinning(cap);
  return {
    thinning,

    async appendGuardrailEvaluations(id, observations) {
      check(observations);
      if (observations.length === 0) return 0;
      try {
        return await sql.transaction((tx) => insertEvaluations(tx, [{ runId: id, observations }], thinning));
      } catch (err) {
        if (databaseError(err).code === SQLSTATE.foreignKeyViolation) throw new NotFoundError('run', id);
        throw err;
      }
    },

    async guardrailEvaluations(id) {
      const rows = await sql.query<{ guardrail: string; t: number; value: number | null; breached: boolean }>(
        'SELECT guardrail, t, value, breached FROM run_guardrail_evaluations WHERE run_id = $1 ORDER BY t, guardrail',
        [id],
      );
      return rows.map((r) => ({ guardrail: r.guardrail, at: r.t, value: r.value, breached: r.breached }));
    },
  };
}

/**
 * Over the cap: drop every second row that is not a breach, the first or the
 * last. Should breaches alone keep it above twice the cap (a long window of
 * `for: N` guardrails flapping), breaches are thinned too: bounded comes first.
 */
async function thin(tx: Sql, id: string, guardrail: string, cap: number): Promise<void> {
  const stats = async () =>
    (await tx.query<{ n: number; lo: number; hi: number }>(
      'SELECT count(*) AS n, min(t) AS lo, max(t) AS hi FROM run_guardrail_evaluations WHERE run_id = $1 AND guardrail = $2',
      [id, guardrail],
    ))[0];
  const halve = async (lo: number, hi: number, keepBreaches: boolean): Promise<void> => {
    await tx.query(
      `DELETE FROM run_guardrail_evaluations e USING (
         SELECT t, row_number() OVER (ORDER BY t) AS rn FROM run_guardrail_evaluations
         WHERE run_id = $1 AND guardrail = $2 AND t > $3 AND t < $4 AND NOT ($5::boolean AND breached)
       ) x
       WHERE e.run_id = $1 AND e.guardrail = $2 AND e.t = x.t AND x.rn % 2 = 0`,
      [id, guardrail, lo, hi, keepBreaches],
    );
  };
  // Each pass halves the thinnable rows: a few passes reach the bound from any append size.
  for (let pass = 0; pass < 32; pass++) {
    const before = await stats();
    if (!before || before.n <= cap) return;
    await halve(before.lo, before.hi, true);
    const after = await stats();
    if (!after || after.n <= cap) return;
    if (after.n < before.n) continue;
    // Nothing left to thin but breaches.
    if (after.n <= 2 * cap) return;
    await halve(after.lo, after.hi, false);
  }
}
