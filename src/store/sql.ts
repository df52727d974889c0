/**
 * The SQL port: the only thing the store's repositories know about a database.
 * Two adapters implement it — `pg-sql.ts` (a PostgreSQL server through a `pg`
 * pool) and `pglite-sql.ts` (embedded PGlite) — and the same store test suite
 * runs on both, so a repository that works on one works on the other.
 *
 * Both adapters agree on how values come back, so repositories never ask
 * which one they talk to:
 * - `int2/int4/int8/float8/numeric` → number (int8 values stay far below 2^53 here:
 *   sequence numbers, counts, Unix milliseconds);
 * - `timestamptz` → Date (repositories turn it into an ISO string at the boundary);
 * - `json/jsonb` → the parsed value; `bool` → boolean; `text` → string.
 *
 * Parameters are positional (`$1`, `$2`, …) and always bound, never spliced
 * into the text. JSON goes in as a string and is cast in SQL (`$1::jsonb`),
 * because `pg` would otherwise send a JS array as a PostgreSQL array literal.
 */
export type SqlKind = 'pg' | 'pglite';

export interface Sql {
  readonly kind: SqlKind;
  /** One statement with bound parameters; the rows it returns (empty for DML without RETURNING). */
  query<R>(text: string, params?: unknown[]): Promise<R[]>;
  /**
   * A script of several statements without parameters (migrations). Never pass
   * user input here: there is nothing to bind it to.
   */
  exec(script: string): Promise<void>;
  /**
   * Run `fn` in a transaction: commit when it resolves, roll back when it
   * throws (and rethrow). Inside, use only `tx`. Calling `tx.transaction`
   * opens a savepoint, so helpers can be transactional and still compose.
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /** Release connections (pg) or shut the embedded database down (PGlite). Idempotent. */
  close(): Promise<void>;
}

/** Fields PostgreSQL puts on an error; both drivers expose them the same way. */
export interface DatabaseErrorFields {
  /** SQLSTATE, e.g. `23505` unique_violation. */
  code?: string;
  /** The violated constraint or index, when there is one. */
  constraint?: string;
}

export const SQLSTATE = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
  /** Raised by our own triggers that keep rows immutable (see migrations). */
  immutableRow: 'SS001',
  /** Raised by the trigger that keeps a terminal run's state, verdict and end final. */
  runFinal: 'SS002',
} as const;

/** SQLSTATE and constraint of a database error, or an empty object for anything else. */
export function databaseError(err: unknown): DatabaseErrorFields {
  if (typeof err !== 'object' || err === null) return {};
  const { code, constraint } = err as { code?: unknown; constraint?: unknown };
  return {
    code: typeof code === 'string' ? code : undefined,
    constraint: typeof constraint === 'string' ? constraint : undefined,
  };
}

/** True for a unique violation, optionally of the named constraint/index. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = databaseError(err);
  return e.code === SQLSTATE.uniqueViolation && (constraint === undefined || e.constraint === constraint);
}

/**
 * Savepoint names for nested transactions. Both adapters use this so nesting
 * behaves the same: a failing inner block rolls back to its savepoint only.
 */
export async function withSavepoint<T>(tx: Sql, depth: number, fn: () => Promise<T>): Promise<T> {
  const name = `sp_${depth}`;
  await tx.query(`SAVEPOINT ${name}`);
  try {
    const result = await fn();
    await tx.query(`RELEASE SAVEPOINT ${name}`);
    return result;
  } catch (err) {
    await tx.query(`ROLLBACK TO SAVEPOINT ${name}`);
    throw err;
  }
}
