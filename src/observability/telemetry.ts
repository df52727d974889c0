/**
 * What the run engine tells the outside about itself while it drives a run:
 * phase changes, guardrail ticks, window open/close, halts. One small port,
 * so the engine neither knows prom-client nor OpenTelemetry; the service
 * plugs in ServiceTelemetry (./service-telemetry.ts), the CLI and the tests
 * get NOOP_TELEMETRY and pay nothing.
 *
 * Every hook is synchronous and must never throw: telemetry must not be able
 * to delay or break a halt.
 */
import type { FaultWindow, HaltInfo, RunState } from '../engine/types.ts';
import type { Injector } from '../injectors/types.ts';
import type { MetricSource } from '../metric-sources/types.ts';

/** The part of a run record telemetry reads. The engine passes its live record, so `state` is current. */
export interface RunRef {
  readonly id: string;
  readonly experiment: string;
  readonly state: RunState;
  readonly window?: Readonly<FaultWindow> | undefined;
}

/** Who a wrapped port works for: the run id and experiment name its spans carry. */
export interface RunLabels {
  runId: string;
  experiment: string;
}

export type CloseReason = NonNullable<FaultWindow['closedBy']>;

export interface Telemetry {
  /**
   * Run `fn` (the whole run) inside the run's root span, made the active span
   * so log lines carry its trace id; counts the run active until `fn` settles
   * and counts its final state then.
   */
  traceRun<T>(run: RunRef, fn: () => Promise<T>): Promise<T>;
  /** The run entered `state` (called before the state's event is recorded). */
  phaseChanged(run: RunRef, state: RunState): void;
  /** One monitor tick evaluated the polled guardrails: how long it took and how late it started. */
  guardrailsEvaluated(run: RunRef, timing: { durationMs: number; lagMs: number }): void;
  windowOpened(run: RunRef): void;
  /** The window is closed (`run.window.closedAt` is set). */
  windowClosed(run: RunRef, by: CloseReason): void;
  /** Every close attempt failed: the fault may still be active. */
  closeFailed(run: RunRef, during: CloseReason): void;
  /** A guardrail halted the run and its window is closed (`run.window.closedAt` is set). */
  halted(run: RunRef, halt: Readonly<HaltInfo>): void;
  /** The source a run queries, instrumented (calls, errors, latency, spans); the same object when off. */
  instrumentSource(source: MetricSource, run: RunLabels): MetricSource;
  /** The injector a run (or the reconciler) calls, instrumented; the same object when off. */
  instrumentInjector(injector: Injector, run: RunLabels): Injector;
}

/** Telemetry that records nothing: the default for the engine, the CLI and tests. */
export const NOOP_TELEMETRY: Telemetry = Object.freeze({
  traceRun: <T>(_run: RunRef, fn: () => Promise<T>): Promise<T> => fn(),
  phaseChanged: () => undefined,
  guardrailsEvaluated: () => undefined,
  windowOpened: () => undefined,
  windowClosed: () => undefined,
  closeFailed: () => undefined,
  halted: () => undefined,
  instrumentSource: (source: MetricSource) => source,
  instrumentInjector: (injector: Injector) => injector,
});
