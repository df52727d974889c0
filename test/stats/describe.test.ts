import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarize } from '../../src/stats/describe.ts';

void describe('summarize', () => {
  void it('gives n, median and mean of the values', () => {
    assert.deepEqual(summarize([3, 1, 2]), { n: 3, median: 2, mean: 2 });
    assert.deepEqual(summarize([4, 1, 3, 2]), { n: 4, median: 2.5, mean: 2.5 });
  });

  void it('ignores NaN and ±Infinity instead of letting them through', () => {
    assert.deepEqual(summarize([NaN, 10, Infinity, 20, -Infinity, 30]), { n: 3, median: 20, mean: 20 });
  });

  void it('answers null, not NaN, when there is no finite value', () => {
    assert.deepEqual(summarize([]), { n: 0, median: null, mean: null });
    assert.deepEqual(summarize([NaN, Infinity]), { n: 0, median: null, mean: null });
  });

  void it('keeps the mean finite where a plain sum would overflow', () => {
    const s = summarize([1.5e308, 1.5e308, 1.5e308]);
    assert.equal(s.mean, 1.5e308);
    assert.equal(s.median, 1.5e308);
  });

  void it('does not reorder the caller’s array', () => {
    const xs = [3, 1, 2];
    summarize(xs);
    assert.deepEqual(xs, [3, 1, 2]);
  });
});
