/**
 * The bench's dependent-series simulator (bench/stats/dependent-families.ts):
 * the histogram quantile is Prometheus's histogram_quantile, the 1.2× buckets
 * make a 20% rise exactly the tolerance boundary, the clustered counts have
 * the stated dispersion, and the per-step values are the windows they claim.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUCKETS_MS, DEPENDENT_FAMILIES, DISPERSION, clustered, histogramQuantile, simulateDependent } from '../../bench/stats/dependent-families.ts';
import { Rng } from '../../bench/stats/prng.ts';

const NB = BUCKETS_MS.length + 1;

void describe('bench dependent families', () => {
  void it('histogramQuantile interpolates linearly inside the bucket, from 0 in the first, and caps at the highest finite bound', () => {
    const counts = new Float64Array(NB);
    counts[0] = 10;
    assert.equal(histogramQuantile(0.5, counts), BUCKETS_MS[0]! / 2);
    counts.fill(0);
    counts[3] = 50;
    counts[4] = 50;
    // rank 95 of 100: 45 of the 50 in bucket 4, (BUCKETS_MS[3], BUCKETS_MS[4]].
    assert.ok(Math.abs(histogramQuantile(0.95, counts) - (BUCKETS_MS[3]! + ((BUCKETS_MS[4]! - BUCKETS_MS[3]!) * 45) / 50)) < 1e-9);
    counts.fill(0);
    counts[NB - 1] = 1;
    assert.equal(histogramQuantile(0.95, counts), BUCKETS_MS[NB - 2]);
    assert.ok(Number.isNaN(histogramQuantile(0.95, new Float64Array(NB))));
  });

  void it('a 1.2× rise moves every request one bucket up, so the quantile scales by exactly 1.2', () => {
    const counts = new Float64Array(NB);
    const shifted = new Float64Array(NB);
    const rng = new Rng(5);
    for (let b = 2; b < 20; b++) counts[b] = rng.poisson(30);
    for (let b = 0; b < NB - 2; b++) shifted[b + 1] = counts[b]!;
    for (const q of [0.5, 0.9, 0.95, 0.99]) assert.ok(Math.abs(histogramQuantile(q, shifted) / histogramQuantile(q, counts) - 1.2) < 1e-9);
  });

  void it('clustered counts have variance/mean ≈ 2.5', () => {
    const rng = new Rng(11);
    let s = 0;
    let ss = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const x = clustered(rng, 100);
      s += x;
      ss += x * x;
    }
    const mean = s / n;
    assert.ok(Math.abs(mean - 100) < 0.5, `mean ${mean}`);
    assert.ok(Math.abs((ss / n - mean * mean) / mean - DISPERSION) < 0.15);
  });

  void it('per-step rates are window means: the 1 m window at 15 s shares 3 of its 4 quarters with the next value', () => {
    const f = DEPENDENT_FAMILIES.find((x) => x.id === 'rate-1m-at-15s')!;
    const aa = simulateDependent(f, new Rng(3), 0);
    assert.equal(aa.control.length, f.history + f.window);
    // A drop of 100%: the experiment's rate falls linearly over the first k = 4 window steps, then stays at 0.
    const drop = simulateDependent(f, new Rng(3), 1);
    assert.ok(drop.experiment[f.history - 1]! > 0);
    for (let i = 0; i < 3; i++) assert.ok(drop.experiment[f.history + i]! > 0, `step ${i}`);
    for (let i = 3; i < f.window; i++) assert.equal(drop.experiment[f.history + i], 0);
  });
});
