/**
 * A judged metric's numbers as text in its unit, the same in every report
 * (HTML, Markdown), in Slack and in the CLI: medians "180 ms", the effect
 * "+454 ms (+12%)" or "5.6 ms → 460 ms (+454 ms)" near a zero base, the
 * interval "[+410 ms, +498 ms]", the tolerance "±20% of control = ±36 ms".
 * Plain text: callers escape it for their format. JSON keeps raw numbers.
 */
import { formatDelta, formatEffect, formatInterval, formatTolerance, formatValue } from '../lib/format-units.ts';
import { resolveUnit, type Unit } from '../lib/units.ts';
import type { MetricVerdict } from '../stats/verdict.ts';

export interface MetricTexts {
  unit: Unit;
  controlMedian: string;
  experimentMedian: string;
  /** The effect in the unit, with a percentage when the base allows one. */
  effect: string;
  /** The effect's interval in the unit, "—" without one. */
  ci: string;
  /** The allowed band: the tolerance with its unit. */
  tolerance: string;
  /** The smallest detectable shift, "—" when not computed. */
  mde: string;
}

/** The level an effect is relative to: the judge's (mean for the paired judge, else median). */
export function effectBase(m: MetricVerdict): number | null {
  return m.method === 'paired' ? m.control.mean : m.control.median;
}

export function metricTexts(m: MetricVerdict, unit: Unit): MetricTexts {
  return {
    unit,
    controlMedian: formatValue(m.control.median, unit),
    experimentMedian: formatValue(m.experiment.median, unit),
    effect: formatEffect({
      base: effectBase(m),
      effect: m.effect,
      relative: m.relativeEffect,
      unit,
      absoluteTolerance: m.tolerance.kind === 'absolute' ? m.tolerance.value : undefined,
    }),
    ci: m.ci ? formatInterval(m.ci[0], m.ci[1], unit) : '—',
    tolerance: formatTolerance(m.tolerance, unit, m.allowed),
    mde: m.mde === undefined || m.mde === null ? '—' : `±${formatDelta(Math.abs(m.mde), unit).replace(/^[+−]/, '')}`,
  };
}

/** What a report knows about a metric's unit: a declared `unit:` (when the spec has one), its query. */
export interface MetricUnitSource {
  name: string;
  unit?: string;
  query?: string;
}

/**
 * Each metric's unit by name: from the spec's metric (declared unit, else its
 * query), else from the query a collected series ran.
 */
export function metricUnits(metrics: readonly MetricUnitSource[], series: readonly { metric: string; query: string }[] = []): (name: string) => Unit {
  return (name) => {
    const m = metrics.find((x) => x.name === name);
    return resolveUnit({ unit: m?.unit, query: m?.query ?? series.find((s) => s.metric === name)?.query });
  };
}

/** A run with no fault (A/A): `noFault: true` in the fault's params, or the `none` injector. */
export function isNoFault(fault: { injector?: unknown; params?: unknown } | undefined): boolean {
  if (!fault) return false;
  const params = fault.params && typeof fault.params === 'object' ? (fault.params as Record<string, unknown>) : undefined;
  return params?.noFault === true || fault.injector === 'none';
}

/** The experiment group's name in charts and legends: what was done to it. */
export function experimentLabel(fault: { injector?: unknown; params?: unknown } | undefined): string {
  if (!fault) return 'experiment';
  return isNoFault(fault) ? 'experiment (no fault)' : 'experiment (fault injected)';
}

/**
 * One line per metric for terminals and chat: "p95-latency: fail — effect
 * +287 ms (+159%), 95% CI [+276 ms, +296 ms], allowed ±20% of control = ±36 ms".
 */
export function metricSummaryLine(m: MetricVerdict, unit: Unit): string {
  const t = metricTexts(m, unit);
  const level = Number.isFinite(m.alpha) ? `${Number(((1 - m.alpha) * 100).toPrecision(3))}% ` : '';
  const parts = [`effect ${t.effect}`, ...(m.ci ? [`${level}CI ${t.ci}`] : []), `allowed ${t.tolerance}`];
  return `${m.name}: ${m.verdict} — ${parts.join(', ')}`;
}
