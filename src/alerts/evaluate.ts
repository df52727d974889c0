/**
 * Judging alert expectations from the looks the watcher took: a pure function
 * of the polls, the steps and the window's close, so it is tested without a
 * Prometheus and can be fed any list of step intervals (fault ladders).
 *
 * Precision: Prometheus says when an alert became active (`activeAt`); adding
 * the rule's `for` gives the moment it fired, to the rule evaluation's
 * precision, however coarse the polling. Resolution has no such timestamp:
 * `resolvedAt` is the first look that no longer saw the alert firing.
 */
import type { AlertExpectation } from './alert-spec.ts';
import type { AlertOutcome, AlertPoll, AlertsResult, AlertStepOutcome, ObservedAlert, StepInterval } from './types.ts';

export interface EvaluateInput {
  expectations: readonly AlertExpectation[];
  polls: readonly AlertPoll[];
  steps: readonly StepInterval[];
  /** The window's close (ms); undefined if it never closed. */
  closedAt: number | undefined;
  /** When watching began and ended (ms). */
  from: number;
  until: number;
  failedPolls: number;
  alertmanager: boolean;
  onFail: 'report' | 'fail';
}

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export function matches(alert: ObservedAlert, e: Pick<AlertExpectation, 'name' | 'labels'>): boolean {
  if (alert.name !== e.name) return false;
  return Object.entries(e.labels ?? {}).every(([k, v]) => alert.labels[k] === v);
}

/** When the matching alert this poll shows firing started to fire (ms), or undefined. */
function firingSince(poll: AlertPoll, e: AlertExpectation): number | undefined {
  let since: number | undefined;
  for (const a of poll.prometheus?.alerts ?? []) {
    if (a.state !== 'firing' || !matches(a, e)) continue;
    const t = Math.min(a.firingSince ?? poll.at, poll.at);
    since = since === undefined ? t : Math.min(since, t);
  }
  return since;
}

const inAlertmanager = (poll: AlertPoll, e: AlertExpectation): boolean => (poll.alertmanager ?? []).some((a) => matches(a, e));

export function evaluateAlerts(input: EvaluateInput): AlertsResult {
  const promPolls = input.polls.filter((p) => p.prometheus).sort((a, b) => a.at - b.at);
  const amPolls = input.polls.filter((p) => p.alertmanager).sort((a, b) => a.at - b.at);
  const watched = {
    from: iso(input.from) as string,
    until: iso(input.until) as string,
    polls: input.polls.length,
    failedPolls: input.failedPolls,
    alertmanager: input.alertmanager,
  };
  if (promPolls.length === 0) {
    return {
      verdict: 'inconclusive',
      reason: `no answer from the alerts API in ${input.polls.length + input.failedPolls} looks: nothing can be said about the alerts`,
      onFail: input.onFail,
      watched,
      alerts: input.expectations.map((e) => blank(e, 'inconclusive', 'not observed: the alerts API never answered')),
    };
  }
  const known = new Set(promPolls.flatMap((p) => p.prometheus?.rules ?? []));
  const alerts = input.expectations.map((e) => (known.has(e.name) ? judgeOne(e, input, promPolls, amPolls) : blank(e, 'fail', `Prometheus has no alerting rule named "${e.name}" (a misspelt name would otherwise never fire)`)));
  const failed = alerts.filter((a) => a.verdict === 'fail');
  const unsure = alerts.filter((a) => a.verdict === 'inconclusive');
  const verdict = failed.length > 0 ? 'fail' : unsure.length > 0 ? 'inconclusive' : 'pass';
  const reason =
    verdict === 'pass'
      ? `every alert expectation held (${alerts.length})`
      : (failed.length > 0 ? failed : unsure).map((a) => `${a.name}: ${a.reason}`).join('; ');
  return { verdict, reason, onFail: input.onFail, watched, alerts };
}

function blank(e: AlertExpectation, verdict: AlertOutcome['verdict'], reason: string): AlertOutcome {
  return {
    name: e.name,
    ...(e.labels ? { labels: e.labels } : {}),
    expect: e.never ? 'never' : 'fire',
    verdict,
    reason,
    ...(e.within !== undefined ? { withinMs: e.within } : {}),
    ...(e.resolveWithin !== undefined ? { resolveWithinMs: e.resolveWithin } : {}),
    ...(e.steps ? { onSteps: e.steps } : {}),
    firedAt: null,
    delayMs: null,
    resolvedAt: null,
    resolveDelayMs: null,
    notifiedAt: null,
    steps: [],
  };
}

