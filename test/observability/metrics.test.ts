/**
 * The service's own metrics, from the real run engine driven with fakes of
 * its ports, read back the way Prometheus reads them: GET /metrics on the
 * HTTP app, with a viewer token.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config.ts';
import { executeRun } from '../../src/engine/run-engine.ts';
import { buildHttpApp } from '../../src/http/app.ts';
import { ServiceTelemetry } from '../../src/observability/service-telemetry.ts';
import { RunService } from '../../src/service/run-service.ts';
import { openStore } from '../../src/store/open-store.ts';
import { FakeInjector, FakeSource } from '../helpers/fakes.ts';
import { breachingWorld, shortExperiment } from './run-fixtures.ts';

const logger = pino({ level: 'silent' });

/** The value of one sample line of the exposition text, e.g. `name{a="b"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('/metrics exposes the halt-latency histogram after a halted run, with the run counted and its window closed', async (t) => {
  const registry = new Registry();
  const telemetry = new ServiceTelemetry({ registry });
  const injector = new FakeInjector();
  const source = new FakeSource(breachingWorld(injector));
  const experiment = shortExperiment();
  const labels = { runId: 'run-metrics-1', experiment: 'observed' };
  const run = await executeRun(
    experiment,
    {
      source: telemetry.instrumentSource(source, labels),
      injector: telemetry.instrumentInjector(injector, labels),
      logger,
      telemetry,
    },
    { runId: labels.runId },
  );
  assert.equal(run.state, 'halted', run.reason);
  const observedAt = run.halt?.observedAt;
  assert.ok(observedAt !== undefined);
  const expected = (Date.parse(run.window?.closedAt ?? '') - observedAt) / 1000;

  const config = loadConfig({ STEADYSTATE_LISTEN: '127.0.0.1:0' });
  const store = await openStore({ memory: true });
  const app = await buildHttpApp({ store, runs: new RunService(store, config, logger), config, logger, metrics: registry });
  t.after(async () => {
    await app.close();
    await store.close();
  });
  const viewer = (await store.tokens.create({ name: 'prom', role: 'viewer' })).token;
  const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${viewer}` } });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  const text = res.body;

  assert.match(text, /# TYPE steadystate_halt_latency_seconds histogram/);
  assert.equal(sample(text, 'steadystate_halt_latency_seconds_count{kind="threshold"}'), 1);
  const sum = sample(text, 'steadystate_halt_latency_seconds_sum{kind="threshold"}') ?? NaN;
  assert.ok(Math.abs(sum - expected) < 1e-9, `sum ${sum} vs closedAt - observedAt ${expected}`);
  // A breach 300 ms into a 30 s window, evaluated every second: closed within a few seconds.
  assert.ok(sum >= 0 && sum < 5, `halt latency ${sum}s`);
  assert.equal(sample(text, 'steadystate_halt_latency_seconds_bucket{le="+Inf",kind="threshold"}'), 1);
  assert.equal(sample(text, 'steadystate_halt_latency_seconds_bucket{le="5",kind="threshold"}'), 1);

  assert.equal(sample(text, 'steadystate_halts_total{kind="threshold"}'), 1);
  assert.equal(sample(text, 'steadystate_runs_total{state="halted"}'), 1);
  assert.equal(sample(text, 'steadystate_windows_open'), 0);
  assert.equal(sample(text, 'steadystate_windows_closed_total{by="halt"}'), 1);
  for (const state of ['preflight', 'injecting', 'recovering', 'analyzing']) {
    assert.equal(sample(text, `steadystate_runs_active{state="${state}"}`), 0, state);
  }
  // One tick in the window at least (the one that breached); preflight's one-off check is not a tick.
  assert.ok((sample(text, 'steadystate_guardrail_evaluation_duration_seconds_count{phase="injecting"}') ?? 0) >= 1);
  assert.ok((sample(text, 'steadystate_guardrail_evaluation_lag_seconds_count{phase="injecting"}') ?? 0) >= 1);
  // The injector was checked, opened and closed once each; the source answered every query.
  for (const op of ['check', 'open', 'close']) {
    assert.equal(sample(text, `steadystate_injector_calls_total{injector="fake",operation="${op}"}`), 1, op);
  }
  assert.equal(sample(text, 'steadystate_source_requests_total{source="fake",operation="query_range"}'), source.queries.length);
  assert.equal(sample(text, 'steadystate_source_request_errors_total{source="fake",operation="query_range",reason="retryable"}'), undefined);
});

test('the active gauge follows a run through its phases and is back to zero after it', async () => {
  const registry = new Registry();
  const telemetry = new ServiceTelemetry({ registry });
  const injector = new FakeInjector();
  const seen: string[] = [];
  const active = async (): Promise<string[]> =>
    (await telemetry.metrics.runsActive.get()).values.filter((v) => v.value > 0).map((v) => `${v.labels.state}=${v.value}`);
  const run = await executeRun(
    shortExperiment({ duration: '2s' }),
    {
      source: new FakeSource(breachingWorld(injector, { breach: false })),
      injector,
      logger,
      telemetry,
      onEvent: async (event) => {
        if (event.type.startsWith('state.')) seen.push(...(await active()));
      },
    },
  );
  assert.equal(run.state, 'passed', run.reason);
  assert.deepEqual(seen, ['preflight=1', 'injecting=1', 'recovering=1', 'analyzing=1']);
  assert.deepEqual(await active(), []);
  assert.equal((await telemetry.metrics.runsTotal.get()).values.find((v) => v.labels.state === 'passed')?.value, 1);
  assert.equal((await telemetry.metrics.windowsClosed.get()).values.find((v) => v.labels.by === 'deadline')?.value, 1);
  assert.equal((await telemetry.metrics.haltLatency.get()).values.filter((v) => v.value > 0).length, 0, 'no halt, no latency');
});

test('a window that cannot be closed counts a critical close failure, ends halt_failed, and leaves no open-window gauge behind', async () => {
  const registry = new Registry();
  const telemetry = new ServiceTelemetry({ registry });
  const injector = new FakeInjector();
  injector.closeFailures = Infinity;
  const run = await executeRun(shortExperiment(), {
    source: new FakeSource(breachingWorld(injector)),
    injector: telemetry.instrumentInjector(injector, { runId: 'r', experiment: 'observed' }),
    logger,
    telemetry,
  });
  assert.equal(run.state, 'halt_failed', run.reason);
  const text = await registry.metrics();
  assert.equal(sample(text, 'steadystate_window_close_failures_total{during="halt"}'), 1);
  assert.equal(sample(text, 'steadystate_runs_total{state="halt_failed"}'), 1);
  assert.equal(sample(text, 'steadystate_windows_open'), 0);
  assert.equal(sample(text, 'steadystate_halts_total{kind="threshold"}'), 0, 'a halt whose window stayed open is not a completed halt');
  // Every close attempt is a call, and each failed as retryable.
  const closes = sample(text, 'steadystate_injector_calls_total{injector="fake",operation="close"}') ?? 0;
  assert.ok(closes >= 2, `close attempts ${closes}`);
  assert.equal(sample(text, 'steadystate_injector_call_errors_total{injector="fake",operation="close",reason="retryable"}'), closes);
});
