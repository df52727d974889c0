/**
 * Spans and log correlation, with a recording tracer provider and an
 * AsyncLocalStorage context manager registered through @opentelemetry/api
 * (what the SDK registers when OTEL_* switches it on): the run engine's log
 * lines carry the run's trace id, and the spans nest run → phase → port call
 * with the run id and experiment on each.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { executeRun } from '../../src/engine/run-engine.ts';
import { createLogger, traceFields } from '../../src/lib/logger.ts';
import { ServiceTelemetry } from '../../src/observability/service-telemetry.ts';
import { ATTR } from '../../src/observability/tracing.ts';
import { FakeInjector, FakeSource } from '../helpers/fakes.ts';
import { installRecordingTracer } from './recording-tracer.ts';
import { breachingWorld, shortExperiment } from './run-fixtures.ts';

const { tracer, uninstall } = installRecordingTracer();
after(uninstall);

function capture(): { lines: Record<string, unknown>[]; write(s: string): void } {
  const lines: Record<string, unknown>[] = [];
  return { lines, write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) };
}

test('a log line written during a span carries its trace_id and span_id; one outside carries none', () => {
  const out = capture();
  const logger = createLogger({ level: 'info', destination: out });
  logger.info('before');
  const span = tracer.startSpan('unit');
  context.with(trace.setSpan(context.active(), span), () => logger.child({ runId: 'r-1' }).info('inside'));
  span.end();
  const [before, inside] = out.lines;
  assert.equal(before?.trace_id, undefined);
  assert.equal(inside?.runId, 'r-1');
  assert.equal(inside?.trace_id, span.spanContext().traceId);
  assert.equal(inside?.span_id, span.spanContext().spanId);
  assert.match(String(inside?.trace_id), /^[0-9a-f]{32}$/);
  assert.equal(inside?.trace_flags, '01');
  assert.deepEqual(traceFields(), {});
});

test('a halted run: its log lines carry runId and the run trace id; spans nest run → phase → source/injector call', async () => {
  const out = capture();
  const logger = createLogger({ level: 'info', destination: out });
  const telemetry = new ServiceTelemetry({ registry: new Registry() });
  const injector = new FakeInjector();
  const labels = { runId: 'run-traced-1', experiment: 'observed' };
  const run = await executeRun(
    shortExperiment(),
    {
      source: telemetry.instrumentSource(new FakeSource(breachingWorld(injector)), labels),
      injector: telemetry.instrumentInjector(injector, labels),
      logger,
      telemetry,
    },
    { runId: labels.runId },
  );
  assert.equal(run.state, 'halted', run.reason);

  const [root, ...others] = tracer.named('steadystate.run');
  assert.ok(root && others.length === 0);
  assert.ok(root.ended);
  assert.equal(root.attributes[ATTR.runId], 'run-traced-1');
  assert.equal(root.attributes[ATTR.experiment], 'observed');
  assert.equal(root.attributes[ATTR.runState], 'halted');
  assert.equal(root.attributes[ATTR.haltGuardrail], 'errors');
  const traceId = root.spanContext().traceId;

  // Every line the engine wrote for this run is correlated.
  const runLines = out.lines.filter((l) => l.runId === 'run-traced-1');
  assert.ok(runLines.length >= 8, `run log lines: ${runLines.length}`);
  for (const line of runLines) {
    assert.equal(line.trace_id, traceId, String(line.msg));
    assert.equal(line.experiment, 'observed');
  }
  assert.ok(runLines.some((l) => l.event === 'run.halted'));

  // Phases are children of the run span, in order, all ended.
  const phases = tracer.spans.filter((s) => s.name.startsWith('steadystate.phase.'));
  assert.deepEqual(
    phases.map((s) => s.name),
    ['preflight', 'injecting', 'recovering', 'analyzing'].map((p) => `steadystate.phase.${p}`),
  );
  for (const phase of phases) {
    assert.equal(phase.parentSpanId, root.spanContext().spanId);
    assert.equal(phase.spanContext().traceId, traceId);
    assert.ok(phase.ended, phase.name);
  }
  const phaseOf = (spanId: string | undefined) => phases.find((p) => p.spanContext().spanId === spanId)?.name;

  // Port calls hang under the phase they happened in, with the run's attributes.
  const open = tracer.named('steadystate.injector.open');
  assert.equal(open.length, 1);
  assert.equal(phaseOf(open[0]?.parentSpanId), 'steadystate.phase.injecting');
  const close = tracer.named('steadystate.injector.close');
  assert.equal(close.length, 1);
  assert.equal(phaseOf(close[0]?.parentSpanId), 'steadystate.phase.injecting');
  assert.equal(phaseOf(tracer.named('steadystate.injector.check')[0]?.parentSpanId), 'steadystate.phase.preflight');
  const queries = tracer.named('steadystate.source.query_range');
  assert.ok(queries.length >= 5);
  for (const span of [...queries, ...open, ...close]) {
    assert.equal(span.spanContext().traceId, traceId);
    assert.equal(span.attributes[ATTR.runId], 'run-traced-1');
    assert.equal(span.attributes[ATTR.experiment], 'observed');
    assert.ok(span.ended);
  }
  assert.ok(queries.some((s) => s.attributes[ATTR.sourceQuery] === 'errors{group="experiment"}'));
  assert.ok(root.events.length === 0 || root.events.every((e) => e.name !== 'exception'));
  const injecting = phases[1];
  assert.deepEqual(injecting?.events.map((e) => e.name), ['window.opened', 'window.closed']);
});

test('a failing source call is an error span with its reason; no data is recorded but not an error', async () => {
  const telemetry = new ServiceTelemetry({ registry: new Registry() });
  let fail = true;
  const source = telemetry.instrumentSource(new FakeSource(() => (fail ? 'error' : undefined)), { runId: 'run-e', experiment: 'e' });
  const range = { start: new Date(0), end: new Date(200), stepMs: 100 };
  await assert.rejects(source.queryRange('q1', range));
  fail = false;
  await assert.rejects(source.queryRange('q2', range));
  const [failed, empty] = tracer.named('steadystate.source.query_range').slice(-2);
  assert.equal(failed?.status.code, 2 /* ERROR */);
  assert.equal(failed?.attributes[ATTR.errorReason], 'retryable');
  assert.equal(empty?.status.code, 0 /* UNSET */);
  assert.equal(empty?.attributes[ATTR.errorReason], 'no_data');
  // Outside any run, the span's parent is whatever is active: here, nothing.
  assert.equal(failed?.parentSpanId, undefined);
});
