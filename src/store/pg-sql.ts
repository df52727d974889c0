/**
 * The SQL port on a PostgreSQL server, through a `pg` connection pool
 * (`DATABASE_URL`). Each transaction holds one pooled connection from BEGIN to
 * COMMIT/ROLLBACK; everything else runs on whichever connection is free.
 */
import pg from 'pg';
import { withSavepoint, type Sql } from './sql.ts';

export interface PgSqlOptions {
  /** `postgres://user:pass@host:port/db` — usually `DATABASE_URL`. */
  connectionString: string;
  /** Pool size, default 10. */
  max?: number;
  /** Bound on waiting for a connection, default 10 s: a dead server fails calls instead of hanging them. */
  connectionTimeoutMs?: number;
  /** Server-side bound on one statement, default 30 s: a stuck query fails instead of holding a connection. */
  statementTimeoutMs?: number;
  /**
   * Errors of idle pooled connections (server restart, network drop). The pool
   * discards such a connection itself; without a listener node would crash.
   */
  onIdleError?: (err: Error) => void;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

// Per-pool parsers (not pg.types.setTypeParser, which is global to the process):
// int8 and numeric come back as numbers, like PGlite returns them.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
    // pg-types declares its parsers as `any`; they are (text) => value.
    return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  },
};

export function createPgSql(opts: PgSqlOptions): Sql {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 10_000,
    statement_timeout: opts.statementTimeoutMs ?? 30_000,
    application_name: 'steadystate',
    types,
  });
  pool.on('error', (err) => opts.onIdleError?.(err));

  let closing: Promise<void> | undefined;

  const sql: Sql = {
    kind: 'pg',
    async query<R>(text: string, params?: unknown[]): Promise<R[]> {
      const result = await pool.query(text, params);
      return result.rows as R[];
    },
    async exec(script: string): Promise<void> {
      // Without parameters pg uses the simple protocol, which accepts several statements.
      await pool.query(script);
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const tx = clientSql(client, 1);
        try {
          const result = await fn(tx.sql);
          await client.query('COMMIT');
          return result;
        } catch (err) {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackErr) {
            // The connection is in an unknown state: destroy it rather than return it to the pool.
            broken = rollbackErr as Error;
          }
          throw err;
        } finally {
          tx.end();
        }
      } finally {
        client.release(broken);
      }
    },
    close(): Promise<void> {
      closing ??= pool.end();
      return closing;
    },
  };
  return sql;
}

/** The port bound to one connection inside a transaction; unusable once the transaction ends. */
function clientSql(client: pg.PoolClient, depth: number): { sql: Sql; end(): void } {
  let ended = false;
  const live = (): void => {
    if (ended) throw new Error('transaction is closed: use the tx handle only inside its callback');
  };
  const sql: Sql = {
    kind: 'pg',
    async query<R>(text: string, params?: unknown[]): Promise<R[]> {
      live();
      const result = await client.query(text, params);
      return result.rows as R[];
    },
    async exec(script: string): Promise<void> {
      live();
      await client.query(script);
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      live();
      const inner = clientSql(client, depth + 1);
      try {
        return await withSavepoint(sql, depth, () => fn(inner.sql));
      } finally {
        inner.end();
      }
    },
    async close(): Promise<void> {
      throw new Error('close() the store, not a transaction');
    },
  };
  return { sql, end: () => (ended = true) };
}
