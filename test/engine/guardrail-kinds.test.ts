/**
 * Each guardrail kind halting (threshold with `for`, SLO burn rate, KPI
 * comparison), the halt evidence, the configurable no-data grace, and the
 * halt path's retries — through the real engine with fakes of the two ports.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { burnRateWindows, decide, errorRatioQuery, noDataGraceLooks } from '../../src/engine/guardrails.ts';
import { executeRun } from '../../src/engine/run-engine.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import type { Experiment, SloGuardrail } from '../../src/spec/schema.ts';
import { FakeInjector, FakeSource, type ValueFn } from '../helpers/fakes.ts';

const logger = pino({ level: 'silent' });

function experiment(guardrails: unknown[], extra: { duration?: string; analysis?: object; onNoData?: 'halt' | 'ignore' } = {}): Experiment {
  const r = validateExperiment({
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: 'guardrails' },
    spec: {
      source: { kind: 'prometheus', url: 'http://127.0.0.1:1', step: '100ms' },
      steadyState: [{ name: 'sps', query: 'sps{group="$group"}', direction: 'decrease', tolerance: '5%' }],
      fault: { injector: 'http-proxy', params: { admin: 'http://127.0.0.1:1', latencyMs: 100 }, duration: extra.duration ?? '20s' },
      guardrails,
      onNoData: extra.onNoData ?? 'halt',
      analysis: { interval: '1s', minSamples: 10, settle: '0s', ...extra.analysis },
    },
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.experiment;
}

/** sps around 100 in both groups (the experiment group shifted by `drop` once the window is open). */
function world(opened: () => number, opts: { drop?: number; errors?: (sinceOpen: number) => number } = {}): ValueFn {
  return (q, t) => {
    const since = opened() > 0 ? t - opened() : -1;
    if (q.includes('errors_total') || q.startsWith('1 - (')) return opts.errors ? opts.errors(since) : 0;
    if (q.startsWith('guard')) return since > 2_000 ? 5 : 0;
    const noise = Math.sin(t / 37) * 2 + Math.cos(t / 11);
    return q.includes('"experiment"') && since >= 0 ? 100 + noise - (opts.drop ?? 0) : 100 + noise;
  };
}

function track(injector: FakeInjector): () => number {
  let openedAt = 0;
  injector.onOpen = () => (openedAt = Date.now());
  return () => openedAt;
}

test('threshold with `for: 3` waits for three consecutive breaching evaluations, and records the evidence', async () => {
  const injector = new FakeInjector();
  const opened = track(injector);
  const run = await executeRun(experiment([{ name: 'guard', query: 'guard{group="$group"}', max: 1, for: 3 }]), {
    source: new FakeSource(world(opened)),
    injector,
    logger,
  });
  assert.equal(run.state, 'halted', run.reason);
  assert.equal(run.halt?.kind, 'threshold');
  assert.match(run.halt?.reason ?? '', /5 > max 1 for 3 consecutive evaluations/);
  assert.equal(run.halt?.value, 5);
  assert.deepEqual(run.halt?.threshold, { max: 1 });
  assert.ok(typeof run.halt?.observedAt === 'number');
  const recent = run.halt?.recent ?? [];
  assert.ok(recent.length >= 3 && recent.slice(-3).every((o) => o.value === 5), JSON.stringify(recent));
  const closedAt = Date.parse(run.window?.closedAt ?? '');
  assert.ok(closedAt - opened() >= 4_000, 'not before the third breaching evaluation');
});

test('SLO burn rate halts only when both windows burn faster than burnRate', async () => {
  const slo = { name: 'budget', slo: { good: 'sum(rate(ok_total[$window]))', total: 'sum(rate(errors_total[$window]))', objective: '99%' }, burnRate: 10 };
  // 5% errors: burn 5× (under 10) → no halt, run passes.
  const calm = new FakeInjector();
  const calmOpened = track(calm);
  const ok = await executeRun(experiment([slo], { duration: '4s' }), { source: new FakeSource(world(calmOpened, { errors: () => 0.05 })), injector: calm, logger });
  assert.equal(ok.state, 'passed', ok.reason);
  // 30% errors after 1 s: burn 30× → halt.
  const hot = new FakeInjector();
  const hotOpened = track(hot);
  const run = await executeRun(experiment([slo]), { source: new FakeSource(world(hotOpened, { errors: (s) => (s > 1_000 ? 0.3 : 0) })), injector: hot, logger });
  assert.equal(run.state, 'halted', run.reason);
  assert.equal(run.halt?.kind, 'slo');
  assert.match(run.halt?.reason ?? '', /burning at 30× over .* and 30× over/);
  assert.deepEqual(run.halt?.threshold, { burnRate: 10 });
});

test('the SLO queries are the SLI templates with the window filled in, and windows scale with the experiment', () => {
  const g = experiment([{ name: 'b', slo: { good: 'sum(rate(good{svc="$experiment"}[$window]))', total: 'sum(rate(all[${window}]))', objective: '99.9%' }, burnRate: 14.4 }])
    .spec.guardrails[0] as SloGuardrail;
  assert.equal(errorRatioQuery(g, 60_000, (q) => q.replace('$experiment', 'shop')), '1 - ((sum(rate(good{svc="shop"}[1m]))) / (sum(rate(all[1m]))))');
  // The SRE workbook's 1 h / 5 m pair, for a long experiment at 1 s steps.
  assert.deepEqual(burnRateWindows(g, 6 * 3_600_000, 1_000), { longMs: 3_600_000, shortMs: 300_000 });
  // A 2 minute experiment: a 30 s long window, 3 s short (three steps).
  assert.deepEqual(burnRateWindows(g, 120_000, 1_000), { longMs: 30_000, shortMs: 3_000 });
  // Explicit windows win, rounded to whole steps.
  assert.deepEqual(burnRateWindows({ ...g, windows: { long: 61_500, short: 5_200 } }, 120_000, 1_000), { longMs: 62_000, shortMs: 5_000 });
});

