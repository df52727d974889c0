/**
 * Axis ticks: round steps (1, 2, 2.5, 5 × 10^k) over many ranges, one prefix
 * per axis, labels with the decimals the step needs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { axisTicks, axisTitle, decimalsOf, niceStep, niceTicks } from '../../src/lib/axis-ticks.ts';
import type { Unit } from '../../src/lib/units.ts';

const S: Unit = { kind: 'time', scale: 1 };
const RATIO: Unit = { kind: 'ratio', scale: 1 };
const PER_S: Unit = { kind: 'rate' };
const NONE: Unit = { kind: 'none' };

/** Is `step` 1, 2, 2.5 or 5 × 10^k (up to float noise)? */
function isRound(step: number): boolean {
  const power = 10 ** Math.floor(Math.log10(step));
  const f = step / power;
  return [1, 2, 2.5, 5, 10].some((n) => Math.abs(f - n) < 1e-9);
}

describe('niceTicks', () => {
  it('picks round ticks that stay inside the range', () => {
    assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(niceTicks(0.16, 0.22, 5), [0.16, 0.18, 0.2, 0.22]);
    assert.deepEqual(niceTicks(0.16, 0.22, 8), [0.16, 0.17, 0.18, 0.19, 0.2, 0.21, 0.22]);
    assert.deepEqual(niceTicks(-30, 90, 5), [-25, 0, 25, 50, 75]);
    assert.deepEqual(niceTicks(5, 5), [5]);
    assert.deepEqual(niceTicks(NaN, 1), []);
    assert.deepEqual(niceTicks(0, 12, 5), [0, 2.5, 5, 7.5, 10]);
  });

  it('over many ranges: round steps, inside the range, 2 to 12 ticks, no float noise', () => {
    let checked = 0;
    for (let e = -9; e <= 9; e++) {
      for (const lo of [0, 0.13, 1, 2.7, -4.2]) {
        for (const span of [1, 1.7, 2.2, 3.3, 4.9, 7.5, 9.99]) {
          const a = lo * 10 ** e;
          const b = a + span * 10 ** e;
          const ticks = niceTicks(a, b, 5);
          assert.ok(ticks.length >= 2 && ticks.length <= 12, `${a}..${b}: ${ticks.length} ticks`);
          const step = (ticks[1] as number) - (ticks[0] as number);
          assert.ok(isRound(Number(step.toPrecision(10))), `${a}..${b}: step ${step}`);
          for (const t of ticks) {
            assert.ok(t >= a - Math.abs(step) * 1e-6 && t <= b + Math.abs(step) * 1e-6, `${a}..${b}: tick ${t} outside`);
            assert.ok(String(t).replace(/^-/, '').replace(/e.*$/, '').length <= 16, `tick ${t} is float noise`);
          }
          checked++;
        }
      }
    }
    assert.ok(checked > 500);
  });

  it('niceStep and decimalsOf', () => {
    assert.equal(niceStep(2.4), 2.5);
    assert.equal(niceStep(0.003), 0.005);
    assert.equal(niceStep(7), 10);
    assert.equal(decimalsOf(2.5), 1);
    assert.equal(decimalsOf(0.25), 2);
    assert.equal(decimalsOf(5), 0);
    assert.equal(decimalsOf(1e-4), 4);
    assert.equal(decimalsOf(250), 0);
  });
});

describe('axisTicks: one prefix per axis, labels alike', () => {
  it('a step of 2.5 labels every tick with one decimal: never "25, 28, 30, 33"', () => {
    const axis = axisTicks(25_000, 35_000, NONE, 4);
    assert.deepEqual(axis.labels, ['25.0', '27.5', '30.0', '32.5', '35.0']);
    assert.equal(axis.symbol, 'k');
    assert.deepEqual(axis.ticks, [25_000, 27_500, 30_000, 32_500, 35_000]);
    assert.deepEqual(axisTicks(0, 12, NONE, 5).labels, ['0.0', '2.5', '5.0', '7.5', '10.0']);
  });

  it('latencies in seconds get ms or µs ticks at round values', () => {
    const ms = axisTicks(0, 0.5, S);
    assert.equal(ms.symbol, 'ms');
    assert.deepEqual(ms.labels, ['0', '100', '200', '300', '400', '500']);
    assert.deepEqual(ms.ticks, [0, 0.1, 0.2, 0.3, 0.4, 0.5]);
    const us = axisTicks(0, 1.2e-4, S);
    assert.equal(us.symbol, 'µs');
    assert.deepEqual(us.labels, ['0', '25', '50', '75', '100']);
    const s = axisTicks(0, 2, S);
    assert.equal(s.symbol, 's');
    assert.deepEqual(s.labels, ['0.0', '0.5', '1.0', '1.5', '2.0']);
  });

  it('ratios are percentages, rates carry /s, negative labels use the minus sign', () => {
    const pct = axisTicks(0, 0.025, RATIO);
    assert.equal(pct.symbol, '%');
    assert.deepEqual(pct.labels, ['0.0', '0.5', '1.0', '1.5', '2.0', '2.5']);
    assert.equal(axisTicks(24, 33, PER_S).symbol, '/s');
    assert.equal(axisTicks(12_000, 30_000, PER_S).symbol, 'k/s');
    assert.deepEqual(axisTicks(-1, 1, NONE, 4).labels, ['−1.0', '−0.5', '0.0', '0.5', '1.0']);
  });

  it('over many ranges and units: every label distinct, all with the same decimals, ticks round in the shown scale', () => {
    for (const unit of [S, RATIO, PER_S, NONE]) {
      for (let e = -7; e <= 7; e++) {
        for (const [lo, hi] of [[0, 1], [0.16, 0.22], [2.5, 3.3], [25, 33], [0, 12], [-3, 4]] as const) {
          // A ratio is a fraction: past 1 (100%) only by a little.
          if (unit === RATIO && hi * 10 ** e > 10) continue;
          const axis = axisTicks(lo * 10 ** e, hi * 10 ** e, unit);
          const where: string = `${JSON.stringify(unit)} ${lo}e${e}..${hi}e${e}: ${axis.labels.join(', ')} ${axis.symbol}`;
          assert.equal(new Set(axis.labels).size, axis.labels.length, `distinct labels: ${where}`);
          const decimals = new Set(axis.labels.map((l) => (l.split('.')[1] ?? '').length));
          assert.equal(decimals.size, 1, `same decimals: ${where}`);
          const shown = axis.labels.map((l) => Number(l.replace('−', '-')));
          const step = (shown[1] as number) - (shown[0] as number);
          assert.ok(isRound(Number(step.toPrecision(10))), `round step ${step}: ${where}`);
          assert.ok(axis.labels.every((l) => l.replace(/^−/, '').split('.')[0]!.length <= 4 || unit === NONE), `no long labels: ${where}`);
        }
      }
    }
  });

  it('axis titles carry the unit', () => {
    assert.equal(axisTitle('p95-latency', 'ms'), 'p95-latency (ms)');
    assert.equal(axisTitle('orders', 'k'), 'orders (thousands)');
    assert.equal(axisTitle('score', ''), 'score');
  });
});
