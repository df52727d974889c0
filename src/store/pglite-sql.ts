/**
 * The SQL port on embedded PGlite (PostgreSQL compiled to WebAssembly), for a
 * single `steadystate serve` without a database server, and for tests.
 *
 * PGlite is one connection. It serialises calls itself: `query` waits while a
 * transaction runs, and transactions run one at a time, so two requests can
 * never interleave statements inside each other's transaction. The price: code
 * inside `transaction(fn)` must use `tx`, never the outer handle — the outer
 * handle waits for the transaction to end, which waits for `fn` (a deadlock).
 * The store's repositories follow that rule; the pg adapter does not need it
 * but tolerates it.
 *
 * On disk, `dataDir` holds `pglite/` (the database files) and `pglite.lock`
 * (who has it open, with a lease; see data-dir-lock.ts). PGlite must not be
 * opened by two processes at once — both would write the same files — so a
 * second process is refused, also from another container on the same volume;
 * a lock whose holder is provably gone, or whose lease lapsed, is taken over.
 * A process that finds its own lock taken over stops using the database.
 *
 * A data directory's PGlite runs in a worker thread (pglite-thread.ts, ADR
 * 027), so its WebAssembly never holds up the event loop that answers
 * requests and watches guardrails. A memory store (tests, `run`, the demo)
 * runs in this thread. Both serialise the same way.
 */
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { acquireDataDirLock, type DataDirLock, type DataDirLockOptions } from './data-dir-lock.ts';
import { existingTemplate, keepAsTemplate } from './pglite-template.ts';
import { openPgliteThread, type PgliteThread, type PgliteTxPort } from './pglite-thread-client.ts';
import { withSavepoint, type Sql } from './sql.ts';

export interface PgliteSqlOptions {
  /** Directory for the database; omitted → in memory (gone at close). */
  dataDir?: string;
  /** Lease of the data-dir lock (tests shorten it). */
  lock?: Pick<DataDirLockOptions, 'leaseMs' | 'heartbeatMs'>;
}

export async function createPgliteSql(opts: PgliteSqlOptions = {}): Promise<Sql> {
  let lock: DataDirLock | undefined;
  let dbDir: string | undefined;
  if (opts.dataDir !== undefined) {
    const dir = resolve(opts.dataDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    dbDir = join(dir, 'pglite');
    lock = await acquireDataDirLock(dir, opts.lock);
  }
  /** Every call checks first: after a takeover the files are someone else's. */
  const guard = (): void => {
    const lost = lock?.lost();
    if (lost) throw lost;
  };

  let db: PgliteDb;
  try {
    if (dbDir !== undefined) {
      // A data directory is the service's store: its own thread, so its WebAssembly never holds up
      // the event loop that answers requests and watches guardrails (ADR 027).
      db = await openPgliteThread(dbDir);
    } else {
      // A memory store (tests, `run`, the demo) starts from initdb's template when one is at hand
      // (pglite-template.ts).
      const tpl = await existingTemplate();
      const mem = await PGlite.create({
        ...(tpl ? { loadDataDir: tpl } : {}),
        // Same value types as the pg adapter (see sql.ts).
        parsers: { [pgliteTypes.INT8]: Number, [pgliteTypes.NUMERIC]: Number },
      });
      if (!tpl) await keepAsTemplate(mem);
      db = mem;
    }
  } catch (err) {
    await lock?.release();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    kind: 'pglite',
    async query<R>(text: string, params?: unknown[]): Promise<R[]> {
      guard();
      const result = await db.query<R>(text, params);
      return result.rows;
    },
    async exec(script: string): Promise<void> {
      guard();
      await db.exec(script);
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      guard();
      return db.transaction(async (tx) => {
        const handle = txSql(tx, 1);
        try {
          return await fn(handle.sql);
        } finally {
          handle.end();
        }
      });
    },
    close(): Promise<void> {
      closing ??= (async () => {
        try {
          // After a takeover, closing would flush into the new holder's files: end the thread instead.
          if (!lock?.lost()) await db.close();
          else await db.terminate?.();
        } finally {
          await lock?.release();
        }
      })();
      return closing;
    },
  };
}

/** PGlite in this thread (memory), or a data directory's PGlite in its own (pglite-thread-client.ts). */
type PgliteDb = Pick<PgliteThread, 'query' | 'exec' | 'transaction' | 'close'> & { terminate?(): Promise<void> };
type PgliteTx = PgliteTxPort;

function txSql(tx: PgliteTx, depth: number): { sql: Sql; end(): void } {
  let ended = false;
  const live = (): void => {
    if (ended) throw new Error('transaction is closed: use the tx handle only inside its callback');
  };
  const sql: Sql = {
    kind: 'pglite',
    async query<R>(text: string, params?: unknown[]): Promise<R[]> {
      live();
      return (await tx.query<R>(text, params)).rows;
    },
    async exec(script: string): Promise<void> {
      live();
      await tx.exec(script);
    },
    async transaction<T>(fn: (inner: Sql) => Promise<T>): Promise<T> {
      live();
      const inner = txSql(tx, depth + 1);
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
