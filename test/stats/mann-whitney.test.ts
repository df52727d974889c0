/**
 * mannWhitney beyond the golden cases: the degenerate inputs R errors on, the
 * inputs we refuse, and properties that must hold for any data (checked
 * against brute force over the materialised pairwise differences).
 * R values quoted here come from R 4.2.2, wilcox.test(..., exact = FALSE).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mannWhitney } from '../../src/stats/mann-whitney.ts';
import { StatsInputError } from '../../src/stats/errors.ts';

/** Deterministic uniform(0, 1) generator (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sample(seed: number, n: number, f: (u: number) => number): number[] {
  const u = rng(seed);
  return Array.from({ length: n }, () => f(u()));
}

function sortedDiffs(x: readonly number[], y: readonly number[]): number[] {
  const d: number[] = [];
  for (const a of x) for (const b of y) d.push(a - b);
  return d.sort((p, q) => p - q);
}

function median(sorted: readonly number[]): number {
  const k = sorted.length;
  return k % 2 === 1 ? sorted[(k - 1) / 2]! : (sorted[k / 2 - 1]! + sorted[k / 2]!) / 2;
}

void describe('mannWhitney degenerate cases (R gives NaN or stops)', () => {
  void it('all values tied in both groups: p = 1, estimate 0, interval [0, 0]', () => {
    // R: p-value NaN (0/0), conf.int fails "missing value where TRUE/FALSE needed".
    const r = mannWhitney([2, 2, 2, 2, 2], [2, 2, 2, 2, 2, 2, 2]);
    assert.equal(r.degenerate, 'all-tied');
    assert.equal(r.statistic, 17.5); // R's W
    assert.equal(r.pValue, 1);
    assert.equal(r.estimate, 0);
    assert.deepEqual(r.confInt, [0, 0]);
    assert.deepEqual(mannWhitney([2, 2], [2, 2, 2], { alternative: 'greater' }).confInt, [0, Infinity]);
    assert.deepEqual(mannWhitney([2, 2], [2, 2, 2], { alternative: 'less' }).confInt, [-Infinity, 0]);
    assert.equal(mannWhitney([2, 2], [2, 2, 2], { alternative: 'less' }).pValue, 1); // R: 1 as well
  });

  void it('two different constants: R’s p-value, estimate and interval at the difference', () => {
    const r = mannWhitney(Array(10).fill(3), Array(10).fill(1));
    assert.equal(r.degenerate, 'constant-shift');
    assert.equal(r.statistic, 100);
    // R: wilcox.test(rep(3,10), rep(1,10), exact=FALSE)$p.value
    assert.ok(Math.abs(r.pValue / 1.5937911688066268e-5 - 1) < 1e-6, `p ${r.pValue}`);
    assert.equal(r.estimate, 2);
    assert.deepEqual(r.confInt, [2, 2]);
    const less = mannWhitney(Array(10).fill(3), Array(10).fill(1), { alternative: 'less' });
    assert.ok(Math.abs(less.pValue / 0.99999464917280545 - 1) < 1e-6);
    assert.deepEqual(less.confInt, [-Infinity, 2]);
  });

  void it('one observation each is a constant shift, not an error', () => {
    const r = mannWhitney([5], [3]);
    assert.equal(r.degenerate, 'constant-shift');
    assert.equal(r.pValue, 1);
    assert.equal(r.estimate, 2);
    assert.deepEqual(r.confInt, [2, 2]);
  });

  void it('never returns NaN on tied or tiny input', () => {
    const inputs: [number[], number[]][] = [
      [[1], [1]],
      [[0, 0, 0], [0]],
      [[1, 1, 2], [1, 1]],
      [[1, 2], [1, 2]],
      [[-0, 0], [0, -0]],
    ];
    for (const [x, y] of inputs) {
      for (const alternative of ['two.sided', 'less', 'greater'] as const) {
        const r = mannWhitney(x, y, { alternative });
        for (const v of [r.statistic, r.pValue, r.estimate, ...r.confInt]) {
          assert.ok(!Number.isNaN(v), `NaN for ${JSON.stringify([x, y, alternative])}`);
        }
        assert.ok(r.pValue >= 0 && r.pValue <= 1);
      }
    }
  });
});

void describe('mannWhitney refuses what it cannot rank', () => {
  for (const [label, x, y] of [
    ['an empty x', [], [1, 2]],
    ['an empty y', [1, 2], []],
    ['a NaN', [1, NaN], [1, 2]],
    ['an Infinity', [1, 2], [Infinity, 2]],
  ] as const) {
    void it(`throws StatsInputError on ${label}`, () => {
      assert.throws(() => mannWhitney(x, y), StatsInputError);
    });
  }

  for (const confLevel of [0, 1, -0.5, 1.5, NaN]) {
    void it(`throws StatsInputError on confLevel ${confLevel}`, () => {
      assert.throws(() => mannWhitney([1, 2, 3], [4, 5, 6], { confLevel }), StatsInputError);
    });
  }

  void it('throws when pairwise differences overflow', () => {
    assert.throws(() => mannWhitney([1.5e308, 1e308], [-1.5e308, 0]), StatsInputError);
  });
});

void describe('mannWhitney properties', () => {
  const datasets: [string, number[], number[]][] = [
    ['continuous, m·n odd', sample(1, 15, (u) => u * 10), sample(2, 13, (u) => u * 10 - 1)],
    ['continuous, m·n even', sample(3, 20, (u) => Math.exp(u * 3)), sample(4, 31, (u) => Math.exp(u * 3))],
    ['integers with heavy ties', sample(5, 40, (u) => Math.floor(u * 4)), sample(6, 37, (u) => Math.floor(u * 5))],
    ['negative and mixed', sample(7, 9, (u) => -100 + u), sample(8, 11, (u) => -u * 50)],
  ];

  for (const [label, x, y] of datasets) {
    void it(`${label}: estimate is the median of pairwise differences (Hodges–Lehmann)`, () => {
      assert.equal(mannWhitney(x, y).estimate, median(sortedDiffs(x, y)));
    });

    void it(`${label}: interval bounds are pairwise differences around the estimate`, () => {
      const diffs = new Set(sortedDiffs(x, y));
      for (const confLevel of [0.8, 0.95, 0.99]) {
        const r = mannWhitney(x, y, { confLevel });
        assert.ok(diffs.has(r.confInt[0]) && diffs.has(r.confInt[1]), `bounds ${r.confInt.join(", ")}`);
        assert.ok(r.confInt[0] <= r.estimate && r.estimate <= r.confInt[1]);
      }
    });

    void it(`${label}: higher confidence gives a wider-or-equal interval`, () => {
      const narrow = mannWhitney(x, y, { confLevel: 0.8 }).confInt;
      const wide = mannWhitney(x, y, { confLevel: 0.99 }).confInt;
      assert.ok(wide[0] <= narrow[0] && wide[1] >= narrow[1]);
    });

    void it(`${label}: swapping the groups mirrors the result`, () => {
      const a = mannWhitney(x, y);
      const b = mannWhitney(y, x);
      // 0 − v rather than −v: the result never carries a −0.
      assert.equal(b.estimate, 0 - a.estimate);
      assert.deepEqual(b.confInt, [0 - a.confInt[1], 0 - a.confInt[0]]);
      assert.ok(Math.abs(a.pValue - b.pValue) <= 1e-15);
      assert.equal(a.statistic + b.statistic, x.length * y.length);
      // one-sided p-values of opposite alternatives
      const g = mannWhitney(x, y, { alternative: 'greater' });
      const l = mannWhitney(y, x, { alternative: 'less' });
      assert.ok(Math.abs(g.pValue - l.pValue) <= 1e-15);
    });

    void it(`${label}: shifting x by c shifts estimate and interval by c, p unchanged`, () => {
      const a = mannWhitney(x, y);
      const b = mannWhitney(
        x.map((v) => v + 1000),
        y,
      );
      assert.ok(Math.abs(b.estimate - a.estimate - 1000) < 1e-9);
      assert.ok(Math.abs(b.confInt[0] - a.confInt[0] - 1000) < 1e-9);
      assert.ok(Math.abs(b.confInt[1] - a.confInt[1] - 1000) < 1e-9);
    });
  }

  void it('without continuity correction the p-value is smaller (R correct = FALSE)', () => {
    const x = sample(9, 30, (u) => u + 0.2);
    const y = sample(10, 30, (u) => u);
    assert.ok(mannWhitney(x, y, { correct: false }).pValue < mannWhitney(x, y).pValue);
  });

  void it('handles 20000 × 20000 (4e8 differences, never materialised)', () => {
    const x = sample(11, 20000, (u) => Math.log(u / (1 - u)) + 0.3);
    const y = sample(12, 20000, (u) => Math.log(u / (1 - u)));
    const r = mannWhitney(x, y);
    assert.ok(Math.abs(r.estimate - 0.3) < 0.1, `estimate ${r.estimate}`);
    assert.ok(r.confInt[0] < r.estimate && r.estimate < r.confInt[1]);
    assert.ok(r.pValue < 1e-10);
  });
});
