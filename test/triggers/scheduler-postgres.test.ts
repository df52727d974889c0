/**
 * Two scheduler replicas over one real PostgreSQL (each with its own store
 * and connection pool, as two service processes would have), handling the
 * same ticks at the same moment: exactly one acts on each tick, whether it
 * starts a run or records a skip. Skipped loudly where PostgreSQL is missing;
 * never under CI=true or STEADYSTATE_REQUIRE_POSTGRES=1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createStore } from '../../src/store/open-store.ts';
import { createPgSql } from '../../src/store/pg-sql.ts';
import type { Store } from '../../src/store/types.ts';
import { Scheduler } from '../../src/triggers/scheduler.ts';
import { createTriggerRepository } from '../../src/triggers/trigger-store.ts';
import { checkPostgres, startPostgres, type RunningPostgres } from '../helpers/postgres.ts';
import { addExperiment, RecordingStarter } from './helpers.ts';

const postgres = checkPostgres();
const logger = pino({ level: process.env.STEADYSTATE_TEST_LOG ?? 'silent' });

describe('scheduler replicas on one PostgreSQL', { skip: postgres.skip }, () => {
  let server: RunningPostgres;
  const stores: Store[] = [];

  before(async () => {
    server = await startPostgres({ install: postgres.install });
  });
  after(async () => {
    for (const s of stores) await s.close();
    await server?.stop();
  });

  it('exactly one replica fires per tick (and records each skip once)', async () => {
    const url = await server.createDatabase();
    // Two "processes": separate pools, migrating at the same time.
    const sqls = [createPgSql({ connectionString: url, max: 4 }), createPgSql({ connectionString: url, max: 4 })];
    const [a, b] = await Promise.all(sqls.map((sql) => createStore(sql)));
    stores.push(a!, b!);
    await addExperiment(a!, 'checkout', {
      duration: '2m',
      schedule: '{ cron: "*/30 * * * *", timezone: Europe/Berlin, allowedHours: "09:00-17:00", blackout: ["2026-03-05"] }',
    });

    const clock = { now: 0 };
    const replicas = [a!, b!].map((store, i) => {
      const sql = sqls[i]!;
      // Each run finishes at once, so no tick is skipped for overlap: every allowed tick should fire once.
      const starter = new RecordingStarter(store, { finish: true, label: `r${i}` });
      const scheduler = new Scheduler({
        experiments: store.experiments,
        runs: store.runs,
        starter,
        triggers: createTriggerRepository(sql),
        logger,
        replica: `replica-${i}`,
        now: () => clock.now,
      });
      return { scheduler, starter };
    });

    // Tuesday 2026-03-03 to Thursday 2026-03-05, every half hour, in Berlin (+01:00): 144 slots,
    // 16 a day inside 09:00-17:00 on Tue and Wed; Thursday is a blackout day.
    const slots: Date[] = [];
    for (let t = Date.parse('2026-03-02T23:00:00Z'); t < Date.parse('2026-03-05T23:00:00Z'); t += 30 * 60_000) slots.push(new Date(t));
    const outcomes: string[][] = [];
    for (const slot of slots) {
      clock.now = slot.getTime() + 200;
      const results = await Promise.all(replicas.map((r) => r.scheduler.tick('checkout', slot)));
      outcomes.push(results.map((r) => r.outcome).sort());
    }

    const starts = replicas.reduce((n, r) => n + r.starter.calls.length, 0);
    assert.equal(starts, 32, 'two allowed days × 16 half-hours');
    for (const [i, o] of outcomes.entries()) {
      assert.equal(o.filter((x) => x === 'not-elected').length, 1, `slot ${slots[i]!.toISOString()}: ${o.join(',')}`);
      assert.ok(o.includes('started') || o.includes('skipped'), `slot ${slots[i]!.toISOString()}: ${o.join(',')}`);
    }
    // One decision per slot in the table, and one run per started slot.
    const triggers = createTriggerRepository(sqls[0]!);
    const ticks = await triggers.ticks({ experiment: 'checkout', limit: 500 });
    assert.equal(ticks.length, slots.length);
    assert.equal(ticks.filter((t) => t.outcome === 'started').length, 32);
    assert.ok(ticks.filter((t) => t.outcome === 'skipped').every((t) => /outside the allowed hours|blackout day/.test(t.reason)));
    const runs = await a!.runs.list({ experiment: 'checkout', limit: 500 });
    assert.equal(runs.length, 32);
    assert.equal(new Set(runs.map((r) => r.idempotencyKey)).size, 32);
  });
});

