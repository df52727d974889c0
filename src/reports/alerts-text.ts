/**
 * The alerts verdict in words, shared by the Markdown report and Slack: one
 * line per expectation — what was expected, what happened, how long it took.
 */
import { seconds } from '../alerts/evaluate.ts';
import type { AlertOutcome, AlertsResult, AlertStepOutcome } from '../alerts/types.ts';
import { escapeMarkdown, markdownCode } from './escape.ts';

const MARK: Record<string, string> = { pass: '✅', fail: '❌', inconclusive: '❔' };

/** How the alerts verdict meets the run's state, in a sentence. */
export function alertsCombination(alerts: AlertsResult): string {
  return alerts.onFail === 'fail'
    ? 'a failed expectation fails the run (expect.onFail: fail)'
    : "reported beside the metrics; the run's state is the metrics' verdict (expect.onFail: report)";
}

export function expectationText(a: AlertOutcome): string {
  if (a.expect === 'never') return 'never fires';
  const parts = [`fires within ${seconds(a.withinMs ?? 0)}${a.onSteps ? ` of step${a.onSteps.length > 1 ? 's' : ''} ${a.onSteps.join(', ')} (quiet before)` : ''}`];
  if (a.resolveWithinMs !== undefined) parts.push(`resolves within ${seconds(a.resolveWithinMs)}`);
  return parts.join(', ');
}

/** A step's verdict, or that it was not judged (after the steps the alert is expected on). */
export function stepVerdictText(s: AlertStepOutcome): string {
  if (s.judged === false) return 'not judged';
  return s.judged === 'quiet' ? `${s.verdict} (must stay quiet)` : s.verdict;
}

export function delayText(ms: number | null): string {
  return ms === null ? '—' : seconds(ms);
}

export function alertsMarkdown(alerts: AlertsResult): string[] {
  const lines = [`## Alerts: ${MARK[alerts.verdict] ?? ''} ${alerts.verdict}`, ''];
  lines.push(`_${escapeMarkdown(alerts.reason)}. ${alertsCombination(alerts)}. Watched ${alerts.watched.from} → ${alerts.watched.until}, ${alerts.watched.polls} looks${alerts.watched.failedPolls ? ` (${alerts.watched.failedPolls} failed)` : ''}${alerts.watched.alertmanager ? ', Prometheus and Alertmanager' : ''}._`);
  lines.push('');
  lines.push('| alert | expected | verdict | fired at | delay | resolved at | resolve delay | in Alertmanager |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const a of alerts.alerts) {
    const labels = a.labels && Object.keys(a.labels).length > 0 ? ` ${markdownCode(Object.entries(a.labels).map(([k, v]) => `${k}="${v}"`).join(','))}` : '';
    lines.push(
      `| ${markdownCode(a.name)}${labels} | ${expectationText(a)} | ${MARK[a.verdict] ?? ''} ${a.verdict} | ${a.firedAt ?? '—'} | ${delayText(a.delayMs)} | ${a.resolvedAt ?? '—'} | ${delayText(a.resolveDelayMs)} | ${a.notifiedAt ?? '—'} |`,
    );
  }
  lines.push('');
  for (const a of alerts.alerts) {
    lines.push(`- **${escapeMarkdown(a.name)}**: ${escapeMarkdown(a.reason)}`);
    if (a.steps.length > 1) {
      for (const s of a.steps) lines.push(`  - step ${s.index + 1} (from ${s.startedAt}): ${stepVerdictText(s)}, ${s.firedAt ? `fired after ${delayText(s.delayMs)}${s.alreadyFiring ? ' (already firing)' : ''}` : 'did not fire'}`);
    }
  }
  lines.push('');
  return lines;
}
