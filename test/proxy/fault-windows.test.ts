import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { ValidationError } from '../../src/lib/errors.ts';
import { FaultWindows, pickFault, WindowConflictError } from '../../src/proxy/fault-windows.ts';
import { openWindowRequestSchema } from '../../src/proxy/window-schema.ts';

const T0 = Date.parse('2026-03-02T10:00:00Z');

/** A store on a hand-moved clock: the deadline is checked against it, not against the timer. */
function fakeClockWindows(history?: number): { windows: FaultWindows; clock: { now: number } } {
  const clock = { now: T0 };
  return { windows: new FaultWindows({ now: () => clock.now, ...(history ? { history } : {}) }), clock };
}

function req(id: string, deadlineMs: number, extra: Record<string, unknown> = {}) {
  return openWindowRequestSchema.parse({ id, deadline: new Date(deadlineMs).toISOString(), ...extra });
}

void describe('FaultWindows', () => {
  void test('opens one window at a time; a second open and a reused id are conflicts', () => {
    const { windows } = fakeClockWindows();
    const view = windows.open(req('w1', T0 + 60_000, { latencyMs: 100 }));
    assert.equal(view.state, 'open');
    assert.equal(view.openedAt, new Date(T0).toISOString());
    assert.equal(view.errorStatus, 503);
    assert.throws(() => windows.open(req('w2', T0 + 60_000)), WindowConflictError);
    windows.close('w1');
    assert.throws(() => windows.open(req('w1', T0 + 60_000)), WindowConflictError);
    windows.open(req('w2', T0 + 60_000));
    windows.closeAll();
  });

  void test('refuses a deadline in the past or more than 24h away', () => {
    const { windows } = fakeClockWindows();
    assert.throws(() => windows.open(req('w', T0 - 1)), (err: unknown) => err instanceof ValidationError && err.issues[0]?.path === 'deadline');
    assert.throws(() => windows.open(req('w', T0)), ValidationError);
    assert.throws(() => windows.open(req('w', T0 + 24 * 3_600_000 + 1)), /24h/);
    windows.open(req('w', T0 + 24 * 3_600_000));
    windows.closeAll();
  });

  void test('a request after the deadline finds no window even if the timer has not fired', () => {
    const { windows, clock } = fakeClockWindows();
    const closed: string[] = [];
    windows.events.on('closed', (w) => closed.push(`${w.id}:${w.closedReason}`));
    windows.open(req('w1', T0 + 60_000, { errorRate: 1 }));
    clock.now = T0 + 59_999;
    assert.equal(windows.active()?.id, 'w1');
    clock.now = T0 + 60_000; // the real timer is an hour of real time away
    assert.equal(windows.active(), undefined);
    assert.deepEqual(closed, ['w1:deadline']);
    const view = windows.get('w1');
    assert.equal(view?.state, 'closed');
    assert.equal(view?.closedReason, 'deadline');
    assert.equal(view?.closedAt, new Date(T0 + 60_000).toISOString());
  });

  void test('close is idempotent and keeps the first reason; unknown ids are undefined', () => {
    const { windows, clock } = fakeClockWindows();
    windows.open(req('w1', T0 + 60_000));
    clock.now += 1000;
    assert.equal(windows.close('w1')?.closedReason, 'closed');
    clock.now += 1000;
    const again = windows.close('w1');
    assert.equal(again?.closedReason, 'closed');
    assert.equal(again?.closedAt, new Date(T0 + 1000).toISOString());
    assert.equal(windows.close('nope'), undefined);
    assert.equal(windows.get('nope'), undefined);
  });

  void test('the timer closes the window at its deadline by itself', async () => {
    const windows = new FaultWindows();
    const started = Date.now();
    windows.open(req('w1', started + 150));
    // The store's timer is unref'd (in the proxy, the servers keep the process alive); this stands in for them.
    const keepAlive = setTimeout(() => undefined, 5_000);
    const [view] = await once(windows.events, 'closed', { signal: AbortSignal.timeout(5_000) });
    clearTimeout(keepAlive);
    assert.equal(view.closedReason, 'deadline');
    assert.ok(Date.now() - started >= 140, 'not before the deadline');
    assert.equal(windows.active(), undefined);
  });

  void test('matches methods and path globs, ignoring nothing else', () => {
    const { windows } = fakeClockWindows();
    windows.open(req('w1', T0 + 60_000, { latencyMs: 1, paths: ['/checkout*', '/api/*/cart'], methods: ['post', 'GET'] }));
    const w = windows.active();
    assert.ok(w);
    assert.equal(w.matches('POST', '/checkout'), true);
    assert.equal(w.matches('GET', '/checkout/confirm'), true);
    assert.equal(w.matches('GET', '/api/v1/cart'), true);
    assert.equal(w.matches('GET', '/api/v1/cart/x'), false);
    assert.equal(w.matches('DELETE', '/checkout'), false);
    assert.equal(w.matches('GET', '/browse'), false);
    // Regex metacharacters in a glob are literal.
    windows.closeAll();
    windows.open(req('w2', T0 + 60_000, { paths: ['/a.b'] }));
    assert.equal(windows.active()?.matches('GET', '/a.b'), true);
    assert.equal(windows.active()?.matches('GET', '/axb'), false);
    windows.closeAll();
  });

  void test('remembers a bounded number of closed windows', () => {
    const { windows } = fakeClockWindows(2);
    for (const id of ['a', 'b', 'c']) {
      windows.open(req(id, T0 + 60_000));
      windows.close(id);
    }
    assert.equal(windows.get('a'), undefined);
    assert.equal(windows.get('b')?.state, 'closed');
    assert.equal(windows.get('c')?.state, 'closed');
  });
});

