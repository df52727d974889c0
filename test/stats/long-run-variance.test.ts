/**
 * The online dyadic batch means against the same estimates computed directly
 * from the stored series, and the behaviour that makes them "honest under
 * autocorrelation".
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { addPair, combinedSum, initBatchMeans, longRunVariance, scaleCovariances } from '../../src/stats/long-run-variance.ts';
import { Rng } from '../../bench/stats/prng.ts';

/** b · sample variance of the means of the complete batches of size b of wa·a + wb·b. */
function direct(a: number[], b: number[], size: number, wa: number, wb: number): number {
  const k = Math.floor(a.length / size);
  const means: number[] = [];
  for (let i = 0; i < k; i++) {
    let s = 0;
    for (let j = i * size; j < (i + 1) * size; j++) s += wa * a[j]! + wb * b[j]!;
    means.push(s / size);
  }
  const m = means.reduce((x, y) => x + y, 0) / k;
  return (size * means.reduce((x, y) => x + (y - m) ** 2, 0)) / (k - 1);
}

void describe('dyadic batch means', () => {
  void it('equal the direct computation at every scale and for any combination', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.double({ min: -1e3, max: 1e3, noNaN: true })), { minLength: 2, maxLength: 200 }),
        fc.double({ min: -3, max: 3, noNaN: true }),
        (pairs, wb) => {
          let s = initBatchMeans();
          for (const [a, b] of pairs) s = addPair(s, a, b);
          const a = pairs.map((p) => p[0]);
          const b = pairs.map((p) => p[1]);
          assert.ok(Math.abs(combinedSum(s, 1, wb) - a.reduce((x, y, i) => x + y + wb * b[i]!, 0)) <= 1e-9 * (1 + pairs.length * 4e3));
          for (const c of scaleCovariances(s, 2).filter((x) => !x.lugsail)) {
            const ours = c.vaa + 2 * wb * c.vab + wb * wb * c.vbb;
            const want = direct(a, b, c.batchSize, 1, wb);
            assert.ok(Math.abs(ours - want) <= 1e-7 * (1 + Math.abs(want)), `size ${c.batchSize}: ${ours} vs ${want}`);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  void it('keep O(log n) numbers: 100 000 pairs need 17 scales', () => {
    let s = initBatchMeans();
    for (let i = 0; i < 100_000; i++) s = addPair(s, i % 7, i % 3);
    assert.equal(s.scales.length, 17);
    assert.ok(JSON.stringify(s).length < 5_000);
  });

  void it('lose no digits on a large offset', () => {
    const rng = new Rng(1);
    let s = initBatchMeans();
    for (let i = 0; i < 4096; i++) s = addPair(s, 1e9 + rng.normal(), 1e9);
    const v = longRunVariance(s, 1, -1, 10)!;
    assert.ok(v.variance > 0.8 && v.variance < 1.6, `variance ${v.variance}`);
  });

  void it('approach the long-run variance of an AR(1), where the plain variance is 9× too small', () => {
    const rng = new Rng(2);
    let s = initBatchMeans();
    let x = 0;
    for (let i = 0; i < 20_000; i++) {
      x = 0.8 * x + 0.6 * rng.normal(); // stationary variance 1, long-run variance (1 + 0.8)/(1 − 0.8) = 9
      s = addPair(s, x, 0);
    }
    const plain = scaleCovariances(s, 10).find((c) => c.batchSize === 1)!.vaa;
    assert.ok(Math.abs(plain - 1) < 0.1, `γ(0) ${plain}`);
    const lrv = longRunVariance(s, 1, 0, 10)!;
    assert.ok(lrv.variance > 7 && lrv.variance < 13, `long-run ${lrv.variance}`);
    assert.ok(lrv.batchSize >= 16);
  });

  void it('are null until a batch size has enough batches', () => {
    let s = initBatchMeans();
    for (let i = 0; i < 9; i++) s = addPair(s, i, 0);
    assert.equal(longRunVariance(s, 1, 0, 10), null);
    s = addPair(s, 9, 0);
    assert.notEqual(longRunVariance(s, 1, 0, 10), null);
  });
});
