/**
 * The service's own Prometheus metrics (prom-client), all prefixed
 * `steadystate_` and registered on the Registry the HTTP app serves on
 * `/metrics`. docs/operations.md lists them with their meaning.
 *
 * Labels are bounded on purpose: a state, a kind, an adapter, an operation, an
 * error class. Run ids, experiment and guardrail names and free-text reasons
 * stay out (they are on spans and in logs), so fifty teams' experiments do not
 * turn into fifty thousand series.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ACTIVE_STATES, TERMINAL_STATES, type FaultWindow, type HaltInfo } from '../engine/types.ts';
import { AbortedError, AppError, NoDataError } from '../lib/errors.ts';

export interface ServiceMetrics {
  runsTotal: Counter<'state'>;
  runsActive: Gauge<'state'>;
  haltsTotal: Counter<'kind'>;
  haltLatency: Histogram<'kind'>;
  guardrailEvaluationDuration: Histogram<'phase'>;
  guardrailEvaluationLag: Histogram<'phase'>;
  sourceRequests: Counter<'source' | 'operation'>;
  sourceErrors: Counter<'source' | 'operation' | 'reason'>;
  sourceDuration: Histogram<'source' | 'operation'>;
  injectorCalls: Counter<'injector' | 'operation'>;
  injectorErrors: Counter<'injector' | 'operation' | 'reason'>;
  injectorDuration: Histogram<'injector' | 'operation'>;
  windowsOpen: Gauge;
  windowsClosed: Counter<'by'>;
  closeFailures: Counter<'during'>;
}

/** Halts are meant to take seconds: fine buckets up to a minute, then coarse ones for the pathological. */
const HALT_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120];
/** One tick queries every guardrail in parallel; its budget is 80 % of the interval (≥ 1 s). */
const EVALUATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LAG_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const HALT_KINDS = ['threshold', 'slo', 'compare', 'no-data'] as const satisfies readonly NonNullable<HaltInfo['kind']>[];
const CLOSE_REASONS = ['deadline', 'halt', 'ladder', 'abort', 'error'] as const satisfies readonly NonNullable<FaultWindow['closedBy']>[];

/** Create every metric on `registry`. Call once per registry (prom-client refuses duplicate names). */
export function createServiceMetrics(registry: Registry): ServiceMetrics {
  const metrics = buildMetrics(registry);
  // Series for every known label value from the start, at zero: increase() and
  // alerts see the first halt or close failure instead of a series appearing.
  for (const state of TERMINAL_STATES) metrics.runsTotal.inc({ state }, 0);
  for (const state of ACTIVE_STATES) metrics.runsActive.set({ state }, 0);
  for (const kind of HALT_KINDS) {
    metrics.haltsTotal.inc({ kind }, 0);
    metrics.haltLatency.zero({ kind });
  }
  for (const by of CLOSE_REASONS) {
    metrics.windowsClosed.inc({ by }, 0);
    metrics.closeFailures.inc({ during: by }, 0);
  }
  metrics.windowsOpen.set(0);
  return metrics;
}

function buildMetrics(registry: Registry): ServiceMetrics {
  const registers = [registry];
  return {
    runsTotal: new Counter({
      name: 'steadystate_runs_total',
      help: 'Runs that ended, by terminal state (passed, failed, inconclusive, halted, halt_failed, aborted, errored).',
      labelNames: ['state'],
      registers,
    }),
    runsActive: new Gauge({
      name: 'steadystate_runs_active',
      help: 'Runs this process drives now, by current state.',
      labelNames: ['state'],
      registers,
    }),
    haltsTotal: new Counter({
      name: 'steadystate_halts_total',
      help: 'Runs halted by a guardrail with their window closed, by guardrail kind (threshold, slo, compare, no-data).',
      labelNames: ['kind'],
      registers,
    }),
    haltLatency: new Histogram({
      name: 'steadystate_halt_latency_seconds',
      help: 'From the breaching observation (its sample timestamp; the halt decision when there is none) to the fault window closed.',
      labelNames: ['kind'],
      buckets: HALT_BUCKETS,
      registers,
    }),
    guardrailEvaluationDuration: new Histogram({
      name: 'steadystate_guardrail_evaluation_duration_seconds',
      help: 'Time one monitor tick took to evaluate the polled guardrails (their queries run in parallel).',
      labelNames: ['phase'],
      buckets: EVALUATION_BUCKETS,
      registers,
    }),
    guardrailEvaluationLag: new Histogram({
      name: 'steadystate_guardrail_evaluation_lag_seconds',
      help: 'How late a monitor tick started against its schedule (a loaded event loop or an overrunning tick).',
      labelNames: ['phase'],
      buckets: LAG_BUCKETS,
      registers,
    }),
    sourceRequests: new Counter({
      name: 'steadystate_source_requests_total',
      help: 'Calls to metric sources, by source kind and operation (query_range, check).',
      labelNames: ['source', 'operation'],
      registers,
    }),
    sourceErrors: new Counter({
      name: 'steadystate_source_request_errors_total',
      help: 'Failed metric source calls, by source kind, operation and reason (no_data, timeout, aborted, retryable, fatal, unknown).',
      labelNames: ['source', 'operation', 'reason'],
      registers,
    }),
    sourceDuration: new Histogram({
      name: 'steadystate_source_request_duration_seconds',
      help: 'Latency of metric source calls, successful or not.',
      labelNames: ['source', 'operation'],
      buckets: CALL_BUCKETS,
      registers,
    }),
    injectorCalls: new Counter({
      name: 'steadystate_injector_calls_total',
      help: 'Calls to injector adapters, by adapter and operation (open, close, status, check, list_owned); each close retry counts.',
      labelNames: ['injector', 'operation'],
      registers,
    }),
    injectorErrors: new Counter({
      name: 'steadystate_injector_call_errors_total',
      help: 'Failed injector calls, by adapter, operation and reason (timeout, aborted, retryable, fatal, unknown).',
      labelNames: ['injector', 'operation', 'reason'],
      registers,
    }),
    injectorDuration: new Histogram({
      name: 'steadystate_injector_call_duration_seconds',
      help: 'Latency of injector calls, successful or not.',
      labelNames: ['injector', 'operation'],
      buckets: CALL_BUCKETS,
      registers,
    }),
    windowsOpen: new Gauge({
      name: 'steadystate_windows_open',
      help: 'Fault windows this process opened and has not closed yet.',
      registers,
    }),
    windowsClosed: new Counter({
      name: 'steadystate_windows_closed_total',
      help: 'Fault windows closed, by what closed them (deadline, halt, abort, error).',
      labelNames: ['by'],
      registers,
    }),
    closeFailures: new Counter({
      name: 'steadystate_window_close_failures_total',
      help: 'CRITICAL: fault windows that could not be closed after every retry; the fault may be active until the injector-side deadline.',
      labelNames: ['during'],
      registers,
    }),
  };
}

export type ErrorReason = 'no_data' | 'timeout' | 'aborted' | 'retryable' | 'fatal' | 'unknown';

/** A bounded label for a failure: what kind of failure, never its message. */
export function errorReason(err: unknown): ErrorReason {
  if (err instanceof NoDataError) return 'no_data';
  if (err instanceof AbortedError) return 'aborted';
  if (err instanceof Error && err.name === 'TimeoutError') return 'timeout';
  if (err instanceof Error && err.name === 'AbortError') return 'aborted';
  if (err instanceof AppError) return err.retryable ? 'retryable' : 'fatal';
  return 'unknown';
}
