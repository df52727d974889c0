/**
 * The HTML report's dose–response section for a fault ladder (ADR 022): the
 * headline (highest level tolerated, first level that harmed), a chart per
 * steady-state metric of the effect against the fault level — each step's
 * point with its interval, the tolerance band shaded, harm beyond it in
 * red — and the steps' table with their boundaries. Inline SVG, every string
 * escaped.
 */
import type { LadderRecord } from '../../engine/types.ts';
import type { StepMetric } from '../../stats/dose-response.ts';
import { escapeHtml } from '../escape.ts';
import { bandText, ladderHeadline, stepEffectText, stepSpanText } from '../ladder-text.ts';
import { pill, VERDICT_TONE } from './layout.ts';
import { COLORS } from './svg-chart.ts';

const W = 640;
const H = 240;
const M = { left: 64, right: 16, top: 16, bottom: 48 };

export function ladderSection(ladder: LadderRecord | undefined): string {
  if (!ladder) return '';
  const names = [...new Set(ladder.steps.flatMap((s) => (s.metrics ?? []).map((m) => m.name)))];
  const out = ['<section aria-labelledby="h-ladder">', '<h2 id="h-ladder">Dose–response: the fault ladder</h2>', `<p class="reason">${escapeHtml(ladderHeadline(ladder))}</p>`];
  names.forEach((name, i) => out.push(doseChart(ladder, name, i)));
  out.push('<div class="table-scroll"><table class="metrics"><thead><tr><th class="num">Step</th><th>Level</th><th>Held (UTC)</th><th>Verdict</th>');
  out.push(...names.map((n) => `<th>${escapeHtml(n)}: effect [interval]</th>`), '</tr></thead><tbody>');
  for (const s of ladder.steps) {
    const cells = names.map((n) => {
      const m = s.metrics?.find((x) => x.name === n);
      return `<td class="num">${m ? `${escapeHtml(stepEffectText(m))} ${pill(m.verdict, VERDICT_TONE[m.verdict] ?? 'neutral')}` : '—'}</td>`;
    });
    const verdict = s.verdict ? pill(s.verdict, VERDICT_TONE[s.verdict] ?? 'neutral') : pill(s.startedAt ? 'not judged' : 'not reached', 'neutral');
    out.push(`<tr><td class="num">${s.index + 1}</td><td class="wrap">${escapeHtml(s.label)}</td><td>${escapeHtml(stepSpanText(s))}</td><td>${verdict}</td>${cells.join('')}</tr>`);
  }
  out.push('</tbody></table></div>');
  out.push(
    `<p class="note">Each step is judged on its own samples, from one range window after it began (no sample mixes two levels), at alpha ${escapeHtml(String(+ladder.alpha.toPrecision(3)))} (alpha divided by the number of steps). ` +
      'The highest level tolerated is the last of the unbroken run of passed steps from the first.</p>',
    '</section>',
  );
  return out.join('\n');
}

/** Effect (relative for a relative band) against the step, with intervals and the tolerance band. */
function doseChart(ladder: LadderRecord, name: string, i: number): string {
  const points = ladder.steps.map((s) => ({ step: s, m: s.metrics?.find((x) => x.name === name) }));
  const judged = points.filter((p): p is { step: (typeof p)['step']; m: StepMetric } => p.m !== undefined);
  const first = judged[0]?.m;
  if (!first) return '';
  const relative = first.toleranceKind === 'relative';
  const val = (m: StepMetric): [number, number, number] | null => {
    const mid = relative ? m.relativeEffect : m.effect;
    const ci = relative ? m.relativeCi : m.ci;
    return mid === null ? null : [mid, ci?.[0] ?? mid, ci?.[1] ?? mid];
  };
  const band = first.tolerance;
  const ys = [0, band, -band, ...judged.flatMap((p) => val(p.m) ?? [])].filter(Number.isFinite);
  let lo = Math.min(...ys);
  let hi = Math.max(...ys);
  const pad = (hi - lo) * 0.08 || 1;
  lo -= pad;
  hi += pad;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x = (k: number): number => M.left + ((k + 0.5) * plotW) / ladder.steps.length;
  const y = (v: number): number => M.top + ((hi - v) / (hi - lo)) * plotH;
  const fmt = (v: number): string => (relative ? `${(v * 100).toFixed(0)}%` : String(+v.toPrecision(3)));
  const parts: string[] = [];
  // The band where a change is tolerated; beyond it on the harmful side is harm.
  const bandLo = first.direction === 'increase' ? lo : -band;
  const bandHi = first.direction === 'decrease' ? hi : band;
  parts.push(`<rect x="${M.left}" y="${y(bandHi).toFixed(1)}" width="${plotW}" height="${(y(bandLo) - y(bandHi)).toFixed(1)}" fill="${COLORS.planned}" fill-opacity="0.45"><title>tolerance ${escapeHtml(bandText(first))}</title></rect>`);
  for (const edge of [first.direction !== 'decrease' ? band : null, first.direction !== 'increase' ? -band : null]) {
    if (edge === null) continue;
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(edge).toFixed(1)}" y2="${y(edge).toFixed(1)}" stroke="${COLORS.threshold}" stroke-dasharray="5 4"/>`);
    parts.push(`<text x="${W - M.right - 4}" y="${(y(edge) - 4).toFixed(1)}" text-anchor="end" font-size="11" fill="${COLORS.threshold}">tolerance ${escapeHtml(fmt(edge))}</text>`);
  }
  parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(0).toFixed(1)}" y2="${y(0).toFixed(1)}" stroke="${COLORS.axis}"/>`);
  for (const v of [hi - pad, 0, lo + pad]) parts.push(`<text x="${M.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="${COLORS.axis}">${escapeHtml(fmt(v))}</text>`);
  for (const { step, m } of points) {
    const cx = x(step.index);
    parts.push(`<text x="${cx.toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle" font-size="11" fill="${COLORS.axis}">${escapeHtml(step.label)}</text>`);
    const v = m ? val(m) : null;
    if (!m || !v) {
      parts.push(`<text x="${cx.toFixed(1)}" y="${(M.top + plotH / 2).toFixed(1)}" text-anchor="middle" font-size="11" fill="${COLORS.axis}">${step.startedAt ? 'not judged' : 'not reached'}</text>`);
      continue;
    }
    const colour = m.verdict === 'fail' ? COLORS.threshold : m.verdict === 'pass' ? COLORS.control : COLORS.axis;
    parts.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${y(v[1]).toFixed(1)}" y2="${y(v[2]).toFixed(1)}" stroke="${colour}" stroke-width="2"/>`);
    parts.push(`<circle cx="${cx.toFixed(1)}" cy="${y(v[0]).toFixed(1)}" r="5" fill="${colour}"><title>${escapeHtml(`${step.label}: ${stepEffectText(m)} — ${m.verdict}`)}</title></circle>`);
  }
  parts.push(`<text x="${M.left + plotW / 2}" y="${H - 8}" text-anchor="middle" font-size="12" fill="${COLORS.axis}">fault level (step)</text>`);
  const label = `${name}: effect (experiment − control${relative ? ', relative' : ''}) with its interval against the fault level; shaded: tolerated band`;
  return [
    `<figure class="figure" aria-labelledby="dose-${i}-name">`,
    `<div class="figure-head"><h3 id="dose-${i}-name">${escapeHtml(name)}</h3></div>`,
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escapeHtml(label)}">`,
    ...parts,
    '</svg>',
    `<figcaption>${escapeHtml(label)}.</figcaption>`,
    '</figure>',
  ].join('\n');
}