test('KPI comparison halts on a significant drop beyond tolerance, and not in an A/A run', async () => {
  const compare = [{ name: 'sps-drop', compare: 'sps' }];
  const aa = new FakeInjector();
  const aaOpened = track(aa);
  const pass = await executeRun(experiment(compare, { duration: '6s' }), { source: new FakeSource(world(aaOpened)), injector: aa, logger });
  assert.equal(pass.state, 'passed', pass.reason);

  const injector = new FakeInjector();
  const opened = track(injector);
  const run = await executeRun(experiment(compare, { duration: '30s' }), { source: new FakeSource(world(opened, { drop: 20 })), injector, logger });
  assert.equal(run.state, 'halted', run.reason);
  assert.equal(run.halt?.kind, 'compare');
  assert.match(run.halt?.reason ?? '', /sps: experiment worse than control beyond tolerance \(anytime-valid p = /);
  // With a relative tolerance the guardrail's value is the ratio experiment/control (100 − 20 vs 100).
  assert.ok((run.halt?.value ?? 1) < 0.85, `ratio ${run.halt?.value}`);
  assert.match(run.halt?.reason ?? '', /noise learned from the history before the window/);
  assert.ok(run.events.some((e) => e.type === 'guardrail.armed' && /noise learned from \d+ steps before the window/.test(e.message)));
  assert.ok(Date.parse(run.window?.closedAt ?? '') - opened() < 15_000, 'halted long before the deadline');
});

test('a compare guardrail must name a steady-state metric', () => {
  const r = validateExperiment({
    ...JSON.parse(JSON.stringify({ apiVersion: 'steadystate.dev/v1alpha1', kind: 'Experiment', metadata: { name: 'x' } })),
    spec: {
      source: { kind: 'prometheus', url: 'http://127.0.0.1:1' },
      steadyState: [{ name: 'sps', query: 'sps{group="$group"}' }],
      fault: { injector: 'http-proxy', params: { admin: 'http://127.0.0.1:1', latencyMs: 1 }, duration: '1m' },
      guardrails: [{ name: 'c', compare: 'nope' }],
    },
  });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.issues[0]?.path, 'spec.guardrails[0].compare');
    assert.match(r.issues[0]?.message ?? '', /unknown steady-state metric "nope"; known: sps/);
  }
});

test('the no-data grace is configurable: 1 s at a 1 s interval halts on the first empty evaluation', async () => {
  const injector = new FakeInjector();
  const opened = track(injector);
  const source = new FakeSource((q, t) => (q.startsWith('guard') && opened() > 0 && t > opened() + 500 ? undefined : world(opened)(q, t)));
  const run = await executeRun(
    experiment([{ name: 'guard', query: 'guard{group="$group"}', max: 100 }], { analysis: { noDataGrace: '1s' } }),
    { source, injector, logger },
  );
  assert.equal(run.state, 'halted', run.reason);
  assert.equal(run.halt?.kind, 'no-data');
  assert.match(run.halt?.reason ?? '', /no data for 1 consecutive evaluation/);
  assert.equal(noDataGraceLooks(undefined, 1_000), 2);
  assert.equal(noDataGraceLooks(5_000, 1_000), 5);
});

test('decide: breaches reset on ok, no-data tolerated with onNoData: ignore', () => {
  const c = { breaches: 0, noData: 0 };
  const opts = { for: 2, onNoData: 'halt' as const, noDataLooks: 2 };
  assert.equal(decide(c, { kind: 'breach', value: 1, at: 0, reason: 'x' }, opts), undefined);
  assert.equal(decide(c, { kind: 'ok', value: 0, at: 0 }, opts), undefined);
  assert.equal(decide(c, { kind: 'breach', value: 1, at: 0, reason: 'x' }, opts), undefined);
  assert.match(decide(c, { kind: 'breach', value: 1, at: 0, reason: 'x' }, opts) ?? '', /x for 2 consecutive/);
  const quiet = { breaches: 0, noData: 0 };
  for (let i = 0; i < 10; i++) assert.equal(decide(quiet, { kind: 'no-data', reason: 'gone' }, { ...opts, onNoData: 'ignore' }), undefined);
});

test('halt path: a close that fails three times then succeeds ends halted; one that always fails ends halt_failed with the halt kept', async () => {
  const guard = [{ name: 'guard', query: 'guard{group="$group"}', max: 1 }];
  const flaky = new FakeInjector();
  flaky.closeFailures = 3;
  const opened = track(flaky);
  const run = await executeRun(experiment(guard), { source: new FakeSource(world(opened)), injector: flaky, logger });
  assert.equal(run.state, 'halted', run.reason);
  assert.equal(flaky.closeCalls, 4);
  assert.equal(run.events.filter((e) => e.type === 'window.close_retry').length, 3);

  const dead = new FakeInjector();
  dead.closeFailures = Infinity;
  const deadOpened = track(dead);
  const failed = await executeRun(experiment(guard), { source: new FakeSource(world(deadOpened)), injector: dead, logger });
  assert.equal(failed.state, 'halt_failed');
  assert.equal(failed.verdict, null);
  assert.equal(failed.halt?.guardrail, 'guard');
  assert.match(failed.reason, /CRITICAL: the fault window could not be closed \(halt\)/);
  const critical = failed.events.find((e) => e.type === 'window.close_failed');
  assert.equal(critical?.data?.critical, true);
});
