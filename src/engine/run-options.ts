/**
 * What the run engine is given: its ports and observer, its options, and the
 * point a run taken over from another process continues from.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Injector } from '../injectors/types.ts';
import type { MetricSource } from '../metric-sources/types.ts';
import type { Telemetry } from '../observability/telemetry.ts';
import type { RunHook } from './run-hooks.ts';
import type { CollectedSeries, GuardrailObservation, RunEvent, RunRecord } from './types.ts';

/**
 * Where a run's progress goes. Both hooks are awaited: the engine does not go
 * on until they resolve, and if one throws the run ends `errored` (after
 * closing its window) rather than carry on unrecorded.
 */
export interface RunObserver {
  onEvent?(event: RunEvent, run: Readonly<RunRecord>): Promise<void> | void;
  /** New samples of one metric and group (appended, never rewritten). */
  onSamples?(chunk: CollectedSeries, run: Readonly<RunRecord>): Promise<void> | void;
  /**
   * Guardrail evaluations made since the last call: after each monitor tick
   * and before each event, never between a breach and the window's close.
   * Best effort, unlike the others: a failure is logged and the run goes on
   * (a report short of a few points beats a run ended over them).
   */
  onGuardrailEvaluations?(observations: GuardrailObservation[], run: Readonly<RunRecord>): Promise<void> | void;
}

export interface RunDeps extends RunObserver {
  source: MetricSource;
  injector: Injector;
  logger: Logger;
  now?: () => number;
  /** Metrics and spans about the run (src/observability); nothing when absent. */
  telemetry?: Telemetry;
  /** Work beside the run that never holds it up: alert expectations, annotations (run-hooks.ts). */
  hooks?: readonly RunHook[];
}

/**
 * A run another process started, to be continued here (a takeover). The
 * caller has checked that it is consistent: either its window is open (with
 * a handle, before its deadline) and the injector reports the fault active,
 * or its window was closed by its deadline or a recorded halt.
 */
export interface ResumePoint {
  /** The run as stored: id, start, state, window (with its handle), halt, events so far. */
  run: RunRecord;
  /** Who drove it before (null: nobody held its lease). */
  previousOwner: string | null;
  /** The injector's word on the fault, for the timeline (e.g. "open until …"). */
  injectorStatus: string;
}

export interface RunOptions {
  runId?: string;
  /** Who started the run (token name, `cli`, `webhook:github`…), recorded in its first event; on a resume, who took it over. */
  actor?: string;
  /** Aborting it (Ctrl-C, API abort) closes the window and ends the run `aborted`; a LeaseLostError reason leaves both to the new owner. */
  signal?: AbortSignal;
  /** Continue a run taken over from another process instead of starting one. */
  resume?: ResumePoint;
}

/** Sortable, unique, safe in file names and URLs. */
export function newRunId(now = Date.now()): string {
  return `run-${new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}
