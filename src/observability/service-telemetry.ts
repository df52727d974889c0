/**
 * The service's Telemetry: prom-client metrics (./metrics.ts) and
 * OpenTelemetry spans (./tracing.ts) for every run this process drives.
 *
 * Trace shape, one trace per run:
 *   steadystate.run                          (active for the whole run: logs carry its trace id)
 *   ├─ steadystate.phase.preflight
 *   │   ├─ steadystate.source.query_range    (InstrumentedSource)
 *   │   └─ steadystate.injector.check        (InstrumentedInjector)
 *   ├─ steadystate.phase.injecting
 *   │   ├─ steadystate.injector.open
 *   │   └─ steadystate.source.query_range …
 *   └─ …
 * Phases are not lexical scopes in the engine, so a phase span is started and
 * ended at the transitions and the wrapped ports look up the run's current
 * phase to hang their spans under it.
 */
import { context, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { Registry } from 'prom-client';
import { TERMINAL_STATES, type HaltInfo, type RunState } from '../engine/types.ts';
import type { Injector } from '../injectors/types.ts';
import type { MetricSource } from '../metric-sources/types.ts';
import { InstrumentedInjector } from './instrumented-injector.ts';
import { InstrumentedSource, type Instrumentation } from './instrumented-source.ts';
import { createServiceMetrics, type ServiceMetrics } from './metrics.ts';
import type { CloseReason, RunLabels, RunRef, Telemetry } from './telemetry.ts';
import { ATTR, getTracer } from './tracing.ts';

const TERMINAL: ReadonlySet<RunState> = new Set(TERMINAL_STATES);

/** What is open for one run: its span, its current phase span, what the gauges count for it. */
interface RunTrace {
  span: Span;
  context: Context;
  phase?: { span: Span; context: Context };
  /** The state `steadystate_runs_active` counts this run under, if any. */
  counted?: RunState;
  windowOpen: boolean;
}

export class ServiceTelemetry implements Telemetry {
  readonly metrics: ServiceMetrics;
  private readonly tracer: Tracer;
  private readonly runs = new Map<string, RunTrace>();

  constructor(opts: { registry: Registry; tracer?: Tracer }) {
    this.metrics = createServiceMetrics(opts.registry);
    this.tracer = opts.tracer ?? getTracer();
  }

  async traceRun<T>(run: RunRef, fn: () => Promise<T>): Promise<T> {
    const parent = context.active();
    const span = this.tracer.startSpan('steadystate.run', { attributes: { [ATTR.runId]: run.id, [ATTR.experiment]: run.experiment } }, parent);
    const entry: RunTrace = { span, context: trace.setSpan(parent, span), windowOpen: false };
    this.runs.set(run.id, entry);
    this.count(entry, run.state);
    try {
      return await context.with(entry.context, fn);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      this.settle(run, entry);
    }
  }

  /** The end of a run, however it ended: count its final state once, release what it held. */
  private settle(run: RunRef, entry: RunTrace): void {
    // The engine records its own failures; a run that is still active here died past them.
    const final: RunState = TERMINAL.has(run.state) ? run.state : 'errored';
    this.metrics.runsTotal.inc({ state: final });
    this.count(entry, undefined);
    if (entry.windowOpen) this.metrics.windowsOpen.dec();
    entry.phase?.span.end();
    entry.span.setAttribute(ATTR.runState, final);
    if (final === 'errored' || final === 'halt_failed') entry.span.setStatus({ code: SpanStatusCode.ERROR, message: final });
    entry.span.end();
    this.runs.delete(run.id);
  }

  /** Move the run's place in `steadystate_runs_active` to `state` (or out of it). */
  private count(entry: RunTrace, state: RunState | undefined): void {
    if (entry.counted) this.metrics.runsActive.dec({ state: entry.counted });
    entry.counted = state && !TERMINAL.has(state) ? state : undefined;
    if (entry.counted) this.metrics.runsActive.inc({ state: entry.counted });
  }

  phaseChanged(run: RunRef, state: RunState): void {
    const entry = this.runs.get(run.id);
    if (!entry) return;
    this.count(entry, state);
    entry.phase?.span.end();
    entry.phase = undefined;
    if (TERMINAL.has(state)) {
      entry.span.setAttribute(ATTR.runState, state);
      return;
    }
    const span = this.tracer.startSpan(
      `steadystate.phase.${state}`,
      { attributes: { [ATTR.runId]: run.id, [ATTR.experiment]: run.experiment, [ATTR.phase]: state } },
      entry.context,
    );
    entry.phase = { span, context: trace.setSpan(entry.context, span) };
  }

  guardrailsEvaluated(run: RunRef, timing: { durationMs: number; lagMs: number }): void {
    const labels = { phase: run.state };
    this.metrics.guardrailEvaluationDuration.observe(labels, Math.max(0, timing.durationMs) / 1000);
    this.metrics.guardrailEvaluationLag.observe(labels, Math.max(0, timing.lagMs) / 1000);
  }

  windowOpened(run: RunRef): void {
    const entry = this.runs.get(run.id);
    if (entry?.windowOpen) return;
    if (entry) entry.windowOpen = true;
    this.metrics.windowsOpen.inc();
    this.currentSpan(run.id)?.addEvent('window.opened');
  }

  windowClosed(run: RunRef, by: CloseReason): void {
    const entry = this.runs.get(run.id);
    if (!entry || entry.windowOpen) {
      this.metrics.windowsOpen.dec();
      if (entry) entry.windowOpen = false;
    }
    this.metrics.windowsClosed.inc({ by });
    this.currentSpan(run.id)?.addEvent('window.closed', { [ATTR.windowClosedBy]: by });
  }

  closeFailed(run: RunRef, during: CloseReason): void {
    this.metrics.closeFailures.inc({ during });
    const span = this.currentSpan(run.id);
    span?.addEvent('window.close_failed', { [ATTR.windowClosedBy]: during });
    span?.setStatus({ code: SpanStatusCode.ERROR, message: 'the fault window could not be closed' });
  }

  halted(run: RunRef, halt: Readonly<HaltInfo>): void {
    const kind = halt.kind ?? 'threshold';
    this.metrics.haltsTotal.inc({ kind });
    const closedAt = run.window?.closedAt ? Date.parse(run.window.closedAt) : NaN;
    const from = halt.observedAt ?? Date.parse(halt.at);
    if (Number.isFinite(closedAt) && Number.isFinite(from)) {
      this.metrics.haltLatency.observe({ kind }, Math.max(0, closedAt - from) / 1000);
    }
    this.runs.get(run.id)?.span.setAttributes({ [ATTR.haltGuardrail]: halt.guardrail, [ATTR.haltKind]: kind });
  }

  instrumentSource(source: MetricSource, run: RunLabels): MetricSource {
    return new InstrumentedSource(source, this.instrumentation(run));
  }

  instrumentInjector(injector: Injector, run: RunLabels): Injector {
    return new InstrumentedInjector(injector, this.instrumentation(run));
  }

  private instrumentation(run: RunLabels): Instrumentation {
    return { metrics: this.metrics, tracer: this.tracer, run, parent: () => this.parentOf(run.runId) };
  }

  /** Where a port call of this run hangs: its phase span, else its run span, else whatever is active. */
  private parentOf(runId: string): Context | undefined {
    const entry = this.runs.get(runId);
    return entry?.phase?.context ?? entry?.context;
  }

  private currentSpan(runId: string): Span | undefined {
    const entry = this.runs.get(runId);
    return entry?.phase?.span ?? entry?.span;
  }
}
