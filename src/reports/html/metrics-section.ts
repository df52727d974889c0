/**
 * The report's steady-state section: each metric's control and experiment
 * over time, with the fault window, the control median and the tolerance
 * limits, on a y axis in the metric's unit.
 */
import type { RunRecord } from '../../engine/types.ts';
import type { Sample } from '../../metric-sources/types.ts';
import type { MetricVerdict } from '../../stats/verdict.ts';
import { formatDelta, formatValue } from '../../lib/format-units.ts';
import type { Unit } from '../../lib/units.ts';
import { escapeHtml } from '../escape.ts';
import { experimentLabel, metricTexts, metricUnits } from '../metric-text.ts';
import { pill, VERDICT_TONE } from './layout.ts';
import type { SpecView } from './spec-view.ts';
import { COLORS, renderTimeChart, type ChartRule } from './svg-chart.ts';
import { ms, offsetText, type TimeFrame } from './time-frame.ts';

const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

export function metricsSection(run: RunRecord, spec: SpecView, time: TimeFrame): string {
  const names = unique([...run.metrics.map((m) => m.name), ...run.series.map((s) => s.metric), ...spec.metrics.map((m) => m.name)]);
  const out = ['<section aria-labelledby="h-metrics">', '<h2 id="h-metrics">Steady state: control vs experiment</h2>'];
  if (names.length === 0) {
    out.push('<p class="note">No steady-state metric was collected or judged.</p>');
  }
  const unitOf = metricUnits(spec.metrics, run.series);
  const experimentName = spec.fault ? experimentLabel(spec.fault) : 'experiment';
  names.forEach((name, i) => {
    const verdict = run.metrics.find((m) => m.name === name);
    const control = run.series.find((s) => s.metric === name && s.group === 'control');
    const experiment = run.series.find((s) => s.metric === name && s.group === 'experiment');
    const metricSpec = spec.metrics.find((m) => m.name === name);
    // The spec's template (with $group) says it once for both groups; the rendered one is the fallback.
    const query = metricSpec?.query ?? control?.query ?? experiment?.query ?? '';
    const unit = unitOf(name);
    const rules = toleranceRules(verdict, metricSpec?.direction, unit);
    const chart = renderTimeChart({
      id: `metric-${i}`,
      title: `${name}: control vs experiment over time`,
      desc: metricDesc(name, verdict, unit, control?.samples ?? [], experiment?.samples ?? [], run, time),
      yLabel: name,
      yUnit: unit,
      origin: time.origin,
      originLabel: time.originLabel,
      xDomain: time.domain,
      lines: [
        { key: 'control', label: 'control', color: COLORS.control, samples: control?.samples ?? [] },
        { key: 'experiment', label: experimentName, color: COLORS.experiment, samples: experiment?.samples ?? [] },
      ],
      spans: time.spans,
      rules,
      markers: time.markers,
    });
    out.push(
      `<figure class="figure" aria-labelledby="metric-${i}-name">`,
      `<div class="figure-head"><h3 id="metric-${i}-name">${escapeHtml(name)}</h3>${verdict ? pill(verdict.verdict, VERDICT_TONE[verdict.verdict] ?? 'neutral') : pill('not judged', 'neutral')}` +
        `${metricSpec?.direction ? `<span class="note">bad direction: ${escapeHtml(metricSpec.direction)}</span>` : ''}</div>`,
      chart,
      `<figcaption class="caption">${verdict ? `${escapeHtml(verdict.reason)}` : 'This metric was not judged.'}` +
        `${query ? `<br><span class="numbers">query <code>${escapeHtml(query)}</code></span>` : ''}</figcaption>`,
      '</figure>',
    );
  });
  out.push('</section>');
  return out.join('\n');
}

/** The control median, and the tolerance limit on each harmful side (both when the direction is unknown). */
function toleranceRules(m: MetricVerdict | undefined, direction: string | undefined, unit: Unit): ChartRule[] {
  if (!m || m.control.median === null || !Number.isFinite(m.control.median)) return [];
  const median = m.control.median;
  const rules: ChartRule[] = [{ y: median, kind: 'median', label: `control median ${formatValue(median, unit)}` }];
  if (!(m.allowed > 0)) return rules;
  // "+20%" for a relative tolerance, "+50 ms" for an absolute one; the limit's value in the unit.
  const band = m.tolerance.kind === 'relative' ? `${Number((m.tolerance.value * 100).toPrecision(3))}%` : formatDelta(m.allowed, unit).slice(1);
  if (direction !== 'decrease') rules.push({ y: median + m.allowed, kind: 'limit', label: `tolerance limit +${band} (${formatValue(median + m.allowed, unit)})` });
  if (direction !== 'increase') rules.push({ y: median - m.allowed, kind: 'limit', label: `${direction === 'decrease' ? 'tolerance limit ' : ''}−${band} (${formatValue(median - m.allowed, unit)})` });
  return rules;
}

function metricDesc(name: string, m: MetricVerdict | undefined, unit: Unit, control: readonly Sample[], experiment: readonly Sample[], run: RunRecord, time: TimeFrame): string {
  const parts = [`${name}, ${control.length} control and ${experiment.length} experiment samples.`];
  if (m) {
    const t = metricTexts(m, unit);
    parts.push(`Control median ${t.controlMedian}, experiment median ${t.experimentMedian}, effect ${t.effect}, verdict ${m.verdict}.`);
  }
  if (run.window) parts.push(`Shaded: the fault window from ${offsetText(0)}.`);
  if (run.halt) parts.push(`Red line: the halt at ${offsetText(ms(run.halt.at) - time.origin)}.`);
  return parts.join(' ');
}

