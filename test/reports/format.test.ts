/**
 * Formatting for the HTML pages: durations. Units, values, effects and axis
 * ticks have their own tests in test/lib/ (units, format-units, axis-ticks).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { durationText } from '../../src/reports/html/format.ts';

describe('report formatting', () => {
  it('says durations the way people do', () => {
    assert.equal(durationText(250), '250 ms');
    assert.equal(durationText(4_200), '4.2 s');
    assert.equal(durationText(46_000), '46 s');
    assert.equal(durationText(120_000), '2 min');
    assert.equal(durationText(125_000), '2 min 5 s');
    assert.equal(durationText(3 * 3_600_000 + 5 * 60_000), '3 h 5 min');
    assert.equal(durationText(NaN), '—');
  });
});
