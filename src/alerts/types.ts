/**
 * What the alert watcher sees and what it concludes. Plain JSON: the result
 * rides on the run record (`run.alerts`), its `alerts.judged` event, the
 * `--json` summary and every report.
 */

/** One alert as an alerts API showed it. */
export interface ObservedAlert {
  /** The `alertname` label. */
  name: string;
  labels: Record<string, string>;
  /** Prometheus: pending or firing. Alertmanager: active (neither silenced nor inhibited). */
  state: 'pending' | 'firing' | 'active';
  /** Prometheus: when it started firing (ms): activeAt plus the rule's `for`. */
  firingSince?: number;
}

/** One look at the alerts APIs. A source that failed (or is not configured) is undefined. */
export interface AlertPoll {
  /** When the look was made (ms). */
  at: number;
  prometheus?: { rules: string[]; alerts: ObservedAlert[] };
  alertmanager?: ObservedAlert[];
}

/** A step of the fault: the whole window until fault ladders give several. */
export interface StepInterval {
  index: number;
  /** ms */
  startedAt: number;
  /** ms; undefined while the step runs. */
  endedAt?: number;
}

export type AlertVerdict = 'pass' | 'fail' | 'inconclusive';

export interface AlertStepOutcome {
  index: number;
  startedAt: string;
  firedAt: string | null;
  /** firedAt − the step's start (0 when it was already firing). */
  delayMs: number | null;
  alreadyFiring: boolean;
  verdict: AlertVerdict;
  /**
   * What this step was judged on: `fire` (it must fire within the bound),
   * `quiet` (before the steps it is expected on: it must not fire), false
   * (after them: not judged). Absent in results stored before `steps` existed.
   */
  judged?: 'fire' | 'quiet' | false;
}

export interface AlertOutcome {
  name: string;
  labels?: Record<string, string>;
  expect: 'fire' | 'never';
  verdict: AlertVerdict;
  reason: string;
  withinMs?: number;
  resolveWithinMs?: number;
  /** The steps (from 1) it must fire on, when the expectation names them (`steps` in the spec). */
  onSteps?: number[];
  /** First firing seen while watching (ms precision from Prometheus's activeAt). */
  firedAt: string | null;
  /** firedAt − the first step's start (with `steps`: the first step it is expected on, and firedAt is from then on). */
  delayMs: number | null;
  /** First look after the window closed where it no longer fired (a poll's time: ± the interval). */
  resolvedAt: string | null;
  /** resolvedAt − the window's close. */
  resolveDelayMs: number | null;
  /** First look where Alertmanager held it active (only with `expect.alertmanager`). */
  notifiedAt: string | null;
  steps: AlertStepOutcome[];
}

export interface AlertsResult {
  verdict: AlertVerdict;
  reason: string;
  /** How this verdict meets the run's state (spec.expect.onFail). */
  onFail: 'report' | 'fail';
  watched: { from: string; until: string; polls: number; failedPolls: number; alertmanager: boolean };
  alerts: AlertOutcome[];
}
