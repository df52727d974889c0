/**
 * How the alerts verdict meets the run's (ADR 023). By default (`onFail:
 * report`) it stands beside the metrics' verdict, as Kayenta and Argo
 * Rollouts users read a failed check that is not "critical": reported, not
 * deciding. With `onFail: fail` a failed alert expectation fails a run the
 * metrics passed (or could not judge); a halt, an abort or an error stays
 * what it is — those say more about the run than any alert.
 */
import type { RunState } from '../engine/types.ts';
import type { Verdict } from '../stats/verdict.ts';
import type { AlertsResult } from './types.ts';

export interface RunOutcome {
  state: RunState;
  verdict: Verdict | null;
  reason: string;
}

export function combineWithAlerts(outcome: RunOutcome, alerts: AlertsResult | undefined): RunOutcome {
  if (!alerts || alerts.onFail !== 'fail' || alerts.verdict !== 'fail') return outcome;
  if (outcome.state !== 'passed' && outcome.state !== 'inconclusive') return outcome;
  return { state: 'failed', verdict: 'fail', reason: `alert expectations failed: ${alerts.reason} (metrics: ${outcome.reason})` };
}
