/**
 * The trigger repository (migration 002) on PGlite and on a real PostgreSQL:
 * delivery records (lookup by id, by body within a window, first writer
 * wins), tick leases (one claim wins a race), pruning.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createStore } from '../../src/store/open-store.ts';
import { createPgSql } from '../../src/store/pg-sql.ts';
import { createPgliteSql } from '../../src/store/pglite-sql.ts';
import type { Sql } from '../../src/store/sql.ts';
import type { Store } from '../../src/store/types.ts';
import { createTriggerRepository, type TriggerRepository } from '../../src/triggers/trigger-store.ts';
import { checkPostgres, startPostgres, type RunningPostgres } from '../helpers/postgres.ts';
import { addExperiment } from './helpers.ts';

const postgres = checkPostgres();

function suite(label: string, open: () => Promise<{ sqls: Sql[]; teardown?: () => Promise<void> }>): void {
  describe(`trigger repository on ${label}`, () => {
    let stores: Store[];
    let repos: TriggerRepository[];
    let teardown: (() => Promise<void>) | undefined;

    before(async () => {
      const opened = await open();
      teardown = opened.teardown;
      stores = [];
      for (const sql of opened.sqls) stores.push(await createStore(sql));
      repos = opened.sqls.map((sql) => createTriggerRepository(sql));
      await addExperiment(stores[0]!, 'checkout');
    });
    after(async () => {
      for (const s of stores ?? []) await s.close();
      await teardown?.();
    });

    const record = (deliveryId: string, content: string, receivedAt: Date) => ({
      provider: 'github',
      deliveryId,
      contentSha256: content.repeat(64).slice(0, 64),
      service: 'shop',
      environment: 'staging',
      receivedAt,
      result: { runs: [{ id: 'run-1', experiment: 'checkout' }], skipped: [] },
    });

    it('finds a delivery by id at any age, by body only inside the window; the first record of an id wins', async () => {
      const repo = repos[0]!;
      const t0 = new Date(Date.now() - 30 * 60_000);
      assert.equal(await repo.recordDelivery(record('d-1', 'a', t0)), true);
      assert.equal(await repo.recordDelivery(record('d-1', 'b', new Date())), false);
      const byId = await repo.findDeliveries('github', 'd-1', 'f'.repeat(64), new Date());
      assert.deepEqual(byId.map((d) => [d.deliveryId, d.contentSha256[0]]), [['d-1', 'a']]);
      assert.deepEqual(byId[0]!.result, { runs: [{ id: 'run-1', experiment: 'checkout' }], skipped: [] });
      assert.equal((await repo.findDeliveries('github', 'd-2', 'a'.repeat(64), new Date(t0.getTime() - 1000))).length, 1, 'same body inside the window');
      assert.equal((await repo.findDeliveries('github', 'd-2', 'a'.repeat(64), new Date(t0.getTime() + 1000))).length, 0, 'same body outside the window');
      assert.equal((await repo.findDeliveries('generic', 'd-1', 'a'.repeat(64), t0)).length, 0, 'per provider');
      // The same body again, as a new deploy after the window, can be recorded.
      assert.equal(await repo.recordDelivery(record('d-3', 'a', new Date())), true);
    });

    it('of many replicas claiming one tick at once, exactly one wins', async () => {
      const slot = new Date('2026-03-03T09:00:00Z');
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, i) => repos[i % repos.length]!.claimTick({ experiment: 'checkout', slot, replica: `r${i}`, outcome: 'starting', reason: '' })),
      );
      assert.equal(claims.filter(Boolean).length, 1, JSON.stringify(claims));
      const winner = `r${claims.indexOf(true)}`;
      await repos[0]!.finishTick('checkout', slot, 'someone-else', { outcome: 'failed', reason: 'not mine' });
      assert.equal((await repos[0]!.ticks({ experiment: 'checkout' }))[0]!.outcome, 'starting', 'only the claimant finishes a tick');
      await repos[0]!.finishTick('checkout', slot, winner, { outcome: 'skipped', reason: 'x'.repeat(5000) });
      const [tick] = await repos[0]!.ticks({ experiment: 'checkout' });
      assert.equal(tick!.outcome, 'skipped');
      assert.equal(tick!.reason.length, 2000, 'reasons are bounded');
    });

    it('prunes old records', async () => {
      const repo = repos[0]!;
      await repo.claimTick({ experiment: 'checkout', slot: new Date('2020-01-01T00:00:00Z'), replica: 'r', outcome: 'skipped', reason: 'old' });
      await repo.recordDelivery(record('d-old', 'c', new Date('2020-01-01T00:00:00Z')));
      assert.ok((await repo.pruneTicks(30 * 86_400_000)) >= 1);
      assert.ok((await repo.pruneDeliveries(7 * 86_400_000)) >= 1);
      assert.equal((await repo.findDeliveries('github', 'd-old', '0'.repeat(64), new Date())).length, 0);
      assert.ok((await repo.ticks({ limit: 500 })).every((t) => t.reason !== 'old'));
    });
  });
}

suite('PGlite', async () => ({ sqls: [await createPgliteSql({})] }));

describe('PostgreSQL', { skip: postgres.skip }, () => {
  let server: RunningPostgres | undefined;
  suite('PostgreSQL (two pools)', async () => {
    server = await startPostgres({ install: postgres.install });
    const url = await server.createDatabase();
    const sqls = [createPgSql({ connectionString: url, max: 4 }), createPgSql({ connectionString: url, max: 4 })];
    return { sqls, teardown: async () => server?.stop() };
  });
});
