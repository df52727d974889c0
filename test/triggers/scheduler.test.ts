/**
 * The scheduler with a fake clock (its `now()` is injected and ticks are
 * handed their slot, as node-cron does), on a real store (PGlite): allowed
 * hours, allowed days and blackout skips recorded with their reason; no
 * overlap with a run of the same experiment still active; late ticks dropped
 * without a record; a second replica never acts on a tick already decided.
 * Then node-cron itself, in real time for a few seconds: a stalled event loop
 * does not make it replay the missed ticks in a burst.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { HaltAllActiveError } from '../../src/service/run-service.ts';
import { createStore } from '../../src/store/open-store.ts';
import { createPgliteSql } from '../../src/store/pglite-sql.ts';
import type { Sql } from '../../src/store/sql.ts';
import type { Store } from '../../src/store/types.ts';
import type { RunStarter } from '../../src/triggers/deploy-hooks.ts';
import { Scheduler, type SchedulerDeps } from '../../src/triggers/scheduler.ts';
import type { ScheduleSpec } from '../../src/triggers/schedule-schema.ts';
import { createTriggerRepository, type TriggerRepository } from '../../src/triggers/trigger-store.ts';
import { addExperiment, RecordingStarter, snapshotTables } from './helpers.ts';

const logger = pino({ level: process.env.STEADYSTATE_TEST_LOG ?? 'silent' });

const BUSINESS = '{ cron: "*/30 * * * *", timezone: Europe/Berlin, allowedHours: "09:00-17:00", allowedDays: [mon, tue, wed, thu, fri], blackout: ["2026-12-24", "2026-12-28..2026-12-31"] }';

function schedulerFor(store: Store, triggers: TriggerRepository, starter: RunStarter, clock: { now: number }, extra: Partial<SchedulerDeps> = {}): Scheduler {
  return new Scheduler({ experiments: store.experiments, runs: store.runs, starter, triggers, logger, now: () => clock.now, ...extra });
}

