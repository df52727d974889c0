/**
 * StartSlots: a burst of start requests is answered before its runs begin
 * their start-up. The burst reaches the server in waves, so a run waits for
 * the answers in flight *and* for a quiet moment after them; never longer
 * than `yieldMs`. Timings are generous lower bounds, so a loaded machine
 * makes them pass later, not fail.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { StartSlots } from '../../src/service/start-slots.ts';

const QUIET = 150;

/** Resolves with the ms from now to the slot, and the slot's release. */
async function timedAcquire(slots: StartSlots, signal?: AbortSignal): Promise<{ ms: number; release: () => void }> {
  const at = performance.now();
  const release = await slots.acquire(signal);
  return { ms: performance.now() - at, release };
}

test('no start request anywhere: a run gets its slot at once', async () => {
  const slots = new StartSlots(2, 5_000, QUIET);
  const { ms } = await timedAcquire(slots);
  assert.ok(ms < QUIET, `took ${ms.toFixed(0)} ms`);
});

test('a run waits for the answers in flight and then for the quiet, through a gap between two waves', async () => {
  const slots = new StartSlots(2, 5_000, QUIET);
  const first = slots.hold();
  const pending = timedAcquire(slots);
  let got = false;
  void pending.then(() => (got = true));
  await delay(50);
  first(); // the first wave is answered…
  await delay(QUIET / 3);
  assert.equal(got, false, 'a gap shorter than the quiet is not the burst’s end');
  const second = slots.hold(); // …and the second arrives
  await delay(QUIET * 1.5);
  assert.equal(got, false, 'held while an answer is in flight');
  const releasedAt = performance.now();
  second();
  await pending;
  assert.ok(performance.now() - releasedAt >= QUIET - 5, 'the run waited for the quiet after the last answer');
});

test('a release is idempotent: a request counted twice does not end another one’s hold', async () => {
  const slots = new StartSlots(2, 5_000, 10);
  const a = slots.hold();
  const b = slots.hold();
  a();
  a();
  let got = false;
  const pending = slots.acquire().then(() => (got = true));
  await delay(100);
  assert.equal(got, false, 'b still holds');
  b();
  await pending;
});

test('a stream of start requests holds a run back for at most yieldMs', async () => {
  const slots = new StartSlots(2, 400, QUIET);
  const release = slots.hold(); // never released within the test's wait
  const { ms } = await timedAcquire(slots);
  release();
  assert.ok(ms >= 390, `released after ${ms.toFixed(0)} ms, before yieldMs`);
  assert.ok(ms < 5_000, `took ${ms.toFixed(0)} ms`);
});

test('an aborted wait resolves without a slot; the slots are untouched', async () => {
  const slots = new StartSlots(1, 5_000, QUIET);
  const hold = slots.hold();
  const controller = new AbortController();
  const pending = slots.acquire(controller.signal);
  controller.abort();
  hold();
  const noop = await pending;
  noop();
  const { release } = await timedAcquire(slots);
  // The one slot is taken: a second run queues until it is released.
  let second = false;
  const next = slots.acquire().then((r) => {
    second = true;
    return r;
  });
  await delay(QUIET * 2);
  assert.equal(second, false, 'one slot only');
  release();
  (await next)();
});
