/**
 * The create path's fault path (run-create.ts): a database error inside a
 * batch's transaction fails the batch, and every create of it is then tried
 * again in a transaction of its own, so one bad statement cannot take the
 * others down. The error is made by the SQL port (the batch's multi-row
 * insert fails once, as a dropped connection or a deadlock would), on a real
 * PGlite store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LockedError } from '../../src/store/errors.ts';
import { createStore } from '../../src/store/open-store.ts';
import { createPgliteSql } from '../../src/store/pglite-sql.ts';
import type { Sql } from '../../src/store/sql.ts';
import type { Store } from '../../src/store/types.ts';
import { specFor } from './store.suite.ts';

/** `sql`, whose transactions fail the first insert of several runs at once (`unnest` of more than one) they are asked to run. */
function failingOnce(sql: Sql): { sql: Sql; failures: () => number } {
  let failures = 0;
  const wrapTx = (tx: Sql): Sql => ({
    ...tx,
    async query<R>(text: string, params?: unknown[]): Promise<R[]> {
      if (failures === 0 && text.includes('unnest(') && Array.isArray(params?.[0]) && params[0].length > 1) {
        failures += 1;
        throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
      }
      return tx.query<R>(text, params);
    },
    transaction: <T>(fn: (inner: Sql) => Promise<T>) => tx.transaction((inner) => fn(wrapTx(inner))),
  });
  return { sql: { ...sql, transaction: (fn) => sql.transaction((tx) => fn(wrapTx(tx))) }, failures: () => failures };
}

void describe('run creates: a batch that fails on the database', () => {
  let store: Store;
  let port: ReturnType<typeof failingOnce>;
  before(async () => {
    port = failingOnce(await createPgliteSql());
    store = await createStore(port.sql);
    await store.experiments.create({ name: 'checkout', actor: 'a', ...specFor('checkout') });
  });
  after(async () => {
    await store?.close();
  });

  void it('is retried create by create: each gets its own answer, and nothing is lost or doubled', async () => {
    // The first create of a burst runs alone; the four behind it share one batch, whose insert fails once.
    const settled = await Promise.allSettled([
      store.runs.create({ id: 'lead', experiment: 'checkout', version: 1, target: 't0', actor: 'a' }),
      store.runs.create({ id: 'b1', experiment: 'checkout', version: 1, target: 't1', actor: 'a' }),
      store.runs.create({ id: 'b2', experiment: 'checkout', version: 1, target: 't1', actor: 'a' }),
      store.runs.create({ id: 'b3', experiment: 'checkout', version: 1, target: 't3', actor: 'a', idempotencyKey: 'k' }),
      store.runs.create({ id: 'b4', experiment: 'checkout', version: 1, target: 't4', actor: 'a', idempotencyKey: 'k' }),
    ]);
    assert.equal(port.failures(), 1, 'the batch insert failed once');
    assert.deepEqual(settled.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const reason = (settled[2] as PromiseRejectedResult).reason as unknown;
    assert.ok(reason instanceof LockedError && reason.holder === 'b1', String(reason));
    const [b3, b4] = [3, 4].map((i) => (settled[i] as PromiseFulfilledResult<{ run: { id: string }; created: boolean }>).value);
    assert.deepEqual([b3!.run.id, b3!.created, b4!.run.id, b4!.created], ['b3', true, 'b3', false]);
    const ids = (await store.runs.list()).map((r) => r.id).sort();
    assert.deepEqual(ids, ['b1', 'b3', 'lead']);
  });
});
