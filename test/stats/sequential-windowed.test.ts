/**
 * The KPI guardrail's test (ADR 013) on dependent series: 15 s rates at a
 * 1 s step (and 1 m at 15 s) of clustered counts under a shared AR(1) load,
 * noise learned from the history before the window, a look every step.
 * Claims: A/A false halts ≤ alpha (+3 Monte-Carlo SE) under continuous
 * monitoring; a halved rate halts within a few looks of the drop reaching the
 * metric; no history → no halt before the minimum windows of a phase.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  initWindowedSequential,
  noiseFromHistory,
  resultWindowedSequential,
  updateWindowedSequential,
  windowedSequential,
} from '../../src/stats/sequential-windowed.ts';
import { clusteredRateSeries } from '../helpers/dependent-series.ts';

function run(seed: number, effect: number, o: { k: number; step: number; history: number; window: number; withHistory?: boolean }) {
  const s = clusteredRateSeries({ seed, historySteps: o.history, windowSteps: o.window, rangeSeconds: o.k * o.step, stepSeconds: o.step, effect });
  const noise = o.withHistory === false ? null : noiseFromHistory(s.control.slice(0, o.history), s.experiment.slice(0, o.history), 'counts');
  const looks = s.control.slice(o.history).map((c, i) => ({ control: c, experiment: s.experiment[o.history + i]! }));
  return windowedSequential(looks, {
    alpha: 0.05,
    direction: 'decrease',
    tolerance: { kind: 'relative', value: 0.1 },
    windowSteps: o.k,
    model: 'counts',
    noise,
  });
}

const oneSecond = { k: 15, step: 1, history: 300, window: 120 };
const fifteenSeconds = { k: 4, step: 15, history: 40, window: 40 };

void describe('windowed sequential test (compare: guardrails)', () => {
  void it('A/A at a 1 s step with 15 s windows: false halts ≤ alpha under a look every step', () => {
    const reps = 200;
    let halts = 0;
    for (let seed = 1; seed <= reps; seed++) if (run(seed, 0, oneSecond).stoppedAt !== null) halts++;
    assert.ok(halts / reps <= 0.05 + 3 * Math.sqrt((0.05 * 0.95) / reps), `false halts ${halts}/${reps}`);
  });

  void it('A/A at a 15 s step with 1 m windows: false halts ≤ alpha', () => {
    const reps = 200;
    let halts = 0;
    for (let seed = 500; seed < 500 + reps; seed++) if (run(seed, 0, fifteenSeconds).stoppedAt !== null) halts++;
    assert.ok(halts / reps <= 0.05 + 3 * Math.sqrt((0.05 * 0.95) / reps), `false halts ${halts}/${reps}`);
  });

  void it('a halved rate halts within 5 looks of the drop filling the window, at 1 s and at 15 s steps', () => {
    for (const o of [oneSecond, fifteenSeconds]) {
      const looks: number[] = [];
      for (let seed = 1; seed <= 30; seed++) {
        const r = run(seed, -0.5, o);
        assert.notEqual(r.stoppedAt, null, `seed ${seed} did not halt`);
        looks.push(r.stoppedAt! + 1);
      }
      looks.sort((a, b) => a - b);
      const median = looks[looks.length >> 1]!;
      // The window fills k looks after the drop starts (the first look already holds one step of it).
      assert.ok(median <= o.k - 1 + 5, `median ${median} looks at k=${o.k}`);
    }
  });

  void it('without history it learns in the window and cannot halt before 4 windows of a phase', () => {
    const r = run(1, -0.5, { ...oneSecond, withHistory: false });
    assert.equal(r.noise, 'window');
    assert.notEqual(r.stoppedAt, null);
    assert.ok(r.stoppedAt! + 1 > 4 * 15, `halted at look ${r.stoppedAt! + 1}`);
  });

  void it('the state is plain JSON: a persisted and restored state gives the same result', () => {
    const s = clusteredRateSeries({ seed: 9, historySteps: 300, windowSteps: 60, rangeSeconds: 15, stepSeconds: 1, effect: -0.2 });
    const params = {
      alpha: 0.05,
      direction: 'either' as const,
      tolerance: { kind: 'relative' as const, value: 0.1 },
      windowSteps: 15,
      model: 'counts' as const,
      noise: noiseFromHistory(s.control.slice(0, 300), s.experiment.slice(0, 300), 'counts'),
    };
    let a = initWindowedSequential(params);
    let b = initWindowedSequential(params);
    for (let i = 300; i < 360; i++) {
      a = updateWindowedSequential(a, { control: s.control[i]!, experiment: s.experiment[i]! });
      b = JSON.parse(JSON.stringify(updateWindowedSequential(b, { control: s.control[i]!, experiment: s.experiment[i]! })));
    }
    assert.deepEqual(resultWindowedSequential(b), resultWindowedSequential(a));
  });
});
