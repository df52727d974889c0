/**
 * A data directory's PGlite in its own thread (ADR 027): what the thread is
 * for, and what happens when it ends. The SQL port's behaviour through the
 * thread (types, errors, transactions, savepoints) is the store suite's
 * "PGlite in a data directory" run in store-pglite.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createPgliteSql } from '../../src/store/pglite-sql.ts';
import { openPgliteThread } from '../../src/store/pglite-thread-client.ts';
import type { Sql } from '../../src/store/sql.ts';

/** A statement that keeps PGlite busy for a while (a few hundred ms here). */
const SLOW = 'SELECT count(*)::int AS n FROM generate_series(1, 1000000) AS g WHERE g % 7 = 0';

/** The longest gap between ticks of a 5 ms timer on this thread while `work` runs, and how long it ran. */
async function longestGap(work: () => Promise<unknown>): Promise<{ gapMs: number; tookMs: number }> {
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 5);
  const at = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return { gapMs: Math.max(gap, performance.now() - last), tookMs: performance.now() - at };
}

describe('PGlite in its own thread', () => {
  let root: string;
  /** One data directory, opened by each test in turn: initdb runs once. */
  let dir: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'steadystate-pglite-thread-'));
    dir = join(root, 'db');
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('a long statement does not hold up the event loop, as it does in this thread', async () => {
    const threaded: Sql = await createPgliteSql({ dataDir: dir });
    const inThread: Sql = await createPgliteSql();
    try {
      const there = await longestGap(() => threaded.query(SLOW));
      const here = await longestGap(() => inThread.query(SLOW));
      // The control shows the statement is long enough to tell: in this thread, the loop stops for it.
      assert.ok(here.gapMs > 0.8 * here.tookMs, `in this thread: longest gap ${here.gapMs.toFixed(0)} ms of ${here.tookMs.toFixed(0)} ms`);
      assert.ok(there.tookMs > 100, `the statement took ${there.tookMs.toFixed(0)} ms`);
      assert.ok(there.gapMs < there.tookMs / 3, `in its own thread: longest gap ${there.gapMs.toFixed(0)} ms of ${there.tookMs.toFixed(0)} ms`);
    } finally {
      await threaded.close();
      await inThread.close();
    }
  });

  it('a transaction the caller throws out of is rolled back in the thread, and the thread goes on', async () => {
    const db = await openPgliteThread(dir);
    try {
      await db.exec('CREATE TABLE t (id int PRIMARY KEY)');
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES (1)');
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      // A database error inside a transaction keeps its SQLSTATE across the thread.
      await db.query('INSERT INTO t VALUES (2)');
      await assert.rejects(
        db.transaction((tx) => tx.query('INSERT INTO t VALUES (2)')),
        (err: Error & { code?: string; constraint?: string }) => err.code === '23505' && err.constraint === 't_pkey',
      );
      assert.deepEqual((await db.query<{ id: number }>('SELECT id FROM t ORDER BY id')).rows, [{ id: 2 }]);
    } finally {
      await db.close();
    }
  });

  it('when the thread ends, the call waiting on it fails and so does every later one, with the reason', async () => {
    const db = await openPgliteThread(dir);
    assert.deepEqual((await db.query<{ one: number }>('SELECT 1 AS one')).rows, [{ one: 1 }]);
    const waiting = db.query(SLOW);
    await db.terminate();
    await assert.rejects(waiting, /PGlite thread was ended/);
    await assert.rejects(db.query('SELECT 1'), /PGlite thread was ended/);
    await assert.rejects(db.transaction(async (tx) => tx.query('SELECT 1')), /PGlite thread was ended/);
  });
});
