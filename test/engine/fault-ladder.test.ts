/**
 * The engine climbing a fault ladder (ADR 022), on fakes of the ports: the
 * effect in the experiment group follows the level the injector holds, so
 * each step's verdict is the engine's own reading of its own samples.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { executeRun } from '../../src/engine/run-engine.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import type { Experiment } from '../../src/spec/schema.ts';
import { FakeInjector, FakeSource, type ValueFn } from '../helpers/fakes.ts';

const logger = pino({ level: 'silent' });

function ladder(opts: { stopAt?: string; guardrailMax?: number } = {}): Experiment {
  const r = validateExperiment({
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: 'ladder-test' },
    spec: {
      source: { kind: 'prometheus', url: 'http://127.0.0.1:1', step: '100ms' },
      steadyState: [{ name: 'sps', query: 'sps{group="$group"}', direction: 'decrease', tolerance: '5%' }],
      fault: {
        injector: 'http-proxy',
        params: { admin: 'http://127.0.0.1:1' },
        stepDuration: '1500ms',
        ...(opts.stopAt ? { stopAt: opts.stopAt } : {}),
        steps: [{ latencyMs: 100 }, { latencyMs: 200 }, { latencyMs: 300 }],
      },
      guardrails: [{ name: 'errors', query: 'errors{group="$group"}', max: opts.guardrailMax ?? 0.05 }],
      analysis: { interval: '1s', minSamples: 8, settle: '0s' },
    },
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.experiment;
}

/** sps ≈ 100 in both groups; from level 200 ms on, the experiment group loses `drop` of it. Errors follow the level too. */
function world(injector: FakeInjector, drop = 30, errorsFrom = 300): ValueFn {
  const level = (): number => ((injector.updates.at(-1) as { latencyMs?: number } | undefined)?.latencyMs ?? 100);
  return (query, t) => {
    if (query.startsWith('errors')) return level() >= errorsFrom ? 0.5 : 0;
    const noise = Math.sin(t / 37) * 0.5 + Math.cos(t / 11) * 0.5;
    return query.includes('"experiment"') ? 100 + noise - (level() >= 200 ? drop : 0) : 100 + noise;
  };
}

test('stopAt fail: the ladder stops at the first failing step, closes the window there, and names the highest level tolerated', async () => {
  const injector = new FakeInjector();
  const run = await executeRun(ladder(), { source: new FakeSource(world(injector)), injector, logger });
  assert.equal(run.state, 'failed', run.reason);
  assert.deepEqual(injector.updates.map((u) => (u as { latencyMs: number }).latencyMs), [200], 'climbed to step 2 only');
  assert.equal(injector.closeCalls, 1);
  assert.equal(run.window?.closedBy, 'ladder');
  const steps = run.ladder?.steps ?? [];
  assert.deepEqual(steps.map((s) => [s.verdict, s.startedAt !== null]), [['pass', true], ['fail', true], [null, false]]);
  assert.equal(steps[0]?.endedAt, steps[1]?.startedAt);
  assert.equal(steps[1]?.endedAt, run.window?.closedAt);
  assert.deepEqual(run.ladder?.doseResponse?.highestTolerated, { index: 0, label: 'latencyMs=100' });
  assert.equal(run.ladder?.doseResponse?.firstHarmed?.label, 'latencyMs=200');
  assert.match(run.reason, /highest level tolerated: latencyMs=100; first harmed at latencyMs=200/);
  // The run's metrics are the deciding step's, judged at alpha / 3.
  assert.equal(run.metrics[0]?.verdict, 'fail');
  assert.ok(Math.abs((run.metrics[0]?.alpha ?? 0) - 0.05 / 3) < 1e-12);
  // Step 1's judged samples start one range window after it began, and none of step 2's are in it.
  const judged = steps[0]?.judged;
  assert.ok(judged && Date.parse(judged.to) <= Date.parse(steps[0]?.endedAt ?? ''), JSON.stringify(judged));
});

test('stopAt halt: climbs past a failing step; a guardrail breach on step 3 halts and closes', async () => {
  const injector = new FakeInjector();
  const run = await executeRun(ladder({ stopAt: 'halt' }), { source: new FakeSource(world(injector)), injector, logger });
  assert.equal(run.state, 'halted', run.reason);
  assert.deepEqual(injector.updates.map((u) => (u as { latencyMs: number }).latencyMs), [200, 300]);
  assert.equal(injector.closeCalls, 1);
  assert.equal(run.window?.closedBy, 'halt');
  assert.deepEqual(run.ladder?.stopped && [run.ladder.stopped.index, run.ladder.stopped.by], [2, 'halt']);
  assert.equal(run.ladder?.steps[1]?.verdict, 'fail');
  assert.equal(run.ladder?.doseResponse?.firstHarmed?.index, 1);
});

test('a step the injector refuses ends the run errored, and the window is still closed', async () => {
  const injector = new FakeInjector();
  injector.updateErrorAt = 0;
  const run = await executeRun(ladder({ stopAt: 'never' }), { source: new FakeSource(world(injector)), injector, logger });
  assert.equal(run.state, 'errored', run.reason);
  assert.match(run.reason, /update refused/);
  assert.equal(injector.closeCalls, 1);
  assert.equal(run.window?.closedBy, 'error');
});

test('the window opens at the first step with the deadline of the whole ladder', async () => {
  const injector = new FakeInjector();
  const run = await executeRun(ladder(), { source: new FakeSource(world(injector, 0, Infinity)), injector, logger });
  assert.equal(run.state, 'passed', run.reason);
  const opened = injector.opened[0];
  assert.ok(opened && run.window);
  assert.equal(opened.deadline.getTime() - Date.parse(run.window.openedAt) <= 4_500, true);
  assert.ok(opened.deadline.getTime() - Date.parse(run.window.openedAt) > 4_400);
  assert.equal(injector.updates.length, 2);
  assert.equal(run.ladder?.doseResponse?.highestTolerated?.label, 'latencyMs=300');
});
