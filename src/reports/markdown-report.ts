/**
 * The Markdown report, for PR comments and chat: verdict first, then the
 * numbers that explain it, then the timeline. Every user string is escaped.
 */
import type { RunRecord } from '../engine/types.ts';
import { formatValue } from '../lib/format-units.ts';
import { alertsMarkdown } from './alerts-text.ts';
import { escapeMarkdown, markdownCode } from './escape.ts';
import { bandText, ladderHeadline, stepEffectText, stepSpanText } from './ladder-text.ts';
import { guardrailUnit, haltFigures } from './guardrail-plot.ts';
import { specView } from './html/spec-view.ts';
import { metricTexts, metricUnits } from './metric-text.ts';

const BADGE: Record<string, string> = {
  passed: '✅ PASSED',
  failed: '❌ FAILED',
  inconclusive: '❔ INCONCLUSIVE',
  halted: '🛑 HALTED',
  halt_failed: '🚨 HALT FAILED — FAULT MAY STILL BE ACTIVE',
  aborted: '⏹ ABORTED',
  errored: '⚠️ ERRORED',
};

/** `spec`: the spec that ran (parsed, redacted), for units and thresholds; the report renders without it. */
export function renderMarkdownReport(run: RunRecord, spec?: unknown): string {
  const view = specView(spec);
  const unitOf = metricUnits(view.metrics, run.series);
  const lines: string[] = [];
  lines.push(`# ${BADGE[run.state] ?? run.state.toUpperCase()} — ${escapeMarkdown(run.experiment)}`);
  lines.push('');
  lines.push(`**Reason:** ${escapeMarkdown(run.reason || '—')}`);
  lines.push('');
  lines.push(`- Run: ${markdownCode(run.id)}`);
  lines.push(`- Started: ${run.startedAt}; ended: ${run.endedAt ?? '—'}`);
  if (run.window) {
    lines.push(
      `- Fault window: opened ${run.window.openedAt}, deadline ${run.window.deadline}, closed ${run.window.closedAt ?? 'NOT CLOSED'}${run.window.closedBy ? ` (${run.window.closedBy})` : ''}`,
    );
  }
  const haltUnit = run.halt ? guardrailUnit(view, run.halt.guardrail, run.halt) : undefined;
  if (run.halt && haltUnit) {
    const h = run.halt;
    const { value, limits } = haltFigures(h, haltUnit);
    lines.push(
      `- **Halt:** guardrail ${markdownCode(h.guardrail)} at ${h.at}: ${escapeMarkdown(h.reason)}${value !== undefined ? escapeMarkdown(` (value ${value}${limits ? `, ${limits}` : ''})`) : ''}`,
    );
  }
  if (run.halt?.recent && run.halt.recent.length > 0 && haltUnit) {
    lines.push(
      `- Last values of ${markdownCode(run.halt.guardrail)} before the halt: ${escapeMarkdown(
        run.halt.recent.map((o) => `${new Date(o.at).toISOString().slice(11, 19)} ${o.value === null ? 'no data' : formatValue(o.value, haltUnit)}`).join(', '),
      )}`,
    );
  }
  lines.push('');
  lines.push('## Steady-state metrics');
  lines.push('');
  if (run.metrics.length === 0) {
    lines.push('_No metric was analysed._');
  } else {
    lines.push('| metric | verdict | control median (n) | experiment median (n) | effect (exp − ctl) | CI | p-value | allowed |');
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const m of run.metrics) {
      const t = metricTexts(m, unitOf(m.name));
      const cells = [t.controlMedian, t.experimentMedian, t.effect, t.ci].map(escapeMarkdown);
      lines.push(
        `| ${escapeMarkdown(m.name)} | ${m.verdict} | ${cells[0]} (${m.control.n}) | ${cells[1]} (${m.experiment.n}) | ${cells[2]} | ${cells[3]} | ${m.pValue === null ? '—' : m.pValue.toPrecision(3)} | ${escapeMarkdown(t.tolerance)} |`,
      );
    }
    lines.push('');
    for (const m of run.metrics) lines.push(`- **${escapeMarkdown(m.name)}**: ${escapeMarkdown(m.reason)}`);
    const alpha = run.metrics[0]?.alpha;
    lines.push('');
    lines.push(
      `_Method: Mann-Whitney U (normal approximation with tie and continuity correction, as R's wilcox.test), Hodges–Lehmann shift with a ${alpha === undefined ? '' : `${((1 - alpha) * 100).toFixed(0)}% `}confidence interval; each group's per-step values over the fault window._`,
    );
  }
  if (run.ladder) lines.push(...ladderMarkdown(run.ladder));
  lines.push('');
  if (run.alerts) lines.push(...alertsMarkdown(run.alerts));
  lines.push('## Timeline');
  lines.push('');
  for (const e of run.events) lines.push(`- ${e.at} ${markdownCode(e.type)} ${escapeMarkdown(e.message)}`);
  lines.push('');
  return lines.join('\n');
}

/** The dose–response of a fault ladder: the headline, then effect ± interval per step and metric. */
function ladderMarkdown(ladder: NonNullable<RunRecord['ladder']>): string[] {
  const names = [...new Set(ladder.steps.flatMap((s) => (s.metrics ?? []).map((m) => m.name)))];
  const lines = ['', '## Dose–response (fault ladder)', '', `**${escapeMarkdown(ladderHeadline(ladder))}**`, ''];
  lines.push(`| step | level | held | verdict | ${names.map((n) => `${escapeMarkdown(n)} effect [CI]`).join(' | ')} |`);
  lines.push(`|---|---|---|---|${names.map(() => '---|').join('')}`);
  for (const s of ladder.steps) {
    const cells = names.map((n) => {
      const m = s.metrics?.find((x) => x.name === n);
      return m ? `${stepEffectText(m)} ${m.verdict}` : '—';
    });
    lines.push(`| ${s.index + 1} | ${escapeMarkdown(s.label)} | ${stepSpanText(s)} | ${s.verdict ?? '—'} | ${cells.join(' | ')} |`);
  }
  const bands = names.map((n) => {
    const m = ladder.steps.flatMap((s) => s.metrics ?? []).find((x) => x.name === n);
    return m ? `${escapeMarkdown(n)} ${bandText(m)}` : '';
  });
  lines.push('', `_Tolerance: ${bands.filter(Boolean).join(', ')}. Each step judged on its own samples (from one range window after it began) at alpha ${+ladder.alpha.toPrecision(3)} (alpha / steps); the highest level tolerated is the last of the unbroken passes from the first step._`);
  return lines;
}
