import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assignGroup, BUCKETS, createGroupAssigner, bucketOf, type Group, groupOfBucket, splitFromPercents } from '../../src/proxy/groups.ts';

void describe('group assignment', () => {
  void test('buckets are SHA-1 based and fixed (golden values computed with Python hashlib)', () => {
    // int.from_bytes(hashlib.sha1(k.encode()).digest()[:4], 'big') % 10000
    assert.equal(bucketOf('user-1'), 9685);
    assert.equal(bucketOf('alice'), 9850);
  });

  void test('the same key always lands in the same group', () => {
    const split = splitFromPercents(5, 5);
    for (let i = 0; i < 1000; i++) {
      const key = `user-${i}`;
      const first = assignGroup(key, split);
      for (let j = 0; j < 3; j++) assert.equal(assignGroup(key, split), first);
    }
  });

  void test('bucket boundaries: [0, c) control, [c, c+e) experiment, the rest none', () => {
    const split = splitFromPercents(5, 5);
    assert.deepEqual(split, { controlBuckets: 500, experimentBuckets: 500 });
    assert.equal(groupOfBucket(0, split), 'control');
    assert.equal(groupOfBucket(499, split), 'control');
    assert.equal(groupOfBucket(500, split), 'experiment');
    assert.equal(groupOfBucket(999, split), 'experiment');
    assert.equal(groupOfBucket(1000, split), 'none');
    assert.equal(groupOfBucket(BUCKETS - 1, split), 'none');
    assert.equal(groupOfBucket(0, splitFromPercents(0, 0)), 'none');
    assert.equal(groupOfBucket(BUCKETS - 1, splitFromPercents(50, 50)), 'experiment');
    // 0.01 % resolution: one bucket.
    assert.deepEqual(splitFromPercents(0.01, 0.01), { controlBuckets: 1, experimentBuckets: 1 });
  });

  for (const [c, e] of [
    [5, 5],
    [10, 30],
  ] as const) {
    void test(`${c}% / ${e}% split holds over 100 000 sequential keys`, () => {
      const split = splitFromPercents(c, e);
      const n = 100_000;
      const counts: Record<Group, number> = { control: 0, experiment: 0, none: 0 };
      for (let i = 0; i < n; i++) counts[assignGroup(`user-${i}`, split)]++;
      // Binomial standard deviation of a share p over n keys; 5 sd either way.
      for (const [group, pct] of [
        ['control', c],
        ['experiment', e],
        ['none', 100 - c - e],
      ] as const) {
        const p = pct / 100;
        const tol = 5 * Math.sqrt((p * (1 - p)) / n);
        const share = counts[group] / n;
        assert.ok(Math.abs(share - p) <= tol, `${group}: share ${share} vs ${p} ± ${tol.toFixed(4)}`);
      }
    });
  }

  void test('the memoised assigner agrees with assignGroup, also after its memo fills and is cleared', () => {
    const split = splitFromPercents(5, 5);
    const groupOf = createGroupAssigner(split, 100);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 1000; i++) assert.equal(groupOf(`user-${i}`), assignGroup(`user-${i}`, split), `user-${i}`);
    }
  });
});
