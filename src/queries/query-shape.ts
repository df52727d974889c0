/**
 * What a steady-state query's per-step values are made of, read from its
 * PromQL: the judge needs to know how many consecutive steps share their raw
 * material before it can count independent evidence (ADR 013).
 *
 * `rate(x[15s])` evaluated every 1 s gives values that share 14/15 of their
 * events with their neighbour; only values 15 steps apart are built from
 * disjoint events. `windowSteps` is that stride, ⌈longest range window / step⌉.
 * The kind says how the judge models a value:
 *   counter-rate  rate()/increase()/irate() of counters, summed: an event rate,
 *                 whose noise grows with the count (Poisson-like).
 *   quantile      histogram_quantile over bucket rates: a latency percentile
 *                 of the requests in the window.
 *   ratio         a division of two windowed expressions (error ratio).
 *   windowed      another function over a range window (avg_over_time…).
 *   gauge         no range window: the dependence between steps is unknown,
 *                 so the judge groups steps into batches (batch means).
 * Non-PromQL queries (Datadog) are `gauge` unless a `.rollup(…, seconds)`
 * names the window.
 */
import { parser } from '@prometheus-io/lezer-promql';
import { formatDuration, parseDuration } from '../lib/duration.ts';

export type QueryKind = 'counter-rate' | 'quantile' | 'ratio' | 'windowed' | 'gauge';

export interface QueryShape {
  kind: QueryKind;
  /** Longest range window (incl. subquery ranges), ms; null without one. */
  windowMs: number | null;
  /** Consecutive steps that share raw material: ⌈windowMs / stepMs⌉, at least 1. */
  windowSteps: number;
}

const COUNTER_FUNCTIONS = new Set(['rate', 'irate', 'increase']);

/** The shape of a (rendered or template) query at a given step. `$window`-style variables are read as 1m. */
export function queryShape(query: string, stepMs: number, backend: 'prometheus' | 'datadog' | 'scrape' = 'prometheus'): QueryShape {
  if (backend === 'datadog') return datadogShape(query, stepMs);
  const text = query.replace(/\$\{?window\}?/g, '1m').replace(/\$\{?(\w+)\}?/g, 'x');
  let windowMs: number | null = null;
  const functions = new Set<string>();
  let divides = false;
  const skipFrom = new Set<number>();
  try {
    parser.parse(text).iterate({
      enter: (node) => {
        if (node.name === 'SubqueryExpr') {
          // `[range:resolution]`: the resolution is not a window.
          const durations = node.node.getChildren('DurationExpr');
          if (durations[1]) skipFrom.add(durations[1].from);
        } else if (node.name === 'DurationExpr' && !skipFrom.has(node.from)) {
          const ms = parseDuration(text.slice(node.from, node.to));
          if (ms !== undefined) windowMs = Math.max(windowMs ?? 0, ms);
        } else if (node.name === 'FunctionIdentifier') {
          functions.add(text.slice(node.from, node.to));
        } else if (node.name === 'Div') {
          divides = true;
        }
      },
    });
  } catch {
    return { kind: 'gauge', windowMs: null, windowSteps: 1 };
  }
  const windowSteps = windowMs === null ? 1 : Math.max(1, Math.ceil(windowMs / stepMs));
  if (windowMs === null) return { kind: 'gauge', windowMs, windowSteps };
  const kind: QueryKind = functions.has('histogram_quantile')
    ? 'quantile'
    : divides
      ? 'ratio'
      : [...functions].some((f) => COUNTER_FUNCTIONS.has(f))
        ? 'counter-rate'
        : 'windowed';
  return { kind, windowMs, windowSteps };
}

function datadogShape(query: string, stepMs: number): QueryShape {
  const rollup = /\.rollup\(\s*\w+\s*,\s*(\d+)\s*\)/.exec(query);
  if (!rollup) return { kind: 'gauge', windowMs: null, windowSteps: 1 };
  const windowMs = Number(rollup[1]) * 1000;
  const counter = /\.as_(count|rate)\(\)/.test(query);
  return { kind: counter ? 'counter-rate' : 'windowed', windowMs, windowSteps: Math.max(1, Math.ceil(windowMs / stepMs)) };
}

/** One line for `validate` and the verdict: how the metric will be judged. */
export function describeShape(shape: QueryShape, stepMs: number, faultMs: number): string {
  const kindText: Record<QueryKind, string> = {
    'counter-rate': 'counter rate',
    quantile: 'histogram quantile',
    ratio: 'ratio of windowed rates',
    windowed: 'windowed function',
    gauge: 'gauge (no range window)',
  };
  const step = formatDuration(stepMs);
  if (shape.windowMs === null) {
    const n = Math.floor(faultMs / stepMs);
    const batches = Math.floor(n / Math.max(1, Math.floor(Math.sqrt(n))));
    return `${kindText.gauge} at ${step} step: ${n} samples judged as ${batches} batch means (dependence between steps unknown)`;
  }
  const perMinute = 60_000 / Math.max(shape.windowMs, stepMs);
  const windows = Math.floor(faultMs / Math.max(shape.windowMs, stepMs));
  return (
    `${kindText[shape.kind]}, ${formatDuration(shape.windowMs)} window at ${step} step: ` +
    `${windows} independent window${windows === 1 ? '' : 's'} in the fault (${Number(perMinute.toPrecision(2))} per minute)`
  );
}

/** Warnings about a query that cannot be judged soundly at this step and fault duration. */
export function shapeWarnings(shape: QueryShape, stepMs: number, faultMs: number): string[] {
  const warnings: string[] = [];
  const span = Math.max(shape.windowMs ?? stepMs, stepMs);
  const windows = Math.floor(faultMs / span);
  if (shape.windowMs !== null && windows < 4) {
    warnings.push(
      `the ${formatDuration(shape.windowMs)} range window is long for a ${formatDuration(faultMs)} fault: only ${windows} independent ` +
        `window${windows === 1 ? '' : 's'}, so the verdict will be inconclusive unless the effect is large; shorten the window or lengthen the fault`,
    );
  }
  if (shape.windowMs === null && stepMs >= 60_000 && faultMs / stepMs < 30) {
    warnings.push(`a gauge sampled every ${formatDuration(stepMs)} gives ${Math.floor(faultMs / stepMs)} samples per group: too few to judge; use a shorter step`);
  }
  if (shape.windowMs !== null && shape.windowMs < stepMs) {
    warnings.push(`the ${formatDuration(shape.windowMs)} range window is shorter than the ${formatDuration(stepMs)} step: events between windows are never counted`);
  }
  return warnings;
}
