/**
 * The report's numbers: per metric the medians, the effect, its interval and
 * the allowed band in the metric's unit, the p-value and the method; then the
 * tests behind each verdict.
 */
import type { RunRecord } from '../../engine/types.ts';
import type { MetricVerdict } from '../../stats/verdict.ts';
import { formatDelta, formatPercentChange } from '../../lib/format-units.ts';
import { escapeHtml } from '../escape.ts';
import { metricTexts, metricUnits } from '../metric-text.ts';
import { num, pValueText } from './format.ts';
import { pill, VERDICT_TONE } from './layout.ts';
import type { SpecView } from './spec-view.ts';

const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** Checks whose estimate is a difference in the metric's unit; the others estimate a ratio. */
const DIFFERENCE_TESTS = new Set(['mann-whitney', 'paired-difference']);

export function numbersSection(run: RunRecord, spec: SpecView): string {
  const unitOf = metricUnits(spec.metrics, run.series);
  const out = ['<section aria-labelledby="h-numbers">', '<h2 id="h-numbers">The numbers behind the verdict</h2>'];
  if (run.metrics.length === 0) {
    out.push('<p class="note">No metric was analysed.</p>', '</section>');
    return out.join('\n');
  }
  const levels = unique(run.metrics.map((m) => confidenceText(m.alpha)));
  const ciHead = levels.length === 1 ? `${levels[0]} CI` : 'CI';
  const powers = unique(run.metrics.map((m) => m.power).filter((p): p is number => typeof p === 'number'));
  const hasMde = run.metrics.some((m) => m.mde !== undefined);
  const mdeHead = powers.length === 1 ? `Detectable (${Number(((powers[0] as number) * 100).toPrecision(3))}% power)` : 'Detectable shift';
  out.push(
    '<div class="table-scroll"><table class="metrics">',
    '<thead><tr><th>Metric</th><th>Verdict</th>' +
      '<th class="num"><span class="swatch swatch-control"></span>Control median (n)</th>' +
      '<th class="num"><span class="swatch swatch-experiment"></span>Experiment median (n)</th>' +
      `<th class="num">Effect (exp − ctl)</th><th class="num">${escapeHtml(ciHead)}</th>` +
      `<th class="num">p‑value</th><th class="num">Allowed (tolerance)</th>${hasMde ? `<th class="num">${escapeHtml(mdeHead)}</th>` : ''}<th>Method</th></tr></thead>`,
    '<tbody>',
  );
  for (const m of run.metrics) {
    const t = metricTexts(m, unitOf(m.name));
    const ci = m.ci ? `${t.ci}${levels.length === 1 ? '' : ` (${confidenceText(m.alpha)})`}` : '—';
    const mde = t.mde === '—' ? t.mde : `${t.mde}${typeof m.mdeRelative === 'number' ? ` (${formatPercentChange(m.mdeRelative).replace(/^[+−]/, '±')})` : ''}`;
    out.push(
      `<tr><td class="wrap">${escapeHtml(m.name)}</td><td>${pill(m.verdict, VERDICT_TONE[m.verdict] ?? 'neutral')}</td>` +
        `<td class="num">${escapeHtml(t.controlMedian)} (${m.control.n})</td>` +
        `<td class="num">${escapeHtml(t.experimentMedian)} (${m.experiment.n})</td>` +
        `<td class="num effect">${escapeHtml(t.effect)}</td>` +
        `<td class="num ci">${escapeHtml(ci)}</td><td class="num">${escapeHtml(pValueText(m.pValue))}</td>` +
        `<td class="num tolerance">${escapeHtml(t.tolerance)}</td>${hasMde ? `<td class="num">${escapeHtml(mde)}</td>` : ''}<td>${escapeHtml(methodText(m))}</td></tr>`,
    );
  }
  out.push('</tbody></table></div>');
  const checked = run.metrics.filter((m) => (m.checks?.length ?? 0) > 0);
  if (checked.length > 0) {
    out.push(
      '<h3 class="sub">Tests behind each verdict</h3>',
      '<div class="table-scroll"><table class="checks"><thead><tr><th>Metric</th><th>Test</th><th>Null hypothesis</th>' +
        '<th class="num">Estimate</th><th class="num">p‑value</th><th class="num">Holm-adjusted</th><th>Outcome</th></tr></thead><tbody>',
    );
    for (const m of checked) {
      for (const c of m.checks ?? []) {
        const outcome = c.rejected && c.harmful ? pill('harmful, significant', 'bad') : c.rejected ? pill('significant, within band', 'neutral') : pill('not significant', 'neutral');
        out.push(
          `<tr><td class="wrap">${escapeHtml(m.name)}</td><td>${escapeHtml(TESTS[c.test] ?? c.test)}</td><td class="wrap">${escapeHtml(c.hypothesis)}</td>` +
            `<td class="num">${escapeHtml(DIFFERENCE_TESTS.has(c.test) ? formatDelta(c.estimate, unitOf(m.name)) : c.estimate === null ? '—' : `${num(c.estimate)}×`)}</td>` +
            `<td class="num">${escapeHtml(pValueText(c.pValue))}</td><td class="num">${escapeHtml(pValueText(c.adjustedPValue))}</td><td>${outcome}</td></tr>`,
        );
      }
    }
    out.push('</tbody></table></div>');
  }
  const corrected = run.metrics.some((m) => (m.checks?.length ?? 0) > 1 || (m.checks ?? []).some((c) => c.adjustedPValue !== c.pValue));
  out.push(
    `<p class="note">Effect: the Hodges–Lehmann shift, experiment − control, in the metric's unit, over each group's per-step values in the fault window. ` +
      `A metric fails on a significant change beyond its allowed band on its bad side; it passes when the interval rules such a change out` +
      `${hasMde ? ' and the run had the power to see one' : ''}; otherwise it is inconclusive.` +
      `${corrected ? ' Multiple testing: p-values are Holm-adjusted over every check of a metric, and across the run\'s metrics where the run reason says so; a metric fails only on an adjusted p-value below alpha.' : ''}</p>`,
  );
  out.push('</section>');
  return out.join('\n');
}

const SHORT_TESTS: Record<string, string> = {
  'mann-whitney': 'Mann-Whitney U',
  'brown-forsythe': 'Brown–Forsythe',
  'poisson-rate': 'exact Poisson',
};

const TESTS: Record<string, string> = {
  'mann-whitney': 'Mann-Whitney U (shift, Hodges–Lehmann)',
  'brown-forsythe': 'Brown–Forsythe (spread)',
  'poisson-rate': 'exact Poisson (event rate)',
  'paired-ratio': 'paired ratio of means on independent windows (Fieller interval)',
  'paired-difference': 'paired difference of means on independent windows',
  'paired-spread': 'paired spread (reported unless the spec judges it)',
  'overdispersed-poisson': 'Poisson with dispersion (event rate)',
};

/** The tests a verdict rests on, by name; their p-values are in the table below it. */
function methodText(m: MetricVerdict): string {
  const checks = m.checks ?? [];
  if (checks.length === 0) return m.method === 'mann-whitney' ? "Mann-Whitney U (as R's wilcox.test), Hodges–Lehmann shift" : String(m.method);
  const names = checks.map((c) => SHORT_TESTS[c.test] ?? c.test);
  return `${names.join(' + ')}${checks.length > 1 ? ', Holm' : ''}`;
}

function confidenceText(alpha: number): string {
  return Number.isFinite(alpha) ? `${Number(((1 - alpha) * 100).toPrecision(3))}%` : '?';
}

