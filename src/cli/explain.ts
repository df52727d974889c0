/**
 * `steadystate validate --explain`: what a run of this spec will do, from the
 * same functions the engine uses — the queries as rendered per group
 * (templateVars), the collection plan (one `by (group)` query or one per
 * group, and why: collectionPlan, ADR 017), how each metric is judged
 * (queryShape/describeShape, ADR 013), and per guardrail what it evaluates,
 * including the SLO burn-rate windows scaled to the fault (burnRateWindows).
 * Nothing here queries a source.
 */
import { collectionPlan } from '../engine/group-queries.ts';
import { burnRateWindows, errorRatioQuery } from '../engine/guardrails.ts';
import { historyMs, metricShapes, shorterWindows } from '../engine/kpi-guardrails.ts';
import { formatDuration } from '../lib/duration.ts';
import { metricSourceRegistry } from '../metric-sources/registry.ts';
import { guaranteedSamples } from '../metric-sources/types.ts';
import { describeShape } from '../queries/query-shape.ts';
import type { Experiment, Guardrail, SteadyStateMetric } from '../spec/schema.ts';
import { renderQuery, templateVars } from '../spec/template.ts';

const percent = (fraction: number): string => `${Number((fraction * 100).toPrecision(6))}%`;

const DIRECTION: Record<SteadyStateMetric['direction'], string> = {
  increase: 'an increase is bad',
  decrease: 'a decrease is bad',
  either: 'a change either way is bad',
};

/** The explanation, one line per element, indented two spaces. */
export function explainExperiment(experiment: Experiment): string[] {
  const { spec } = experiment;
  const factory = metricSourceRegistry.get(spec.source.kind);
  const step = formatDuration(spec.source.step);
  const fault = formatDuration(spec.fault.duration);
  const samples = guaranteedSamples(spec.fault.duration, spec.source.step, factory?.endExclusive === true);
  const judge =
    spec.analysis.method === 'paired'
      ? 'the paired judge (dependence-aware, ADR 013)'
      : 'Mann-Whitney (Kayenta parity; assumes independent samples)';
  const lines = [
    `  plan: ${spec.source.kind} source at ${step} step; fault window ${fault} (${samples} samples per group); ` +
      `guardrails every ${formatDuration(spec.analysis.interval)}; judged by ${judge} at alpha ${spec.analysis.alpha} ` +
      `(${percent(1 - spec.analysis.alpha)} intervals)`,
  ];
  const shapes = metricShapes(spec);
  for (const metric of spec.steadyState) {
    const shape = shapes.get(metric.name);
    // The paired judge compares means (ADR 013), Kayenta's Mann-Whitney medians.
    const centre = spec.analysis.method === 'paired' ? 'mean' : 'median';
    const tolerance = metric.tolerance.kind === 'relative' ? `${percent(metric.tolerance.value)} of control's ${centre}` : `${metric.tolerance.value} in the metric's unit`;
    lines.push(`  metric ${metric.name}: ${DIRECTION[metric.direction]}, tolerance ${tolerance}, at least ${metric.minSamples ?? spec.analysis.minSamples} samples per group`);
    for (const group of ['control', 'experiment'] as const) {
      lines.push(`    ${`${group}:`.padEnd(12)}${renderQuery(metric.query, templateVars(experiment, group))}`);
    }
    const window = shape?.windowMs != null ? `range window ${formatDuration(shape.windowMs)}` : 'no range window';
    lines.push(`    step ${step}, ${window}`);
    const plan = collectionPlan(spec, metric, (group) => templateVars(experiment, group), factory?.groupsByLabel === true);
    if (plan.ok) {
      lines.push(`    collection: one query for both groups, split by label ${plan.grouped.label} (ADR 017):`);
      lines.push(`      ${plan.grouped.query}`);
    } else {
      lines.push(`    collection: one query per group, because ${plan.reason}`);
    }
    if (shape) lines.push(`    judged: ${describeShape(shape, spec.source.step, spec.fault.duration)}`);
  }
  for (const guardrail of spec.guardrails) lines.push(...explainGuardrail(experiment, guardrail, shapes));
  return lines;
}

function explainGuardrail(experiment: Experiment, g: Guardrail, shapes: ReturnType<typeof metricShapes>): string[] {
  const { spec } = experiment;
  const render = (q: string): string => renderQuery(q, templateVars(experiment));
  const times = (n: number): string => `${n} evaluation${n === 1 ? '' : 's'} in a row`;
  if (g.kind === 'threshold') {
    const bounds = [g.max !== undefined ? `above ${g.max}` : '', g.min !== undefined ? `below ${g.min}` : ''].filter(Boolean).join(' or ');
    return [`  guardrail ${g.name} (threshold): halts when ${bounds} for ${times(g.for)}`, `    query: ${render(g.query)}`];
  }
  if (g.kind === 'slo') {
    const w = burnRateWindows(g, spec.fault.duration, spec.source.step);
    const origin = g.windows
      ? 'as the spec sets them, in whole steps'
      : `scaled to the ${formatDuration(spec.fault.duration)} fault at ${formatDuration(spec.source.step)} step ` +
        '(long: a quarter of the fault, 10 steps and 10s to 1h; short: a twelfth of long, at least 3 steps)';
    return [
      `  guardrail ${g.name} (SLO ${percent(g.slo.objective)}, burn rate ${g.burnRate}×): halts when the error ratio is at least ` +
        `${percent(g.burnRate * (1 - g.slo.objective))} over both windows for ${times(g.for)}`,
      `    windows: long ${formatDuration(w.longMs)}, short ${formatDuration(w.shortMs)}, ${origin}`,
      `    long:  ${errorRatioQuery(g, w.longMs, render)}`,
      `    short: ${errorRatioQuery(g, w.shortMs, render)}`,
    ];
  }
  const metric = spec.steadyState.find((m) => m.name === g.compare);
  const shape = metric && shapes.get(metric.name);
  const history = shape ? `, noise learned over the ${formatDuration(historyMs(spec, shape))} before the window` : '';
  const lines = [
    `  guardrail ${g.name} (compare ${g.compare}): anytime-valid sequential test at alpha ${g.alpha ?? spec.analysis.alpha}, ` +
      `halts when the experiment group is worse than control beyond the tolerance${history}`,
  ];
  const shorter = metric && shape ? shorterWindows(spec, metric, shape) : [];
  if (metric && shape?.windowMs != null && shorter.length > 0) {
    const windows = shorter.map((c) => formatDuration(c.windowMs)).join(' or ');
    lines.push(
      `    reads ${metric.name} over ${windows} windows if the source answers them at its history's steps (tried at preflight; ` +
        `else the query's own ${formatDuration(shape.windowMs)}): a sudden drop then shows within a few steps, not ${shape.windowSteps} (ADR 026)`,
      `      experiment: ${render(shorter[0]!.query)}`,
    );
  }
  return lines;
}
