/**
 * What a guardrail's evaluations are, in which unit, and which lines belong
 * on its chart: shared by the HTML chart, the halt texts of every report and
 * Slack, so that "value 2.3% against max 2%" reads the same everywhere.
 */
import type { HaltInfo } from '../engine/types.ts';
import { formatValue } from '../lib/format-units.ts';
import { MULTIPLE, NO_UNIT, resolveUnit, type Unit } from '../lib/units.ts';
import type { GuardrailSpecView, SpecView } from './html/spec-view.ts';
import type { ChartRule } from './html/svg-chart.ts';

/** What a guardrail's chart plots, in which unit, against which lines. */
export interface GuardrailPlot {
  /** The plotted value, for the legend: "query value", "burn rate", "experiment ÷ control". */
  line: string;
  /** The y axis's title, without unit (the axis adds it). */
  axis: string;
  unit: Unit;
  rules: ChartRule[];
  /** A sentence for the caption, when the lines need one; empty otherwise. */
  note: string;
}

/**
 * Each kind of guardrail records a different value per evaluation
 * (src/engine/guardrail-monitor.ts): a threshold guardrail its query's value;
 * an SLO guardrail the burn rate (error ratio ÷ error budget, the lower of the
 * long and the short window); a compare guardrail the sequential test's running
 * estimate (experiment ÷ control for a relative tolerance, experiment −
 * control for an absolute one), which halts on the test's p-value, not on a line.
 */
export function guardrailPlot(g: GuardrailSpecView | undefined, halt: HaltInfo | undefined, threshold: { max?: number; min?: number } | undefined, spec: SpecView): GuardrailPlot {
  const kind = g?.kind ?? halt?.kind ?? 'threshold';
  if (kind === 'slo') {
    const limit = g?.burnRate ?? threshold?.max;
    return {
      line: 'burn rate (error ratio ÷ error budget)',
      axis: 'burn rate',
      unit: MULTIPLE,
      rules: limit === undefined ? [] : [{ y: limit, kind: 'threshold', label: `burn-rate limit ${formatValue(limit, MULTIPLE)}` }],
      note: 'Burn rate 1× spends the error budget exactly over the SLO period; the run halts when both the long and the short window burn at the limit or faster.',
    };
  }
  if (kind === 'compare') return comparePlot(g, halt, spec);
  const unit = g?.query ? resolveUnit({ query: g.query }) : NO_UNIT;
  const rules: ChartRule[] = [];
  if (threshold?.max !== undefined) rules.push({ y: threshold.max, kind: 'threshold', label: `threshold max ${formatValue(threshold.max, unit, { digits: 4 })}` });
  if (threshold?.min !== undefined) rules.push({ y: threshold.min, kind: 'threshold', label: `${threshold.max === undefined ? 'threshold ' : ''}min ${formatValue(threshold.min, unit, { digits: 4 })}` });
  return { line: 'query value', axis: 'query value', unit, rules, note: '' };
}

function comparePlot(g: GuardrailSpecView | undefined, halt: HaltInfo | undefined, spec: SpecView): GuardrailPlot {
  const metric = spec.metrics.find((m) => m.name === g?.compare);
  const alpha = g?.alpha ?? halt?.threshold?.alpha ?? spec.alpha;
  const halts = `The run halts when the anytime-valid test of "no harm beyond tolerance" reaches p ≤ ${alpha === undefined ? 'alpha' : formatValue(alpha, NO_UNIT)}, not when the estimate crosses a line: the lines show the tolerance it is tested against.`;
  const tol = metric?.tolerance;
  const what = metric ? metric.name : 'the metric';
  if (!tol) return { line: `running estimate on ${what}`, axis: 'estimate', unit: NO_UNIT, rules: [], note: halts };
  const relative = tol.kind === 'relative';
  const unit = relative ? MULTIPLE : resolveUnit({ unit: metric?.unit, query: metric?.query });
  const none = relative ? 1 : 0;
  const rules: ChartRule[] = [{ y: none, kind: 'reference', label: `no difference ${formatValue(none, unit)}` }];
  const band = relative ? `${Number((tol.value * 100).toPrecision(3))}%` : formatValue(tol.value, unit);
  const up = relative ? 1 + tol.value : tol.value;
  const down = relative ? 1 - tol.value : -tol.value;
  if (metric?.direction !== 'decrease') rules.push({ y: up, kind: 'limit', label: `tolerance +${band} (${formatValue(up, unit)})` });
  if (metric?.direction !== 'increase') rules.push({ y: down, kind: 'limit', label: `tolerance −${band} (${formatValue(down, unit)})` });
  return {
    line: relative ? `experiment ÷ control, ${what} (running mean)` : `experiment − control, ${what} (running mean)`,
    axis: relative ? 'experiment ÷ control' : 'experiment − control',
    unit,
    rules,
    note: halts,
  };
}

/** The unit of a guardrail's values (its chart's, its halt's): by name, from the spec view. */
export function guardrailUnit(spec: SpecView, name: string, halt?: HaltInfo): Unit {
  const g = spec.guardrails.find((x) => x.name === name);
  return guardrailPlot(g, halt?.guardrail === name ? halt : undefined, undefined, spec).unit;
}

/** A halt's value and limits in the guardrail's unit: { value: "2.6%", limits: "max 2%" }. */
export function haltFigures(h: HaltInfo, unit: Unit): { value: string | undefined; limits: string } {
  const t = h.threshold;
  const limits = t
    ? [
        t.max !== undefined ? `max ${formatValue(t.max, unit, { digits: 4 })}` : '',
        t.min !== undefined ? `min ${formatValue(t.min, unit, { digits: 4 })}` : '',
        t.burnRate !== undefined ? `burn-rate limit ${formatValue(t.burnRate, MULTIPLE)}` : '',
        t.alpha !== undefined ? `alpha ${formatValue(t.alpha, NO_UNIT)}` : '',
      ]
        .filter(Boolean)
        .join(', ')
    : '';
  return { value: h.value === undefined ? undefined : formatValue(h.value, unit), limits };
}
