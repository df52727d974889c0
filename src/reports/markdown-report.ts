/**
 * The Markdown report, for PR comments and chat: verdict first, then the
 * numbers that explain it, then the timeline. Every user string is escaped.
 */
import type { RunRecord } from '../engine/types.ts';
import { formatNumber } from '../lib/format-number.ts';
import { escapeMarkdown, markdownCode } from './escape.ts';
import { bandText, ladderHeadline, stepEffectText, stepSpanText } from './ladder-text.ts';

const BADGE: Record<string, string> = {
  passed: '✅ PASSED',
  failed: '❌ FAILED',
  inconclusive: '❔ INCONCLUSIVE',
  halted: '🛑 HALTED',
  halt_failed: '🚨 HALT FAILED — FAULT MAY STILL BE ACTIVE',
  aborted: '⏹ ABORTED',
  errored: '⚠️ ERRORED',
};

export function renderMarkdownReport(run: RunRecord): string {
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
  if (run.halt) {
    const h = run.halt;
    const threshold = [h.threshold?.max !== undefined ? `max ${formatNumber(h.threshold.max)}` : '', h.threshold?.min !== undefined ? `min ${formatNumber(h.threshold.min)}` : '']
      .filter(Boolean)
      .join(', ');
    lines.push(
      `- **Halt:** guardrail ${markdownCode(h.guardrail)} at ${h.at}: ${escapeMarkdown(h.reason)}${h.value !== undefined ? ` (value ${formatNumber(h.value)}` + (threshold ? `, ${threshold})` : ')') : ''}`,
    );
  }
  if (run.halt?.recent && run.halt.recent.length > 0) {
    lines.push(
      `- Last values of ${markdownCode(run.halt.guardrail)} before the halt: ${run.halt.recent
        .map((o) => `${new Date(o.at).toISOString().slice(11, 19)} ${o.value === null ? 'no data' : formatNumber(o.value)}`)
        .join(', ')}`,
    );
  }
  lines.push('');
  lines.push('## Steady-state metrics');
  lines.push('');
  if (run.metrics.length === 0) {
    lines.push('_No metric was analysed._');
  } else {
    lines.push('| metric | verdict | control median (n) | experiment median (n) | effect (exp − ctl) | relative | CI | p-value | allowed |');
    lines.push('|---|---|---|---|---|---|---|---|---|');
    for (const m of run.metrics) {
      lines.push(
        `| ${escapeMarkdown(m.name)} | ${m.verdict} | ${num(m.control.median)} (${m.control.n}) | ${num(m.experiment.median)} (${m.experiment.n}) | ${num(m.effect)} | ${m.relativeEffect === null ? '—' : `${(m.relativeEffect * 100).toFixed(1)}%`} | ${m.ci ? `[${num(m.ci[0])}, ${num(m.ci[1])}]` : '—'} | ${m.pValue === null ? '—' : m.pValue.toPrecision(3)} | ±${num(m.allowed)} |`,
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
  lines.push('## Timeline');
  lines.push('');
  for (const e of run.events) lines.push(`- ${e.at} ${markdownCode(e.type)} ${escapeMarkdown(e.message)}`);
  lines.push('');
  return lines.join('\n');
}

const num = (v: number | null | undefined): string => formatNumber(v);

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
  lines.push('', `_Tolerance: ${bands.filter(Boolean).join(', ')}. Each step judged on its own samples (from one range window after it began) at alpha ${formatNumber(ladder.alpha)} (alpha / steps); the highest level tolerated is the last of the unbroken passes from the first step._`);
  return lines;
}
