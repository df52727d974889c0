/**
 * The public shape of a run: what `steadystate run --json` prints and what the
 * JSON report leads with. Field names are a contract (shared/BRIEF.md).
 */
import type { AlertsResult } from '../alerts/types.ts';
import type { RunRecord } from '../engine/types.ts';

export interface RunSummaryMetric {
  name: string;
  verdict: string;
  reason: string;
  method: string;
  control: { n: number; median: number | null; mean: number | null };
  experiment: { n: number; median: number | null; mean: number | null };
  effect: number | null;
  relativeEffect: number | null;
  ci: [number, number] | null;
  pValue: number | null;
}

export interface RunSummary {
  id: string;
  experiment: string;
  state: string;
  verdict: string | null;
  reason: string;
  startedAt: string;
  endedAt: string | null;
  halt?: RunRecord['halt'];
  window?: { openedAt: string; deadline: string; closedAt?: string; closedBy?: string };
  metrics: RunSummaryMetric[];
  /** A fault ladder's steps (boundaries, levels, per-metric effects) and its dose–response; absent for a single setting. */
  ladder?: RunRecord['ladder'];
  /** Added by issue #17: the alert expectations' own verdict, beside the metrics (absent without `spec.expect`). */
  alerts?: AlertsResult;
}

export function runSummary(run: RunRecord): { run: RunSummary } {
  const summary: RunSummary = {
    id: run.id,
    experiment: run.experiment,
    state: run.state,
    verdict: run.verdict,
    reason: run.reason,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    metrics: run.metrics.map((m) => ({
      name: m.name,
      verdict: m.verdict,
      reason: m.reason,
      method: m.method,
      control: { n: m.control.n, median: finiteOrNull(m.control.median), mean: finiteOrNull(m.control.mean) },
      experiment: { n: m.experiment.n, median: finiteOrNull(m.experiment.median), mean: finiteOrNull(m.experiment.mean) },
      effect: m.effect,
      relativeEffect: m.relativeEffect,
      ci: m.ci,
      pValue: m.pValue,
    })),
  };
  if (run.halt) summary.halt = run.halt;
  if (run.alerts) summary.alerts = run.alerts;
  if (run.window) {
    // The handle stays out: it is for closing, not for reading.
    const { openedAt, deadline, closedAt, closedBy } = run.window;
    summary.window = { openedAt, deadline, ...(closedAt ? { closedAt } : {}), ...(closedBy ? { closedBy } : {}) };
  }
  if (run.ladder) summary.ladder = run.ladder;
  return { run: summary };
}

function finiteOrNull(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
