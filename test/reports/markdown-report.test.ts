/**
 * The Markdown report: numbers in the metric's unit (read from the spec's
 * queries), effects without a percentage on a base near zero, tolerances
 * with units, the halt's value in the guardrail's unit; and what it still
 * says without a spec.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunRecord } from '../../src/engine/types.ts';
import { renderMarkdownReport } from '../../src/reports/markdown-report.ts';
import { loadExperiment } from '../../src/spec/load.ts';
import { failedRun, haltedRun } from '../fixtures/runs/runs.ts';

const BASE = Date.parse('2026-03-14T09:26:50Z');

/** The cells of a metric's row, Markdown escapes removed. */
function row(md: string, metric: string): string[] {
  const line = md.split('\n').find((l) => l.startsWith(`| ${metric.replace(/-/g, '\\-')} |`));
  assert.ok(line, `a row for ${metric}`);
  return line.split(' | ').map((c) => unescape(c.replace(/^\| |\s\|$/g, '')));
}

const unescape = (s: string): string => s.replace(/\\(.)/g, '$1');

describe('Markdown report', () => {
  it('medians, effects, intervals and tolerances in the unit of each metric', () => {
    const f = failedRun(BASE);
    const md = renderMarkdownReport(f.record, loadExperiment(f.specYaml));
    assert.match(md, /\| metric \| verdict \| control median \(n\) \| experiment median \(n\) \| effect \(exp − ctl\) \| CI \| p\\?-value \| allowed \|/);
    const p95 = row(md, 'p95-latency');
    assert.match(p95[2] ?? '', /^\d+ ms \(\d+\)$/);
    assert.match(p95[4] ?? '', /^\+\d+ ms \(\+\d+(\.\d)?%\)$/);
    assert.match(p95[5] ?? '', /^\[\+\d+ ms, \+\d+ ms\]$/);
    assert.match(p95[7] ?? '', /^±20% of control = ±\d+(\.\d)? ms$/);
    const sps = row(md, 'checkout-sps');
    assert.match(sps[2] ?? '', /^\d+(\.\d+)?\/s \(\d+\)$/);
    assert.match(sps[4] ?? '', /^−\d+(\.\d+)?\/s \(−\d+(\.\d)?%\)$/);
  });

  it('near a zero base: the two values and the difference, no percentage', () => {
    const f = failedRun(BASE);
    const record: RunRecord = structuredClone(f.record);
    const m = record.metrics.find((x) => x.name === 'p95-latency');
    assert.ok(m);
    Object.assign(m, { effect: 0.4544, relativeEffect: 81.14 });
    m.control.median = 0.0056;
    m.control.mean = 0.0056;
    const md = renderMarkdownReport(record, loadExperiment(f.specYaml));
    assert.equal(row(md, 'p95-latency')[4], '5.6 ms → 460 ms (+454 ms)');
  });

  it('the halt in the guardrail\'s unit: an error ratio as a percentage', () => {
    const f = haltedRun(BASE);
    const md = renderMarkdownReport(f.record, loadExperiment(f.specYaml));
    assert.match(unescape(md), /\*\*Halt:\*\* guardrail `checkout-errors` .*\(value \d+(\.\d+)?%, max 2%\)/);
    assert.match(md, /Last values of `checkout-errors` before the halt: .*\d%/);
  });

  it('without a spec, units still come from the queries the series ran', () => {
    const f = failedRun(BASE);
    const md = renderMarkdownReport(f.record);
    assert.match(row(md, 'p95-latency')[2] ?? '', / ms \(/);
  });
});
