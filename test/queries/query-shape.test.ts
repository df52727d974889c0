import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeShape, queryShape, shapeWarnings } from '../../src/queries/query-shape.ts';

void describe('query shape: what a per-step value is made of', () => {
  void it('reads the kind and the longest range window', () => {
    assert.deepEqual(queryShape('sum(rate(shop_checkouts_total{group="$group"}[15s]))', 1000), { kind: 'counter-rate', windowMs: 15_000, windowSteps: 15 });
    assert.deepEqual(queryShape('histogram_quantile(0.95, sum by (le) (rate(h_bucket{group="$group"}[1m])))', 15_000), { kind: 'quantile', windowMs: 60_000, windowSteps: 4 });
    assert.deepEqual(queryShape('sum(rate(e[30s])) / sum(rate(r[1m]))', 1000), { kind: 'ratio', windowMs: 60_000, windowSteps: 60 });
    assert.deepEqual(queryShape('avg_over_time(q[10s])', 1000), { kind: 'windowed', windowMs: 10_000, windowSteps: 10 });
    assert.deepEqual(queryShape('avg(queue_depth{group="$group"})', 1000), { kind: 'gauge', windowMs: null, windowSteps: 1 });
    // A subquery's resolution is not a window; its range is.
    assert.deepEqual(queryShape('max_over_time(rate(x[5s])[2m:15s])', 1000), { kind: 'counter-rate', windowMs: 120_000, windowSteps: 120 });
    assert.equal(queryShape('sum(rate(x[7s]))', 2000).windowSteps, 4, 'rounded up');
  });

  void it('Datadog: a rollup names the window', () => {
    assert.deepEqual(queryShape('sum:checkouts{group:$group}.as_count().rollup(sum, 15)', 1000, 'datadog'), { kind: 'counter-rate', windowMs: 15_000, windowSteps: 15 });
    assert.equal(queryShape('avg:cpu{group:$group}', 1000, 'datadog').kind, 'gauge');
  });

  void it('says how it will be judged, and warns when it cannot be judged soundly', () => {
    const shape = queryShape('sum(rate(x[15s]))', 1000);
    assert.equal(describeShape(shape, 1000, 120_000), 'counter rate, 15s window at 1s step: 8 independent windows in the fault (4 per minute)');
    assert.deepEqual(shapeWarnings(shape, 1000, 120_000), []);
    assert.match(shapeWarnings(queryShape('sum(rate(x[1m]))', 1000), 1000, 120_000)[0]!, /only 2 independent windows/);
    assert.match(shapeWarnings(queryShape('avg(g)', 60_000), 60_000, 600_000)[0]!, /gives 10 samples per group: too few to judge/);
  });
});
