import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WindowMirror } from '../../src/proxy/window-mirror.ts';

const T0 = Date.parse('2026-03-02T10:00:00Z');
const wire = (deadlineMs: number) => ({ id: 'w', deadlineMs, fault: { errorRate: 1, errorStatus: 503, paths: ['/a*'] } });

void describe('WindowMirror (a worker’s copy of the window)', () => {
  void test('applies the primary’s window, with its path globs', () => {
    const clock = { now: T0 };
    const mirror = new WindowMirror(() => clock.now);
    assert.equal(mirror.active(), undefined);
    mirror.set(wire(T0 + 60_000), 5_000);
    assert.equal(mirror.active()?.id, 'w');
    assert.equal(mirror.active()?.matches('GET', '/abc'), true);
    assert.equal(mirror.active()?.matches('GET', '/b'), false);
    mirror.set(null, 5_000);
    assert.equal(mirror.active(), undefined);
  });

  void test('drops the window at its deadline by itself', () => {
    const clock = { now: T0 };
    const mirror = new WindowMirror(() => clock.now);
    mirror.set(wire(T0 + 1_000), 60_000);
    clock.now = T0 + 999;
    assert.equal(mirror.activeId(), 'w');
    clock.now = T0 + 1_000;
    assert.equal(mirror.active(), undefined);
  });

  void test('drops the window when the lease lapses, and a late renewal does not bring it back', () => {
    const clock = { now: T0 };
    const mirror = new WindowMirror(() => clock.now);
    mirror.set(wire(T0 + 60_000), 5_000);
    clock.now = T0 + 4_000;
    mirror.renew(5_000);
    clock.now = T0 + 8_999;
    assert.equal(mirror.activeId(), 'w');
    clock.now = T0 + 9_000;
    assert.equal(mirror.active(), undefined);
    mirror.renew(5_000);
    assert.equal(mirror.active(), undefined);
  });

  void test('drop() (primary gone) ends the window at once', () => {
    const mirror = new WindowMirror();
    mirror.set(wire(Date.now() + 60_000), 5_000);
    mirror.drop();
    assert.equal(mirror.active(), undefined);
  });
});
