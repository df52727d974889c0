/** The alerts section in every report: JSON summary, Markdown, HTML and Slack, with user text escaped. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlertsResult } from '../../src/alerts/types.ts';
import type { RunRecord } from '../../src/engine/types.ts';
import { blockKitViolations, verdictMessage, type RunView } from '../../src/notifiers/slack-blocks.ts';
import { renderHtmlReport } from '../../src/reports/html/html-report.ts';
import { renderMarkdownReport } from '../../src/reports/markdown-report.ts';
import { runSummary } from '../../src/reports/run-summary.ts';

const alerts: AlertsResult = {
  verdict: 'fail',
  reason: 'Quiet<b>: must never fire, but fired at 2026-12-02T10:00:05.000Z',
  onFail: 'report',
  watched: { from: '2026-12-02T10:00:00.000Z', until: '2026-12-02T10:00:20.000Z', polls: 20, failedPolls: 1, alertmanager: true },
  alerts: [
    { name: 'Burn', labels: { severity: 'page' }, expect: 'fire', verdict: 'pass', reason: 'fired 2.4s after the step began (bound 5.0s)', withinMs: 5_000, firedAt: '2026-12-02T10:00:02.400Z', delayMs: 2_400, resolvedAt: '2026-12-02T10:00:13.000Z', resolveDelayMs: 3_000, notifiedAt: '2026-12-02T10:00:03.000Z', steps: [] },
    { name: 'Quiet<b>', expect: 'never', verdict: 'fail', reason: 'must never fire, but fired at 2026-12-02T10:00:05.000Z', firedAt: '2026-12-02T10:00:05.000Z', delayMs: 5_000, resolvedAt: null, resolveDelayMs: null, notifiedAt: null, steps: [] },
  ],
};

const run: RunRecord = {
  id: 'run-1',
  experiment: 'exp',
  state: 'passed',
  verdict: 'pass',
  reason: 'all 0 metrics passed',
  startedAt: '2026-12-02T09:59:50.000Z',
  endedAt: '2026-12-02T10:00:25.000Z',
  window: { openedAt: '2026-12-02T10:00:00.000Z', deadline: '2026-12-02T10:00:10.000Z', closedAt: '2026-12-02T10:00:10.000Z', closedBy: 'deadline' },
  metrics: [],
  series: [],
  guardrails: [],
  events: [],
  alerts,
};

test('JSON: run.alerts beside the contract fields, which are unchanged', () => {
  const { run: s } = runSummary(run);
  assert.deepEqual(s.alerts, alerts);
  assert.deepEqual(Object.keys(s), ['id', 'experiment', 'state', 'verdict', 'reason', 'startedAt', 'endedAt', 'metrics', 'alerts', 'window']);
  assert.deepEqual(runSummary({ ...run, alerts: undefined }).run.alerts, undefined);
});

test('Markdown and HTML: the verdict, the delays, the combination rule; alert names escaped', () => {
  const md = renderMarkdownReport(run);
  assert.match(md, /## Alerts: ❌ fail/);
  assert.match(md, /\| `Burn` `severity="page"` \| fires within 5\.0s \| ✅ pass \| 2026-12-02T10:00:02\.400Z \| 2\.4s \| 2026-12-02T10:00:13\.000Z \| 3\.0s \| 2026-12-02T10:00:03\.000Z \|/);
  assert.match(md, /the run's state is the metrics' verdict/);
  assert.ok(!md.includes('**Quiet<b>**'));
  const html = renderHtmlReport(run);
  assert.match(html, /<h2 id="h-alerts">Alerts/);
  assert.ok(html.includes('alerts: fail'));
  assert.ok(html.includes('2.4s') && html.includes('3.0s'));
  assert.ok(!html.includes('Quiet<b>') && html.includes('Quiet&lt;b&gt;'));
  assert.ok(!renderHtmlReport({ ...run, alerts: undefined }).includes('h-alerts'));
});

test('Slack: one line per alert in the verdict message, escaped, within Block Kit limits', () => {
  const view: RunView = {
    id: run.id,
    experiment: run.experiment,
    state: run.state,
    verdict: run.verdict,
    reason: run.reason,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    fault: { injector: 'http-proxy', durationMs: 10_000, params: {} },
    metrics: [],
    alerts,
  };
  const message = verdictMessage(view);
  assert.deepEqual(blockKitViolations(message), []);
  const text = JSON.stringify(message.blocks);
  assert.ok(text.includes('Alerts: fail'));
  assert.ok(text.includes('fired after 2.4s, resolved 3.0s after the window'));
  assert.ok(text.includes('Quiet&lt;b&gt;') && !text.includes('Quiet<b>'));
});