describe('scheduler decisions (fake clock, PGlite)', () => {
  let sql: Sql;
  let store: Store;
  let triggers: TriggerRepository;
  const clock = { now: 0 };

  /** Run one tick at `iso`, with the clock `lateMs` after it. */
  const tickAt = (scheduler: Scheduler, name: string, iso: string, lateMs = 150) => {
    const slot = new Date(iso);
    clock.now = slot.getTime() + lateMs;
    return scheduler.tick(name, slot);
  };

  before(async () => {
    sql = await createPgliteSql({});
    store = await createStore(sql);
    triggers = createTriggerRepository(sql);
    await addExperiment(store, 'checkout', { schedule: BUSINESS, duration: '2m' });
    await addExperiment(store, 'long-fault', { schedule: BUSINESS, duration: '45m' });
    await addExperiment(store, 'tokyo', { schedule: '{ cron: "0 * * * *", timezone: Asia/Tokyo, allowedHours: "10:00-18:00" }' });
    await addExperiment(store, 'paused', { schedule: '{ cron: "0 * * * *", enabled: false }' });
  });
  after(async () => store?.close());
  beforeEach(async () => {
    await sql.exec('TRUNCATE schedule_ticks, run_events, run_samples, run_series, runs CASCADE');
  });

  it('starts inside the allowed window, records the run, and keys the start by the slot', async () => {
    const starter = new RecordingStarter(store);
    const s = schedulerFor(store, triggers, starter, clock);
    const result = await tickAt(s, 'checkout', '2026-03-03T08:30:00Z'); // Tuesday 09:30 in Berlin
    assert.equal(result.outcome, 'started');
    assert.deepEqual(starter.calls, [{ name: 'checkout', key: 'schedule:2026-03-03T08:30:00.000Z' }]);
    const [tick] = await triggers.ticks({ experiment: 'checkout' });
    assert.equal(tick?.outcome, 'started');
    assert.equal(tick?.runId, result.outcome === 'started' ? result.runId : undefined);
    assert.equal(tick?.replica, s.replica);
  });

  it('skips outside allowed hours, on a weekend, on blackout days, and when the fault would outlast the window — each with its reason recorded', async () => {
    const starter = new RecordingStarter(store, { finish: true });
    const s = schedulerFor(store, triggers, starter, clock);
    const cases: [string, string, RegExp][] = [
      ['checkout', '2026-03-03T06:30:00Z', /07:30 on 2026-03-03 is outside the allowed hours 09:00-17:00 \(Europe\/Berlin\)/],
      ['checkout', '2026-03-03T16:00:00Z', /17:00 on 2026-03-03 is outside the allowed hours/],
      ['checkout', '2026-03-07T10:00:00Z', /2026-03-07 is a sat, not an allowed day/],
      ['checkout', '2026-12-24T10:00:00Z', /2026-12-24 is a blackout day/],
      ['checkout', '2026-12-30T10:00:00Z', /blackout day \(2026-12-28\.\.2026-12-31/],
      ['long-fault', '2026-03-03T15:30:00Z', /would hold its fault until 17:15/],
      ['tokyo', '2026-03-03T09:00:00Z', /18:00 on 2026-03-03 is outside the allowed hours 10:00-18:00 \(Asia\/Tokyo\)/],
    ];
    for (const [name, iso, reason] of cases) {
      const result = await tickAt(s, name, iso);
      assert.equal(result.outcome, 'skipped', `${name} ${iso}: ${JSON.stringify(result)}`);
      if (result.outcome === 'skipped') assert.match(result.reason, reason);
      const recorded = (await triggers.ticks({ experiment: name })).find((t) => t.slot === new Date(iso).toISOString());
      assert.equal(recorded?.outcome, 'skipped');
      assert.match(recorded?.reason ?? '', reason);
    }
    assert.deepEqual(starter.calls, [], 'nothing started outside the window');
    // And inside it, the same experiments do start.
    assert.equal((await tickAt(s, 'long-fault', '2026-03-03T14:00:00Z')).outcome, 'started');
    assert.equal((await tickAt(s, 'tokyo', '2026-03-03T01:00:00Z')).outcome, 'started'); // 10:00 JST
  });

  it('never overlaps itself: a tick while the previous run is active is skipped, naming the run', async () => {
    const starter = new RecordingStarter(store);
    const s = schedulerFor(store, triggers, starter, clock);
    const first = await tickAt(s, 'checkout', '2026-03-03T09:00:00Z');
    assert.equal(first.outcome, 'started');
    const runId = first.outcome === 'started' ? first.runId : '';
    const second = await tickAt(s, 'checkout', '2026-03-03T09:30:00Z');
    assert.equal(second.outcome, 'skipped');
    if (second.outcome === 'skipped') assert.match(second.reason, new RegExp(`run ${runId} of this experiment is still pending`));
    assert.equal(starter.calls.length, 1);
    await store.runs.update(runId, { state: 'passed', verdict: 'pass' });
    assert.equal((await tickAt(s, 'checkout', '2026-03-03T10:00:00Z')).outcome, 'started');
    assert.equal(starter.calls.length, 2);
  });

  it('drops a late tick without writing anything: missed ticks are not replayed', async () => {
    const starter = new RecordingStarter(store);
    const s = schedulerFor(store, triggers, starter, clock);
    const before = await snapshotTables(sql);
    const result = await tickAt(s, 'checkout', '2026-03-03T09:00:00Z', 5 * 60_000);
    assert.equal(result.outcome, 'dropped');
    if (result.outcome === 'dropped') assert.match(result.reason, /300s after its slot/);
    assert.deepEqual(await snapshotTables(sql), before);
    assert.deepEqual(starter.calls, []);
  });

  it('a disabled or removed schedule does nothing', async () => {
    const starter = new RecordingStarter(store);
    const s = schedulerFor(store, triggers, starter, clock);
    assert.equal((await tickAt(s, 'paused', '2026-03-03T09:00:00Z')).outcome, 'dropped');
    assert.equal((await tickAt(s, 'no-such-experiment', '2026-03-03T09:00:00Z')).outcome, 'dropped');
    assert.deepEqual(starter.calls, []);
  });

  it('a tick already decided by another replica is not acted on again', async () => {
    const a = new RecordingStarter(store, { finish: true, label: 'a' });
    const b = new RecordingStarter(store, { finish: true, label: 'b' });
    const sa = schedulerFor(store, triggers, a, clock, { replica: 'replica-a' });
    const sb = schedulerFor(store, triggers, b, clock, { replica: 'replica-b' });
    assert.equal((await tickAt(sa, 'checkout', '2026-03-03T09:00:00Z')).outcome, 'started');
    assert.deepEqual(await tickAt(sb, 'checkout', '2026-03-03T09:00:00Z', 900), { outcome: 'not-elected' });
    // Skips are single decisions too.
    assert.equal((await tickAt(sb, 'checkout', '2026-03-03T05:00:00Z')).outcome, 'skipped');
    assert.deepEqual(await tickAt(sa, 'checkout', '2026-03-03T05:00:00Z'), { outcome: 'not-elected' });
    assert.equal(a.calls.length + b.calls.length, 1);
    assert.equal((await triggers.ticks({ experiment: 'checkout' })).length, 2);
  });

  it('a start the service refuses (halt-all) is recorded as skipped with its reason', async () => {
    const starter = new RecordingStarter(store, { fail: new HaltAllActiveError() });
    const s = schedulerFor(store, triggers, starter, clock);
    const result = await tickAt(s, 'checkout', '2026-03-03T09:00:00Z');
    assert.equal(result.outcome, 'skipped');
    const [tick] = await triggers.ticks({ experiment: 'checkout' });
    assert.equal(tick?.outcome, 'skipped');
    assert.match(tick?.reason ?? '', /halt-all is active/);
    assert.equal(tick?.runId, null);
  });

  it('refresh() follows the stored specs: tasks for scheduled experiments, with their next tick', async () => {
    const s = schedulerFor(store, triggers, new RecordingStarter(store), clock, { refreshMs: 3_600_000 });
    await s.refresh();
    try {
      const described = s.describe();
      assert.deepEqual(described.map((d) => d.experiment), ['checkout', 'long-fault', 'tokyo']);
      for (const d of described) assert.ok(d.next && Date.parse(d.next) > Date.now(), JSON.stringify(d));
      await addExperiment(store, 'added-later', { schedule: '{ cron: "15 * * * *" }' });
      await s.refresh();
      assert.ok(s.describe().some((d) => d.experiment === 'added-later'));
      await store.experiments.delete('added-later', 'test');
      await s.refresh();
      assert.ok(!s.describe().some((d) => d.experiment === 'added-later'));
    } finally {
      await s.stop();
    }
  });
});

describe('node-cron wiring (real time, a few seconds)', () => {
  let sql: Sql;
  let store: Store;
  let triggers: TriggerRepository;

  before(async () => {
    sql = await createPgliteSql({});
    store = await createStore(sql);
    triggers = createTriggerRepository(sql);
    // Every second, any time: only possible by editing the parsed spec (specs need 5-field crons).
    await addExperiment(store, 'every-second', { schedule: '{ cron: "* * * * *" }' }, (spec) => {
      (spec.spec.schedule as ScheduleSpec).cron = '* * * * * *';
      (spec.spec.schedule as ScheduleSpec).allowedHours = '00:00-24:00';
      (spec.spec.schedule as ScheduleSpec).allowedDays = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
    });
  });
  after(async () => store?.close());

  it('fires on its slots and, after a stalled event loop, runs at most one tick instead of replaying the missed ones', async () => {
    const handled: { slot: number; at: number }[] = [];
    const starter = new RecordingStarter(store, { finish: true });
    const scheduler = new Scheduler({ experiments: store.experiments, runs: store.runs, starter, triggers, logger, refreshMs: 3_600_000 });
    const tick = scheduler.tick.bind(scheduler);
    scheduler.tick = (name, slot) => {
      handled.push({ slot: slot.getTime(), at: Date.now() });
      return tick(name, slot);
    };
    await scheduler.start();
    try {
      await waitFor(() => handled.length >= 2, 5_000);
      const stallStart = Date.now();
      // Block the event loop for 3.5 s, as a long GC pause or a starved container would.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3_500);
      const stallEnd = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 1_600));
      // The stall spans at least three slots; replaying them would handle all of them after it.
      const stalledSlots = handled.filter((h) => h.slot >= stallStart && h.slot < stallEnd);
      assert.ok(stallEnd - stallStart >= 3_400);
      assert.ok(stalledSlots.length <= 1, `missed slots were replayed: ${JSON.stringify(stalledSlots)}`);
      assert.ok(stalledSlots.every((h) => h.at >= stallEnd), 'nothing ran during the stall');
      assert.ok(handled.some((h) => h.at > stallEnd), 'ticks resume after the stall');
      // Every handled slot was decided exactly once.
      const slots = new Set(handled.map((h) => h.slot));
      assert.equal(slots.size, handled.length);
    } finally {
      await scheduler.stop();
    }
  });
});

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