function judgeOne(e: AlertExpectation, input: EvaluateInput, promPolls: AlertPoll[], amPolls: AlertPoll[]): AlertOutcome {
  const out = blank(e, 'pass', '');
  const firstStart = input.steps[0]?.startedAt ?? input.from;
  const firing = promPolls.map((p) => ({ at: p.at, since: firingSince(p, e) }));
  const firstFiring = firing.find((f) => f.since !== undefined && f.at >= firstStart);
  if (firstFiring?.since !== undefined) {
    out.firedAt = iso(Math.max(firstFiring.since, firstStart));
    out.delayMs = Math.max(firstFiring.since, firstStart) - firstStart;
  }
  const notified = amPolls.find((p) => p.at >= firstStart && inAlertmanager(p, e));
  if (notified) out.notifiedAt = iso(notified.at);

  if (e.never) {
    const reasons: string[] = [];
    if (out.firedAt) reasons.push(`fired at ${out.firedAt}, ${seconds(out.delayMs ?? 0)} after the window opened`);
    if (out.notifiedAt) reasons.push(`reached Alertmanager at ${out.notifiedAt}`);
    out.verdict = reasons.length > 0 ? 'fail' : 'pass';
    out.reason = reasons.length > 0 ? `must never fire, but ${reasons.join(' and ')}` : `stayed quiet over ${promPolls.length} looks`;
    return out;
  }

  const within = e.within ?? 0;
  const problems: string[] = [];
  const unsure: string[] = [];
  const label = (index: number): string => (input.steps.length > 1 || e.steps ? `step ${index + 1}: ` : '');
  // Steps are numbered from 1 in the spec and in reports; `index` is 0-based.
  const judged = e.steps ? new Set(e.steps.map((n) => n - 1)) : undefined;
  const firstJudged = judged ? Math.min(...judged) : 0;
  out.steps = input.steps.map((step): AlertStepOutcome => {
    const seen = firing.find((f) => f.since !== undefined && f.at >= step.startedAt);
    const firedAt = seen?.since === undefined ? null : Math.max(seen.since, step.startedAt);
    const delayMs = firedAt === null ? null : firedAt - step.startedAt;
    const alreadyFiring = seen?.since !== undefined && seen.since < step.startedAt;
    const outcome = { index: step.index, startedAt: iso(step.startedAt) as string, firedAt: iso(firedAt), delayMs, alreadyFiring };
    if (judged && !judged.has(step.index)) {
      if (step.index > firstJudged) return { ...outcome, verdict: 'pass', judged: false };
      // Before the step it is expected on: it must stay quiet for the whole step.
      const early = firing.find((f) => f.since !== undefined && f.since < (step.endedAt ?? input.until) && f.at >= step.startedAt);
      if (!early) return { ...outcome, verdict: 'pass', judged: 'quiet' };
      problems.push(`${label(step.index)}fired at ${iso(Math.max(early.since as number, step.startedAt))}, before step ${firstJudged + 1} where it is expected`);
      return { ...outcome, verdict: 'fail', judged: 'quiet' };
    }
    const ok = delayMs !== null && delayMs <= within;
    if (!ok) problems.push(delayMs === null ? `${label(step.index)}did not fire within ${seconds(within)}` : `${label(step.index)}fired after ${seconds(delayMs)}, beyond ${seconds(within)}`);
    return { ...outcome, verdict: ok ? 'pass' : 'fail', judged: 'fire' };
  });
  if (judged) {
    // The delay the team asks about is from the step it is expected on ("fired 41 s into the 1.5% step").
    const ref = out.steps.find((st) => st.index === firstJudged);
    out.firedAt = ref?.firedAt ?? null;
    out.delayMs = ref?.delayMs ?? null;
  }
  // A step it is expected on that never ran (the ladder stopped below it): nothing can be said.
  for (const index of judged ?? []) {
    if (!input.steps.some((s) => s.index === index)) unsure.push(`step ${index + 1} did not run`);
  }

  if (out.firedAt && input.closedAt !== undefined) {
    const after = firing.find((f) => f.at >= (input.closedAt as number) && f.since === undefined);
    if (after) {
      out.resolvedAt = iso(after.at);
      out.resolveDelayMs = after.at - input.closedAt;
    }
    if (e.resolveWithin !== undefined && (out.resolveDelayMs === null || out.resolveDelayMs > e.resolveWithin)) {
      problems.push(out.resolveDelayMs === null ? `still firing ${seconds(input.until - input.closedAt)} after the window closed (resolveWithin ${seconds(e.resolveWithin)})` : `resolved ${seconds(out.resolveDelayMs)} after the window closed, beyond ${seconds(e.resolveWithin)}`);
    }
  }
  if (out.firedAt && input.alertmanager && amPolls.length > 0 && !out.notifiedAt) problems.push('fired in Prometheus but never reached Alertmanager (active, unsilenced)');
  if (problems.length > 0) {
    out.verdict = 'fail';
    out.reason = [...problems, ...unsure].join('; ');
  } else if (unsure.length > 0) {
    out.verdict = 'inconclusive';
    out.reason = `${unsure.join('; ')}: not judged there${out.steps.some((st) => st.judged === 'fire') ? `; ${stepsFiredText(out.steps)}` : ''}`;
  } else if (e.steps) {
    out.reason = `${stepsFiredText(out.steps)}${out.steps.some((st) => st.judged === 'quiet') ? `; quiet before step ${firstJudged + 1}` : ''}${out.resolvedAt ? `; resolved ${seconds(out.resolveDelayMs ?? 0)} after the window closed` : ''}`;
  } else {
    out.reason = `fired ${seconds(out.delayMs ?? 0)} after the step began (bound ${seconds(within)})${out.resolvedAt ? `; resolved ${seconds(out.resolveDelayMs ?? 0)} after the window closed` : ''}`;
  }
  return out;
}

/** "fired 3.2s after step 2 began", for each step it was expected on. */
function stepsFiredText(steps: readonly AlertStepOutcome[]): string {
  return steps
    .filter((st) => st.judged === 'fire' && st.delayMs !== null)
    .map((st) => `fired ${seconds(st.delayMs as number)} after step ${st.index + 1} began${st.alreadyFiring ? ' (already firing)' : ''}`)
    .join('; ');
}

export function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}
