/**
 * The bench's peeking Kayenta baseline (bench/stats/online-mann-whitney.ts)
 * must be the same test as src/stats/mann-whitney.ts (R's wilcox.test), only
 * updated one look at a time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OnlineMannWhitney } from '../../bench/stats/online-mann-whitney.ts';
import { Rng } from '../../bench/stats/prng.ts';
import { mannWhitney } from '../../src/stats/mann-whitney.ts';

void describe('OnlineMannWhitney', () => {
  for (const [label, draw] of [
    ['continuous', (r: Rng) => r.normal()],
    ['ties (counts)', (r: Rng) => r.poisson(3)],
    ['mostly zeros', (r: Rng) => (r.uniform() < 0.8 ? 0 : r.poisson(2))],
  ] as const) {
    void it(`matches mannWhitney's p-value at every look: ${label}`, () => {
      const rng = new Rng(label.length);
      const online = new OnlineMannWhitney(200);
      const xs: number[] = [];
      const ys: number[] = [];
      for (let t = 0; t < 200; t++) {
        const x = draw(rng) + 0.3;
        const y = draw(rng);
        online.addX(x);
        online.addY(y);
        xs.push(x);
        ys.push(y);
        const ours = online.test();
        const ref = mannWhitney(xs, ys);
        assert.ok(Math.abs(ours.pValue - ref.pValue) <= 1e-12 * Math.max(ref.pValue, 1e-300) || Math.abs(ours.pValue - ref.pValue) < 1e-15, `look ${t}: ${ours.pValue} vs ${ref.pValue}`);
        assert.equal(ours.side, Math.sign(ref.statistic - (xs.length * ys.length) / 2));
      }
    });
  }
});
