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
 * (the pid of the process that has it open). PGlite must not be opened by two
 * processes at once — both would write the same files — so a second process
 * is refused while the first is alive; a lock left by a dead process (kill -9)
 * is taken over.
 */
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DataDirInUseError } from './errors.ts';
import { withSavepoint, type Sql } from './sql.ts';

export interface PgliteSqlOptions {
  /** Directory for the database; omitted → in memory (gone at close). */
  dataDir?: string;
}

/** Locks this process holds, by absolute path: a pid match alone could be a previous container's pid 1. */
const heldLocks = new Set<string>();

export async function createPgliteSql(opts: PgliteSqlOptions = {}): Promise<Sql> {
  let lockPath: string | undefined;
  let dbDir: string | undefined;
  if (opts.dataDir !== undefined) {
    const dir = resolve(opts.dataDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    lockPath = join(dir, 'pglite.lock');
    dbDir = join(dir, 'pglite');
    await acquireLock(lockPath, dir);
  }

  let db: PGlite;
  try {
    db = await PGlite.create({
      ...(dbDir === undefined ? {} : { dataDir: dbDir }),
      // Same value types as the pg adapter (see sql.ts).
      parsers: { [pgliteTypes.INT8]: Number, [pgliteTypes.NUMERIC]: Number },
    });
  } catch (err) {
    if (lockPath) await releaseLock(lockPath);
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    kind: 'pglite',
    async query<R>(text: string, params?: unknown[]): Promise<R[]> {
      const result = await db.query<R>(text, params);
      return result.rows;
    },
    async exec(script: string): Promise<void> {
      await db.exec(script);
    },
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
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
          await db.close();
        } finally {
          if (lockPath) await releaseLock(lockPath);
        }
      })();
      return closing;
    },
  };
}

type PgliteTx = Parameters<Parameters<PGlite['transaction']>[0]>[0];

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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function acquireLock(lockPath: string, dataDir: string): Promise<void> {
  // Two attempts: the second after removing a stale lock.
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      heldLocks.add(lockPath);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number.parseInt((await readFile(lockPath, 'utf8').catch(() => '')).trim(), 10);
    const heldByUs = heldLocks.has(lockPath);
    const ownPidFromEarlierLife = pid === process.pid && !heldByUs;
    if (Number.isInteger(pid) && pid > 0 && (heldByUs || (!ownPidFromEarlierLife && alive(pid)))) {
      throw new DataDirInUseError(dataDir, pid);
    }
    await rm(lockPath, { force: true });
  }
  throw new DataDirInUseError(dataDir, -1);
}

async function releaseLock(lockPath: string): Promise<void> {
  heldLocks.delete(lockPath);
  await rm(lockPath, { force: true });
}
