import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { executeRun } from '../../src/engine/run-engine.ts';
import { AbortedError } from '../../src/lib/errors.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import type { Experiment } from '../../src/spec/schema.ts';
import { FakeInjector, FakeSource, type ValueFn } from '../helpers/fakes.ts';

const logger = pino({ level: 'silent' });

function experiment(overrides: { guardrails?: unknown[]; onNoData?: 'halt' | 'ignore'; duration?: string } = {}): Experiment {
  const r = validateExperiment({
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: 'engine-test' },
    spec: {
      source: { kind: 'prometheus', url: 'http://127.0.0.1:1', step: '100ms' },
      steadyState: [
        { name: 'sps', query: 'sps{group="$group"}', direction: 'decrease', tolerance: '5%' },
      ],
      fault: { injector: 'http-proxy', params: { admin: 'http://127.0.0.1:1', latencyMs: 100 }, duration: overrides.duration ?? '2s' },
      guardrails: overrides.guardrails ?? [{ name: 'errors', query: 'errors{group="$group"}', max: 0.05 }],
      onNoData: overrides.onNoData ?? 'halt',
      analysis: { interval: '1s', minSamples: 10, settle: '0s' },
    },
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.experiment;
}

/** Steady noise around 100 for sps in both groups, optionally shifted for the experiment group. */
function world(opts: { expShift?: number; errors?: (t: number) => number | undefined | 'error' } = {}): ValueFn {
  return (query, t) => {
    if (query.startsWith('errors')) return opts.errors ? opts.errors(t) : 0;
    const noise = Math.sin(t / 37) * 2 + Math.cos(t / 11);
    return query.includes('"experiment"') ? 100 + noise + (opts.expShift ?? 0) : 100 + noise;
  };
}

test('no fault effect → passed, window opened once and closed once by its deadline', async () => {
  const injector = new FakeInjector();
  const run = await executeRun(experiment(), { source: new FakeSource(world()), injector, logger });
  assert.equal(run.state, 'passed', run.reason);
  assert.equal(run.verdict, 'pass');
  assert.equal(injector.opened.length, 1);
  assert.equal(injector.closeCalls, 1);
  assert.equal(run.window?.closedBy, 'deadline');
  assert.ok(run.metrics[0] && run.metrics[0].control.n >= 10);
  const types = run.events.map((e) => e.type);
  assert.ok(types.indexOf('window.opening') < types.indexOf('window.opened'));
  assert.ok(types.indexOf('window.opened') < types.indexOf('window.closed'));
});

test('a 20% drop in the experiment group → failed on that metric', async () => {
  const injector = new FakeInjector();
  const run = await executeRun(experiment(), { source: new FakeSource(world({ expShift: -20 })), injector, logger });
  assert.equal(run.state, 'failed', run.reason);
  assert.equal(run.metrics[0]?.verdict, 'fail');
  assert.ok((run.metrics[0]?.effect ?? 0) < -15);
  assert.equal(injector.closeCalls, 1);
});

test('a guardrail breach closes the window at once and ends the run halted', async () => {
  const injector = new FakeInjector();
  let openedAt = 0;
  injector.onOpen = () => (openedAt = Date.now());
  const errors = (t: number): number => (openedAt > 0 && t > openedAt + 300 ? 0.3 : 0);
  const started = Date.now();
  const run = await executeRun(experiment({ duration: '30s' }), { source: new FakeSource(world({ errors })), injector, logger });
  assert.equal(run.state, 'halted', run.reason);
  assert.equal(run.verdict, 'fail');
  assert.equal(run.halt?.guardrail, 'errors');
  assert.equal(run.halt?.value, 0.3);
  assert.deepEqual(run.halt?.threshold, { max: 0.05 });
  assert.equal(injector.closeCalls, 1);
  assert.equal(run.window?.closedBy, 'halt');
  // Halted within two evaluation intervals of the breach, far before the 30 s deadline.
  assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
});

test('missing guardrail data halts after the grace when onNoData is halt, and is tolerated when ignore', async () => {
  let opened = false;
  const errors = (): number | undefined => (opened ? undefined : 0);
  const injector = new FakeInjector();
  injector.onOpen = () => (opened = true);
  const run = await executeRun(experiment({ duration: '20s' }), { source: new FakeSource(world({ errors })), injector, logger });
  assert.equal(run.state, 'halted', run.reason);
  assert.match(run.halt?.reason ?? '', /no data for 2 consecutive evaluations/);
  assert.equal(injector.closeCalls, 1);

  opened = false;
  const injector2 = new FakeInjector();
  injector2.onOpen = () => (opened = true);
  const run2 = await executeRun(experiment({ onNoData: 'ignore' }), { source: new FakeSource(world({ errors })), injector: injector2, logger });
  assert.equal(run2.state, 'passed', run2.reason);
});

test('a source error during the window counts as no data (fail safe), not as a pass', async () => {
  let opened = false;
  const injector = new FakeInjector();
  injector.onOpen = () => (opened = true);
  const run = await executeRun(experiment({ duration: '20s' }), {
    source: new FakeSource(world({ errors: () => (opened ? 'error' : 0) })),
    injector,
    logger,
  });
  assert.equal(run.state, 'halted');
  assert.match(run.halt?.reason ?? '', /source failed/);
  assert.equal(injector.closeCalls, 1);
});

test('preflight: a guardrail already breached → aborted, no fault opened', async () => {
  const injector = new FakeInjector();
  const run = await executeRun(experiment(), { source: new FakeSource(world({ errors: () => 0.5 })), injector, logger });
  assert.equal(run.state, 'aborted');
  assert.match(run.reason, /already breached/);
  assert.equal(injector.opened.length, 0);
});

test('preflight: a steady-state metric without data → aborted, no fault opened', async () => {
  const injector = new FakeInjector();
  const source = new FakeSource((q, t) => (q.includes('"control"') ? undefined : world()(q, t)));
  const run = await executeRun(experiment(), { source, injector, logger });
  assert.equal(run.state, 'aborted');
  assert.match(run.reason, /no data for group control/);
  assert.equal(injector.opened.length, 0);
});

test('abort mid-window (Ctrl-C) closes the window and ends aborted', async () => {
  const injector = new FakeInjector();
  const controller = new AbortController();
  injector.onOpen = () => setTimeout(() => controller.abort(new AbortedError('aborted by SIGINT')), 300);
  const run = await executeRun(experiment({ duration: '30s' }), { source: new FakeSource(world()), injector, logger }, { signal: controller.signal });
  assert.equal(run.state, 'aborted');
  assert.match(run.reason, /SIGINT/);
  assert.equal(injector.closeCalls, 1);
  assert.equal(run.window?.closedBy, 'abort');
});

test('an error in analysis still closes the window and ends errored', async () => {
  const injector = new FakeInjector();
  let closed = false;
  const source = new FakeSource((q, t) => (closed && q.startsWith('sps') ? 'error' : world()(q, t)));
  const originalClose = injector.close.bind(injector);
  injector.close = async (h) => {
    await originalClose(h);
    closed = true;
  };
  const run = await executeRun(experiment(), { source, injector, logger });
  assert.equal(run.state, 'errored');
  assert.equal(injector.closeCalls, 1);
});

test('a close that fails three times then succeeds is retried; one that always fails ends halt_failed with a critical event', async () => {
  const flaky = new FakeInjector();
  flaky.closeFailures = 3;
  const run = await executeRun(experiment(), { source: new FakeSource(world()), injector: flaky, logger });
  assert.equal(run.state, 'passed', run.reason);
  assert.equal(flaky.closeCalls, 4);
  assert.equal(run.events.filter((e) => e.type === 'window.close_retry').length, 3);

  const dead = new FakeInjector();
  dead.closeFailures = Infinity;
  const run2 = await executeRun(experiment(), { source: new FakeSource(world()), injector: dead, logger });
  assert.equal(run2.state, 'halt_failed');
  assert.equal(run2.verdict, null, 'never passed');
  assert.match(run2.reason, /CRITICAL: the fault window could not be closed/);
  assert.ok(run2.events.some((e) => e.type === 'window.close_failed' && e.data?.critical === true));
});

test('an open that fails ends errored and never reports passed', async () => {
  const injector = new FakeInjector();
  injector.openError = new Error('backend said no');
  const run = await executeRun(experiment(), { source: new FakeSource(world()), injector, logger });
  assert.equal(run.state, 'errored');
  assert.match(run.reason, /backend said no/);
  assert.equal(run.verdict, null);
});

test('samples reach the observer during the window, not only at the end; the judged series is kept', async () => {
  const injector = new FakeInjector();
  const chunks: { metric: string; group: string; n: number; at: number }[] = [];
  let closedAt = 0;
  const originalClose = injector.close.bind(injector);
  injector.close = async (h) => {
    closedAt = Date.now();
    await originalClose(h);
  };
  const run = await executeRun(experiment({ duration: '7s' }), {
    source: new FakeSource(world()),
    injector,
    logger,
    onSamples: (chunk) => {
      chunks.push({ metric: chunk.metric, group: chunk.group, n: chunk.samples.length, at: Date.now() });
    },
  });
  assert.equal(run.state, 'passed', run.reason);
  const during = chunks.filter((c) => c.at < closedAt);
  // No guardrail reads the metric, so it is collected every LIVE_COLLECT_MS (5 s), not at each of the 1 s looks:
  // at the first look with data and about 5 s later (after the close on a loaded machine), a chunk per group each.
  assert.ok(during.length >= 2, `chunks during the window: ${during.length}`);
  assert.ok(during.length <= 6, `chunks during the window: ${during.length} (collected at every look?)`);
  // Chunks never overlap: the persisted samples add up to at most the final series.
  for (const group of ['control', 'experiment']) {
    const persisted = chunks.filter((c) => c.group === group).reduce((a, c) => a + c.n, 0);
    const final = run.series.find((s) => s.group === group)?.samples.length ?? 0;
    assert.ok(persisted <= final + 1 && persisted >= final - 1, `${group}: persisted ${persisted}, final ${final}`);
  }
});

test('an observer that fails after the window opened ends the run errored, and the window is still closed', async () => {
  const injector = new FakeInjector();
  const run = await executeRun(experiment(), {
    source: new FakeSource(world()),
    injector,
    logger,
    onEvent: (event) => {
      if (event.type === 'window.opened') throw new Error('store is down');
    },
  });
  assert.equal(run.state, 'errored');
  assert.match(run.reason, /store is down/);
  assert.equal(injector.closeCalls, 1);
});
