/** The dose–response reading of a ladder: highest level tolerated (unbroken passes from the first step) and first harmed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeDoseResponse, stepVerdict, summarizeDoseResponse, type StepMetric, type StepReading } from '../../src/stats/dose-response.ts';
import type { Verdict } from '../../src/stats/verdict.ts';

function metric(name: string, verdict: Verdict): StepMetric {
  return {
    name,
    verdict,
    reason: '',
    effect: 0,
    relativeEffect: 0,
    ci: [0, 0],
    relativeCi: null,
    pValue: 0.5,
    allowed: 1,
    toleranceKind: 'relative',
    tolerance: 0.05,
    direction: 'decrease',
    n: { control: 20, experiment: 20 },
  };
}

const step = (index: number, verdicts: Record<string, Verdict> | null): StepReading => ({
  index,
  label: `latencyMs=${[200, 500, 1000, 2000][index]}`,
  metrics: verdicts ? Object.entries(verdicts).map(([n, v]) => metric(n, v)) : null,
});

test('tolerates the levels before the first harm; names the metric that harmed', () => {
  const d = summarizeDoseResponse([step(0, { sps: 'pass', p95: 'pass' }), step(1, { sps: 'fail', p95: 'pass' }), step(2, null)]);
  assert.deepEqual(d.highestTolerated, { index: 0, label: 'latencyMs=200' });
  assert.deepEqual(d.firstHarmed, { index: 1, label: 'latencyMs=500', metrics: ['sps'] });
  assert.deepEqual(d.perMetric, [
    { name: 'sps', highestTolerated: { index: 0, label: 'latencyMs=200' }, firstHarmed: { index: 1, label: 'latencyMs=500' } },
    { name: 'p95', highestTolerated: { index: 1, label: 'latencyMs=500' }, firstHarmed: null },
  ]);
  assert.equal(describeDoseResponse(d, 2, 3), 'highest level tolerated: latencyMs=200; first harmed at latencyMs=500 (sps); stopped after step 2 of 3');
});

test('an inconclusive step breaks the run of tolerated levels: a later pass is not claimed', () => {
  const d = summarizeDoseResponse([step(0, { sps: 'pass' }), step(1, { sps: 'inconclusive' }), step(2, { sps: 'pass' }), step(3, { sps: 'fail' })]);
  assert.deepEqual(d.highestTolerated, { index: 0, label: 'latencyMs=200' });
  assert.equal(d.firstHarmed?.index, 3);
});

test('nothing tolerated when the first step is not a pass; nothing harmed when no step failed', () => {
  const d = summarizeDoseResponse([step(1, { sps: 'inconclusive' }), step(0, { sps: 'fail' })]);
  assert.equal(d.highestTolerated, null);
  assert.equal(d.firstHarmed?.index, 0);
  const all = summarizeDoseResponse([step(0, { sps: 'pass' }), step(1, { sps: 'pass' })]);
  assert.equal(all.highestTolerated?.index, 1);
  assert.equal(all.firstHarmed, null);
  assert.equal(describeDoseResponse(all, 2, 2), 'highest level tolerated: latencyMs=500; no level harmed');
});

test('a step verdict: any fail fails it, all pass passes it, not judged is null', () => {
  assert.equal(stepVerdict([metric('a', 'pass'), metric('b', 'fail')]), 'fail');
  assert.equal(stepVerdict([metric('a', 'pass'), metric('b', 'inconclusive')]), 'inconclusive');
  assert.equal(stepVerdict([metric('a', 'pass')]), 'pass');
  assert.equal(stepVerdict(null), null);
  assert.equal(stepVerdict([]), 'inconclusive');
});
