/**
 * A fault ladder in every report: JSON (`run.ladder`, existing fields kept),
 * Markdown, HTML (a dose–response chart per metric) and Slack, each naming
 * the highest level tolerated and the first level that harmed; user text in
 * levels and names renders as text.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LadderRecord, RunRecord } from '../../src/engine/types.ts';
import { blockKitViolations, verdictMessage } from '../../src/notifiers/slack-blocks.ts';
import { renderHtmlReport } from '../../src/reports/html/html-report.ts';
import { renderMarkdownReport } from '../../src/reports/markdown-report.ts';
import { runSummary } from '../../src/reports/run-summary.ts';
import { summarizeDoseResponse, type StepMetric } from '../../src/stats/dose-response.ts';
import { failedRun } from '../fixtures/runs/runs.ts';
import { assertSafeMarkup } from './markup.ts';

const BASE = Date.parse('2026-03-14T09:26:50Z');

function sps(verdict: StepMetric['verdict'], rel: number, ci: [number, number]): StepMetric {
  return {
    name: 'checkout-sps <b>',
    verdict,
    reason: 'r',
    effect: rel * 100,
    relativeEffect: rel,
    ci: [ci[0] * 100, ci[1] * 100],
    relativeCi: ci,
    pValue: 0.01,
    allowed: 5,
    toleranceKind: 'relative',
    tolerance: 0.05,
    direction: 'decrease',
    n: { control: 20, experiment: 20 },
  };
}

function ladderRun(): RunRecord {
  const record = failedRun(BASE).record;
  const at = (s: number): string => new Date(BASE + s * 1000).toISOString();
  const steps: LadderRecord['steps'] = [
    { index: 0, params: { latencyMs: 200 }, label: 'latencyMs=200', plannedMs: 20_000, startedAt: at(0), endedAt: at(20), verdict: 'pass', metrics: [sps('pass', -0.01, [-0.03, 0.01])] },
    { index: 1, params: { latencyMs: 500 }, label: 'latencyMs=500 <script>', plannedMs: 20_000, startedAt: at(20), endedAt: at(40), verdict: 'fail', metrics: [sps('fail', -0.3, [-0.4, -0.2])] },
    { index: 2, params: { latencyMs: 1000 }, label: 'latencyMs=1000', plannedMs: 20_000, startedAt: null, endedAt: null, verdict: null, metrics: null },
  ];
  const ladder: LadderRecord = { stopAt: 'fail', alpha: 0.05 / 3, steps, stopped: { index: 1, by: 'fail', reason: 'step 2 failed' } };
  ladder.doseResponse = summarizeDoseResponse(steps.map((s) => ({ index: s.index, label: s.label, metrics: s.metrics })));
  return { ...record, ladder };
}

test('JSON carries the ladder beside the existing fields', () => {
  const run = ladderRun();
  const { ladder: _ladder, ...rest } = run;
  const plain = runSummary(rest);
  const { run: summary } = runSummary(run);
  assert.deepEqual(Object.keys(summary).filter((k) => k !== 'ladder'), Object.keys(plain.run));
  assert.equal(summary.ladder?.doseResponse?.highestTolerated?.label, 'latencyMs=200');
  assert.deepEqual(summary.ladder?.steps.map((s) => [s.index, s.startedAt !== null]), [[0, true], [1, true], [2, false]]);
});

test('Markdown names the highest level tolerated and the first that harmed, with each step effect and interval', () => {
  const md = renderMarkdownReport(ladderRun());
  assert.match(md, /## Dose–response \(fault ladder\)/);
  assert.match(md, /Highest level tolerated: latencyMs=200 \\\(step 1\\\); first level that harmed: latencyMs=500 &lt;script\\> \\\(step 2; checkout\\-sps &lt;b\\>\\\)/);
  assert.ok(!md.includes('<script>'), 'a level is text');
  assert.match(md, /\| 2 \| latencyMs=500 &lt;script\\> \| .* \| fail \| −30\.0% \[−40\.0%, −20\.0%\] fail \|/);
  assert.match(md, /\| 3 \| latencyMs=1000 \| not reached \| — \| — \|/);
});

test('HTML draws effect against level with intervals and the band, and stays safe markup', () => {
  const html = renderHtmlReport(ladderRun(), { generatedAt: new Date(BASE + 300_000) });
  assertSafeMarkup(html);
  assert.match(html, /<h2 id="h-ladder">Dose–response: the fault ladder<\/h2>/);
  assert.match(html, /Highest level tolerated: latencyMs=200/);
  assert.ok(!html.includes('<script>'), 'a level is text');
  const chart = html.slice(html.indexOf('id="dose-0-name"'));
  // Two judged steps: two interval bars and two points; the third step is labelled, not drawn.
  assert.equal((chart.slice(0, chart.indexOf('</figure>')).match(/<circle /g) ?? []).length, 2);
  assert.match(chart, />not reached</);
  assert.match(chart, /tolerance −5%/);
});

test('Slack shows one line per step within Block Kit limits', () => {
  const run = ladderRun();
  const message = verdictMessage({ id: run.id, experiment: run.experiment, state: run.state, verdict: run.verdict, reason: run.reason, startedAt: run.startedAt, endedAt: run.endedAt, fault: { injector: 'http-proxy', durationMs: 60_000, params: {} }, metrics: run.metrics, ...(run.ladder ? { ladder: run.ladder } : {}) });
  assert.deepEqual(blockKitViolations(message), []);
  const text = JSON.stringify(message.blocks);
  assert.match(text, /Dose–response:\* Highest level tolerated: latencyMs=200/);
  assert.match(text, /❌ 2\. `latencyMs=500 &lt;script&gt;` — checkout-sps &lt;b&gt; −30\.0% \[−40\.0%, −20\.0%\]/);
  assert.match(text, /▫️ 3\. `latencyMs=1000` — not reached/);
});
