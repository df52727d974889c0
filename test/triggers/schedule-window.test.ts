/**
 * `spec.schedule` validation and the allowed-window rules, as pure functions
 * of an instant: time zones (with a daylight-saving change), allowed hours
 * (also across midnight), allowed days, blackout dates and ranges, and runs
 * that would hold their fault past the end of the window.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseExperiment } from '../../src/spec/load.ts';
import { parseAllowedHours, parseBlackout, scheduleSchema } from '../../src/triggers/schedule-schema.ts';
import { instantVerdict, localTime, runVerdict } from '../../src/triggers/schedule-window.ts';
import { taggedSpecYaml } from './helpers.ts';

const berlin = scheduleSchema.parse({
  cron: '*/30 * * * *',
  timezone: 'Europe/Berlin',
  allowedHours: '09:00-17:00',
  allowedDays: ['mon', 'tue', 'wed', 'thu', 'fri'],
  blackout: ['2026-12-24', '2026-12-28..2026-12-31'],
});

const at = (iso: string) => Date.parse(iso);

describe('schedule schema', () => {
  it('fills safe defaults: 09:00-17:00, Monday to Friday, UTC, enabled', () => {
    assert.deepEqual(scheduleSchema.parse({ cron: '0 10 * * *' }), {
      cron: '0 10 * * *',
      timezone: 'UTC',
      allowedHours: '09:00-17:00',
      allowedDays: ['mon', 'tue', 'wed', 'thu', 'fri'],
      blackout: [],
      enabled: true,
    });
  });

  it('accepts the brief\'s example schedule', () => {
    const parsed = scheduleSchema.parse({ cron: '*/30 10-17 * * 1-5', timezone: 'Asia/Tokyo', blackout: ['2026-12-24'] });
    assert.equal(parsed.timezone, 'Asia/Tokyo');
  });

  it('refuses bad crons, zones, hours, days and dates with a message that says what is expected', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ cron: '*/30 * * *' }, /5 fields/],
      [{ cron: '* * * * * *' }, /5 fields/],
      [{ cron: '61 * * * *' }, /not a valid cron/],
      [{ cron: '0 10 * * *', timezone: 'Mars/Olympus' }, /IANA time zone/],
      [{ cron: '0 10 * * *', allowedHours: '9-17' }, /HH:MM-HH:MM/],
      [{ cron: '0 10 * * *', allowedHours: '10:00-10:00' }, /HH:MM-HH:MM/],
      [{ cron: '0 10 * * *', allowedHours: '24:00-10:00' }, /HH:MM-HH:MM/],
      [{ cron: '0 10 * * *', allowedDays: ['monday'] }, /one of sun, mon/],
      [{ cron: '0 10 * * *', allowedDays: ['mon', 'mon'] }, /repeat/],
      [{ cron: '0 10 * * *', allowedDays: [] }, /at least one day/],
      [{ cron: '0 10 * * *', blackout: ['2026-02-30'] }, /YYYY-MM-DD/],
      [{ cron: '0 10 * * *', blackout: ['2026-12-31..2026-12-01'] }, /YYYY-MM-DD/],
      [{ cron: '0 10 * * *', when: 'always' }, /Unrecognized key/i],
    ];
    for (const [input, message] of bad) {
      const result = scheduleSchema.safeParse(input);
      assert.equal(result.success, false, JSON.stringify(input));
      assert.match(result.error.issues.map((i) => i.message).join('; '), message, JSON.stringify(input));
    }
  });

  it('is what spec.schedule validates with (the error names spec.schedule.timezone)', () => {
    const text = taggedSpecYaml('sched', { schedule: '{ cron: "0 10 * * *", timezone: Nowhere/Town }' });
    const result = parseExperiment(text);
    assert.equal(result.ok, false);
    if (!result.ok) assert.ok(result.issues.some((i) => i.path === 'spec.schedule.timezone' && /IANA/.test(i.message)), JSON.stringify(result.issues));
  });

  it('parses hours and blackout entries', () => {
    assert.deepEqual(parseAllowedHours('09:00-17:30'), { from: 540, to: 1050 });
    assert.deepEqual(parseAllowedHours('22:00-02:00'), { from: 1320, to: 120 });
    assert.deepEqual(parseAllowedHours('00:00-24:00'), { from: 0, to: 1440 });
    assert.deepEqual(parseBlackout('1970-01-02'), [1, 1]);
    assert.deepEqual(parseBlackout('1970-01-02..1970-01-05'), [1, 4]);
  });
});

