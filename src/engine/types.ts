/**
 * What a run is, as the run engine records it. These shapes are what the CLI's
 * `--json`, the reports and (later) the API return, so they are plain JSON.
 */
import type { AlertsResult } from '../alerts/types.ts';
import type { InjectorHandle } from '../injectors/types.ts';
import type { JsonObject } from '../lib/json.ts';
import type { Sample } from '../metric-sources/types.ts';
import type { DoseResponse, StepMetric } from '../stats/dose-response.ts';
import type { MetricVerdict, Verdict } from '../stats/verdict.ts';

export const ACTIVE_STATES = ['pending', 'preflight', 'baseline', 'injecting', 'recovering', 'analyzing'] as const;
export const TERMINAL_STATES = ['passed', 'failed', 'inconclusive', 'halted', 'halt_failed', 'aborted', 'errored'] as const;

export type ActiveState = (typeof ACTIVE_STATES)[number];
export type TerminalState = (typeof TERMINAL_STATES)[number];
export type RunState = ActiveState | TerminalState;

export type Group = 'control' | 'experiment';

/** One entry of a run's timeline. */
export interface RunEvent {
  at: string;
  type: string;
  message: string;
  data?: JsonObject;
}

/** Why and when a guardrail stopped the run. */
export interface HaltInfo {
  guardrail: string;
  /** threshold, slo, compare (KPI comparison), or no-data (the fail-safe). */
  kind?: 'threshold' | 'slo' | 'compare' | 'no-data';
  reason: string;
  /** When the monitor decided to halt. */
  at: string;
  /** The value that breached, when there was one (absent for no-data halts). */
  value?: number;
  /** Timestamp (ms) of the sample that breached. */
  observedAt?: number;
  threshold?: { max?: number; min?: number; burnRate?: number; alpha?: number };
  /** The last values this guardrail saw before the halt, oldest first (null = no data). */
  recent?: { at: number; value: number | null }[];
}

export interface FaultWindow {
  openedAt: string;
  deadline: string;
  closedAt?: string;
  /** `ladder`: a fault ladder stopped climbing at a failing step (ADR 022). */
  closedBy?: 'deadline' | 'halt' | 'ladder' | 'abort' | 'error';
  handle?: InjectorHandle;
}

/** The samples a metric produced for one group over the window. */
export interface CollectedSeries {
  metric: string;
  group: Group;
  query: string;
  samples: Sample[];
}

/** A guardrail value observed by the monitor. */
export interface GuardrailObservation {
  guardrail: string;
  at: number;
  value: number | null;
  breached: boolean;
}

/** One step of a fault ladder as it ran (ADR 022). Its boundaries are what per-step readers (alerts) use. */
export interface LadderStep {
  index: number;
  /** The fields the step set over fault.params, as written (its level). */
  params: JsonObject;
  /** The level in words: `latencyMs=500`. */
  label: string;
  /** Planned hold, ms. */
  plannedMs: number;
  /** When the injector applied it (null: never reached). */
  startedAt: string | null;
  /** When the next step replaced it or the window closed. */
  endedAt: string | null;
  /** The step's verdict across metrics (null: not judged). */
  verdict: Verdict | null;
  /** The samples judged: from a range window after the step began (no sample mixes two levels) to its end. */
  judged?: { from: string; to: string };
  metrics: StepMetric[] | null;
}

export interface LadderRecord {
  stopAt: 'fail' | 'halt' | 'never';
  /** The level each step is judged at: analysis.alpha / steps (Bonferroni over the ladder). */
  alpha: number;
  steps: LadderStep[];
  /** Why the ladder stopped climbing before its last step. */
  stopped?: { index: number; by: 'fail' | 'halt' | 'error'; reason: string };
  /** Filled once every step run is judged. */
  doseResponse?: DoseResponse;
}

export interface RunRecord {
  id: string;
  experiment: string;
  state: RunState;
  verdict: Verdict | null;
  reason: string;
  startedAt: string;
  endedAt: string | null;
  halt?: HaltInfo;
  window?: FaultWindow;
  /** A fault ladder's steps and dose–response (spec.fault.steps). */
  ladder?: LadderRecord;
  metrics: MetricVerdict[];
  series: CollectedSeries[];
  guardrails: GuardrailObservation[];
  events: RunEvent[];
  /** `spec.expect.alerts`, judged beside the metrics (src/alerts); absent without expectations. */
  alerts?: AlertsResult;
}

/** Exit codes of `steadystate run` — a contract scripts depend on (shared/BRIEF.md). */
export const EXIT_CODES: Record<TerminalState, number> = {
  passed: 0,
  failed: 1,
  halted: 2,
  inconclusive: 3,
  // The fault could not be closed: the pipeline must stop, and exit 4 is the
  // contract's "errored" family (BRIEF); the JSON says which.
  halt_failed: 4,
  errored: 4,
  aborted: 4,
};
export const EXIT_BAD_INPUT = 64;
