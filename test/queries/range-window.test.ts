/**
 * withRangeWindow: a counter rate's range windows set shorter (ADR 026), only where the window is the
 * span of events counted, with template variables left as they were.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withRangeWindow } from '../../src/queries/range-window.ts';

test('every rate()/increase() window is set, template variables and the rest kept as written', () => {
  assert.deepEqual(withRangeWindow('sum(rate(shop_checkouts_total{group="$group"}[15s]))', 2_000), {
    ok: true,
    query: 'sum(rate(shop_checkouts_total{group="$group"}[2s]))',
  });
  assert.deepEqual(withRangeWindow('sum(increase(a{g="${group}",svc="$service"}[1m] offset 30s)) + sum(rate(b{g="${group}"}[2m]))', 30_000), {
    ok: true,
    query: 'sum(increase(a{g="${group}",svc="$service"}[30s] offset 30s)) + sum(rate(b{g="${group}"}[30s]))',
  });
  assert.deepEqual(withRangeWindow('sum by (route) (rate(x[15s] @ 1700000000))', 4_000), { ok: true, query: 'sum by (route) (rate(x[4s] @ 1700000000))' });
});

test('no rewrite where the window is not the span of events counted, or is already short', () => {
  const reason = (q: string, ms = 2_000): string => {
    const r = withRangeWindow(q, ms);
    assert.equal(r.ok, false, q);
    return r.ok ? '' : r.reason;
  };
  assert.match(reason('sum(irate(x[15s]))'), /read by irate\(\), not rate\(\) or increase\(\)/);
  assert.match(reason('avg_over_time(x[15s])'), /avg_over_time\(\)/);
  assert.match(reason('sum(rate(x[15s])) + max_over_time(y[1m])'), /max_over_time\(\)/);
  assert.match(reason('max_over_time(rate(x[15s])[1m:5s])'), /subquery/);
  assert.match(reason('sum(rate(x[$window]))'), /not a plain duration/);
  assert.match(reason('sum(rate(x[2s]))'), /2s window is not longer than 2s/);
  assert.match(reason('sum(x{group="$group"})'), /no range window/);
  assert.match(reason('sum(rate(x[15s]'), /does not parse/);
});