describe('allowed window', () => {
  it('reads local time in the schedule\'s zone, across a daylight-saving change', () => {
    // Europe/Berlin moves from +01:00 to +02:00 on 2026-03-29.
    assert.equal(localTime(at('2026-03-27T08:30:00Z'), 'Europe/Berlin').clock, '09:30');
    assert.equal(localTime(at('2026-03-30T08:30:00Z'), 'Europe/Berlin').clock, '10:30');
    assert.deepEqual(localTime(at('2026-03-03T15:00:00Z'), 'Asia/Tokyo'), { date: '2026-03-04', weekday: 'wed', minutes: 0, clock: '00:00' });
  });

  it('allows business hours on a weekday; the end of the window is exclusive', () => {
    assert.deepEqual(instantVerdict(berlin, at('2026-03-03T08:00:00Z')), { allowed: true }); // Tue 09:00
    assert.deepEqual(instantVerdict(berlin, at('2026-03-03T15:59:00Z')), { allowed: true }); // 16:59
    const five = instantVerdict(berlin, at('2026-03-03T16:00:00Z'));
    assert.equal(five.allowed, false);
    if (!five.allowed) assert.match(five.reason, /17:00 on 2026-03-03 is outside the allowed hours 09:00-17:00 \(Europe\/Berlin\)/);
  });

  it('refuses weekends and blackout days and ranges, saying which', () => {
    const saturday = instantVerdict(berlin, at('2026-03-07T10:00:00Z'));
    assert.equal(saturday.allowed, false);
    if (!saturday.allowed) assert.match(saturday.reason, /2026-03-07 is a sat, not an allowed day \(mon, tue, wed, thu, fri/);
    const christmasEve = instantVerdict(berlin, at('2026-12-24T10:00:00Z'));
    assert.equal(christmasEve.allowed, false);
    if (!christmasEve.allowed) assert.match(christmasEve.reason, /2026-12-24 is a blackout day/);
    const range = instantVerdict(berlin, at('2026-12-29T10:00:00Z'));
    assert.equal(range.allowed, false);
    if (!range.allowed) assert.match(range.reason, /blackout day \(2026-12-28\.\.2026-12-31/);
    assert.equal(instantVerdict(berlin, at('2027-01-04T10:00:00Z')).allowed, true);
  });

  it('a blackout date is a local date: 23:30 UTC on the 23rd is already the 24th in Berlin', () => {
    const v = instantVerdict({ ...berlin, allowedHours: '00:00-24:00', allowedDays: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] }, at('2026-12-23T23:30:00Z'));
    assert.equal(v.allowed, false);
  });

  it('a window across midnight', () => {
    const night = { ...berlin, allowedHours: '22:00-02:00', allowedDays: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as typeof berlin.allowedDays };
    assert.equal(instantVerdict(night, at('2026-03-03T21:30:00Z')).allowed, true); // 22:30
    assert.equal(instantVerdict(night, at('2026-03-04T00:30:00Z')).allowed, true); // 01:30
    assert.equal(instantVerdict(night, at('2026-03-04T01:00:00Z')).allowed, false); // 02:00
    assert.equal(instantVerdict(night, at('2026-03-03T12:00:00Z')).allowed, false);
  });

  it('a run must hold its fault inside the window: 16:30 + 45 min is refused, 16:30 + 20 min allowed', () => {
    assert.deepEqual(runVerdict(berlin, at('2026-03-03T15:30:00Z'), 20 * 60_000), { allowed: true });
    const late = runVerdict(berlin, at('2026-03-03T15:30:00Z'), 45 * 60_000);
    assert.equal(late.allowed, false);
    if (!late.allowed) assert.match(late.reason, /would hold its fault until 17:15 on 2026-03-03/);
    // Friday 16:50 + 5h would cross the night into Saturday: refused even though the end is "daytime".
    assert.equal(runVerdict({ ...berlin, allowedHours: '00:00-24:00' }, at('2026-03-06T15:50:00Z'), 9 * 3_600_000).allowed, false);
  });
});
