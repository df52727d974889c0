/**
 * Values, changes and tolerances in the metric's unit, and the rule that
 * drops a percentage when the base is near zero.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDelta, formatEffect, formatInterval, formatPercentChange, formatTolerance, formatValue, isNearZeroBase, NEAR_ZERO_FACTOR } from '../../src/lib/format-units.ts';
import type { Unit } from '../../src/lib/units.ts';

const S: Unit = { kind: 'time', scale: 1 };
const MS: Unit = { kind: 'time', scale: 1e-3 };
const B: Unit = { kind: 'bytes', scale: 1 };
const RATIO: Unit = { kind: 'ratio', scale: 1 };
const PER_S: Unit = { kind: 'rate' };
const ORDERS: Unit = { kind: 'rate', per: 'orders' };
const X: Unit = { kind: 'multiple' };
const NONE: Unit = { kind: 'none' };

describe('formatValue: the prefix that keeps 1–3 digits before the point', () => {
  const cases: [number, Unit, string][] = [
    [1.221e-4, S, '122 µs'],
    [0.0056, S, '5.6 ms'],
    [0.46, S, '460 ms'],
    [0.18, S, '180 ms'],
    [1.234, S, '1.23 s'],
    [42, S, '42 s'],
    [900, S, '15 min'],
    [3e-9, S, '3 ns'],
    [0, S, '0 s'],
    [250, MS, '250 ms'],
    [1500, MS, '1.5 s'],
    [512, B, '512 B'],
    [2_500, B, '2.5 kB'],
    [3.2e9, B, '3.2 GB'],
    [0.0234, RATIO, '2.34%'],
    [0.9995, RATIO, '99.95%'],
    [0, RATIO, '0%'],
    [42.2, PER_S, '42.2/s'],
    [12_500, PER_S, '12.5k/s'],
    [3, ORDERS, '3 orders/s'],
    [14.4, X, '14.4×'],
    [0.25, NONE, '0.25'],
    [25_000, NONE, '25k'],
    [-0.05, S, '−50 ms'],
  ];
  for (const [v, unit, text] of cases) it(`${v} ${JSON.stringify(unit)} → ${text}`, () => assert.equal(formatValue(v, unit), text));

  it('an em dash for missing or non-finite values, never NaN', () => {
    for (const v of [null, undefined, NaN, Infinity]) assert.equal(formatValue(v, S), '—');
  });
});

describe('formatDelta', () => {
  it('signs the change and keeps the unit; ratios change in percentage points', () => {
    assert.equal(formatDelta(0.4544, S), '+454 ms');
    assert.equal(formatDelta(-7.2, PER_S), '−7.2/s');
    assert.equal(formatDelta(0, S), '0 s');
    assert.equal(formatDelta(0.021, RATIO), '+2.1 pp');
    assert.equal(formatDelta(null, S), '—');
  });

  it('an interval in one prefix, the larger end\'s', () => {
    assert.equal(formatInterval(0.000248, 0.0093, S), '[+0.248 ms, +9.3 ms]');
    assert.equal(formatInterval(-11, -7.75, PER_S), '[−11/s, −7.75/s]');
    assert.equal(formatInterval(null, 1, S), '—');
  });

  it('percent changes', () => {
    assert.equal(formatPercentChange(0.174), '+17.4%');
    assert.equal(formatPercentChange(-0.05), '−5%');
    assert.equal(formatPercentChange(null), '—');
  });
});

describe('the near-zero base rule', () => {
  it('a zero, missing or tiny base (change > 10× the base) is near zero; a ratio always', () => {
    assert.equal(NEAR_ZERO_FACTOR, 10);
    assert.equal(isNearZeroBase(0, 1), true);
    assert.equal(isNearZeroBase(null, 1), true);
    assert.equal(isNearZeroBase(0.0056, 0.4544), true, '+8100%');
    assert.equal(isNearZeroBase(1, 10.01), true);
    assert.equal(isNearZeroBase(1, 10), false, 'exactly 10× the base still reads as +1000%');
    assert.equal(isNearZeroBase(0.18, 0.3), false);
    assert.equal(isNearZeroBase(42, -7), false);
    assert.equal(isNearZeroBase(0.01, 0.02, { unit: RATIO }), true);
  });

  it('a base below an absolute tolerance is zero within the noise its author allowed', () => {
    assert.equal(isNearZeroBase(0.02, 0.01, { absoluteTolerance: 0.05 }), true);
    assert.equal(isNearZeroBase(0.2, 0.01, { absoluteTolerance: 0.05 }), false);
  });

  it('formatEffect shows the values near a zero base, a percentage otherwise', () => {
    assert.equal(formatEffect({ base: 0.0056, effect: 0.4544, relative: 81.1, unit: S }), '5.6 ms → 460 ms (+454 ms)');
    assert.equal(formatEffect({ base: 42, effect: -7.2, relative: -0.1714, unit: PER_S }), '−7.2/s (−17.1%)');
    assert.equal(formatEffect({ base: 0.18, effect: 0.3, relative: null, unit: S }), '+300 ms (+167%)');
    assert.equal(formatEffect({ base: 0.002, effect: 0.021, unit: RATIO }), '0.2% → 2.3% (+2.1 pp)');
    assert.equal(formatEffect({ base: 0, effect: 3, unit: PER_S }), '0/s → 3/s (+3/s)');
    assert.equal(formatEffect({ base: null, effect: 3, unit: PER_S }), '+3/s');
    assert.equal(formatEffect({ base: 1, effect: null, unit: PER_S }), '—');
  });
});

describe('formatTolerance', () => {
  it('relative tolerances as ±%, with the band they gave in the unit', () => {
    assert.equal(formatTolerance({ kind: 'relative', value: 0.1 }, S), '±10%');
    assert.equal(formatTolerance({ kind: 'relative', value: 0.2 }, S, 0.036), '±20% of control = ±36 ms');
    assert.equal(formatTolerance({ kind: 'relative', value: 0.05 }, PER_S, 2.1), '±5% of control = ±2.1/s');
  });

  it('absolute tolerances as written and in a readable prefix', () => {
    assert.equal(formatTolerance({ kind: 'absolute', value: 0.05 }, S), '±0.05 s = ±50 ms');
    assert.equal(formatTolerance({ kind: 'absolute', value: 2 }, S), '±2 s');
    assert.equal(formatTolerance({ kind: 'absolute', value: 5 }, PER_S), '±5/s');
    assert.equal(formatTolerance({ kind: 'absolute', value: 0.01 }, RATIO), '±1 pp');
    assert.equal(formatTolerance({ kind: 'absolute', value: 0.05 }, NONE), '±0.05');
  });
});