void describe('pickFault', () => {
  void test('resolves 0.1 %: the draw is a float, not a whole percent', () => {
    assert.equal(pickFault(0.000_999, { errorRate: 0.001 }), 'error');
    assert.equal(pickFault(0.001, { errorRate: 0.001 }), undefined);
    assert.equal(pickFault(0.5, { errorRate: 0.001 }), undefined);
  });

  void test('aborts and errors take adjacent slices of one draw, so both rates are exact', () => {
    const f = { abortRate: 0.2, errorRate: 0.3 };
    assert.equal(pickFault(0, f), 'abort');
    assert.equal(pickFault(0.199, f), 'abort');
    assert.equal(pickFault(0.2, f), 'error');
    assert.equal(pickFault(0.499, f), 'error');
    assert.equal(pickFault(0.5, f), undefined);
    assert.equal(pickFault(0.999, {}), undefined);
    assert.equal(pickFault(0.999_999, { errorRate: 1 }), 'error');
  });
});

void describe('window request schema', () => {
  void test('rates accept "0.1%" and fractions; errors name the field', () => {
    const ok = openWindowRequestSchema.parse({ id: 'w', deadline: '2026-03-02T10:00:00+09:00', errorRate: '0.1%', abortRate: 0.001 });
    assert.equal(ok.errorRate, 0.001);
    assert.equal(ok.abortRate, 0.001);
    const bad = openWindowRequestSchema.safeParse({ id: 'w', deadline: 'soon', errorRate: 0.7, abortRate: 0.5, jitterMs: 5, bogus: 1 });
    assert.equal(bad.success, false);
    const paths = bad.error?.issues.map((i) => i.path.join('.')) ?? [];
    assert.ok(paths.includes('deadline'), paths.join());
  });

  void test('cross-field rules', () => {
    const base = { id: 'w', deadline: '2026-03-02T10:00:00Z' };
    const r = openWindowRequestSchema.safeParse({ ...base, errorRate: 0.7, abortRate: 0.5 });
    assert.equal(r.error?.issues[0]?.path.join('.'), 'abortRate');
    const j = openWindowRequestSchema.safeParse({ ...base, jitterMs: 5 });
    assert.equal(j.error?.issues[0]?.path.join('.'), 'jitterMs');
    // An empty window is allowed here (an A/A run); the injector is the one that insists on a fault.
    assert.equal(openWindowRequestSchema.safeParse(base).success, true);
  });
});
