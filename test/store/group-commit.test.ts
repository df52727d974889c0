/**
 * Group commit (src/store/group-commit.ts): a burst shares one batch, each
 * input settles with its own result, and a batch that throws fails only its
 * own inputs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupCommit, type Settled } from '../../src/store/group-commit.ts';

describe('group commit', () => {
  it('a lone submission runs at once; a burst behind it shares the next batch', async () => {
    const batches: number[][] = [];
    const gc = new GroupCommit<number, number>(async (inputs) => {
      batches.push(inputs);
      await new Promise((r) => setTimeout(r, 10));
      return inputs.map((n): Settled<number> => (n % 7 === 3 ? { ok: false, error: new Error(`no ${n}`) } : { ok: true, value: n * 2 }));
    });
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => gc.submit(i)));
    assert.deepEqual(batches.map((b) => b.length), [1, 49]);
    results.forEach((r, i) => {
      if (i % 7 === 3) assert.equal(r.status === 'rejected' && (r.reason as Error).message, `no ${i}`);
      else assert.deepEqual(r, { status: 'fulfilled', value: i * 2 });
    });
  });

  it('batches are bounded, and a batch that throws fails its own inputs only', async () => {
    const sizes: number[] = [];
    const gc = new GroupCommit<number, number>(async (inputs) => {
      sizes.push(inputs.length);
      await new Promise((r) => setTimeout(r, 5));
      if (inputs.includes(0)) throw new Error('the whole batch failed');
      return inputs.map((n) => ({ ok: true, value: n }));
    }, 10);
    const results = await Promise.allSettled(Array.from({ length: 31 }, (_, i) => gc.submit(i)));
    assert.deepEqual(sizes, [1, 10, 10, 10]);
    assert.equal(results[0]!.status, 'rejected');
    assert.ok(results.slice(1).every((r) => r.status === 'fulfilled'));
  });
});
