/**
 * The report's alerts section: the alert expectations' own verdict, beside
 * the metrics', with per alert when it fired, how long that took after the
 * step began, when it resolved, and whether Alertmanager held it.
 */
import type { AlertsResult } from '../../alerts/types.ts';
import { alertsCombination, delayText, expectationText } from '../alerts-text.ts';
import { escapeHtml } from '../escape.ts';
import { timeText } from './format.ts';
import { pill } from './layout.ts';

const TONE: Record<string, string> = { pass: 'good', fail: 'bad', inconclusive: 'neutral' };

export function alertsSection(alerts: AlertsResult | undefined): string {
  if (!alerts) return '';
  const out = [
    '<section aria-labelledby="h-alerts">',
    `<h2 id="h-alerts">Alerts ${pill(`alerts: ${alerts.verdict}`, TONE[alerts.verdict] ?? 'neutral')}</h2>`,
    `<p>${escapeHtml(alerts.reason)}.</p>`,
    `<p class="note">${escapeHtml(alertsCombination(alerts))}. Watched ${escapeHtml(timeText(alerts.watched.from))} to ${escapeHtml(timeText(alerts.watched.until))}: ${alerts.watched.polls} looks${alerts.watched.failedPolls ? `, ${alerts.watched.failedPolls} failed` : ''}${alerts.watched.alertmanager ? ', at Prometheus and Alertmanager' : ', at Prometheus'}.</p>`,
    '<div class="table-scroll"><table class="alerts"><thead><tr><th>Alert</th><th>Expected</th><th>Verdict</th><th>Fired at</th><th class="num">Delay</th><th>Resolved at</th><th class="num">Resolve delay</th><th>In Alertmanager</th><th>Detail</th></tr></thead><tbody>',
  ];
  for (const a of alerts.alerts) {
    const labels = a.labels ? Object.entries(a.labels).map(([k, v]) => `${k}="${v}"`).join(', ') : '';
    out.push(
      `<tr><td class="wrap"><code>${escapeHtml(a.name)}</code>${labels ? `<br><small>${escapeHtml(labels)}</small>` : ''}</td>` +
        `<td>${escapeHtml(expectationText(a))}</td><td>${pill(a.verdict, TONE[a.verdict] ?? 'neutral')}</td>` +
        `<td>${escapeHtml(a.firedAt ? timeText(a.firedAt) : '—')}</td><td class="num">${escapeHtml(delayText(a.delayMs))}</td>` +
        `<td>${escapeHtml(a.resolvedAt ? timeText(a.resolvedAt) : '—')}</td><td class="num">${escapeHtml(delayText(a.resolveDelayMs))}</td>` +
        `<td>${escapeHtml(a.notifiedAt ? timeText(a.notifiedAt) : '—')}</td><td class="wrap">${escapeHtml(a.reason)}</td></tr>`,
    );
  }
  out.push('</tbody></table></div>', '</section>');
  return out.join('\n');
}
