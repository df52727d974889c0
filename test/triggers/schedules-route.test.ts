/**
 * GET /api/v1/schedules: where a skipped tick's reason can be read.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addExperiment, startHookHarness, type HookHarness } from './helpers.ts';

describe('GET /api/v1/schedules', () => {
  let h: HookHarness;
  let viewer: string;

  before(async () => {
    h = await startHookHarness();
    viewer = (await h.store.tokens.create({ name: 'v', role: 'viewer' })).token;
    await addExperiment(h.store, 'checkout', { schedule: '{ cron: "*/30 * * * *", timezone: Europe/Berlin }' });
    await addExperiment(h.store, 'unscheduled');
    await h.triggers.claimTick({
      experiment: 'checkout',
      slot: new Date('2026-03-03T06:30:00Z'),
      replica: 'r1',
      outcome: 'skipped',
      reason: '07:30 on 2026-03-03 is outside the allowed hours 09:00-17:00 (Europe/Berlin)',
    });
  });
  after(async () => h?.close());

  it('lists scheduled experiments with their schedule, and the recorded tick decisions', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/v1/schedules', headers: { authorization: `Bearer ${viewer}` } });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.deepEqual(body.schedules.map((s: { experiment: string }) => s.experiment), ['checkout']);
    assert.equal(body.schedules[0].schedule.allowedHours, '09:00-17:00');
    assert.equal(body.ticks.length, 1);
    assert.equal(body.ticks[0].outcome, 'skipped');
    assert.match(body.ticks[0].reason, /outside the allowed hours/);
    const filtered = await h.app.inject({ method: 'GET', url: '/api/v1/schedules?experiment=unscheduled', headers: { authorization: `Bearer ${viewer}` } });
    assert.deepEqual(filtered.json().ticks, []);
    assert.deepEqual(filtered.json().schedules, []);
  });

  it('needs a token', async () => {
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/schedules' })).statusCode, 401);
  });
});
