/**
 * Guardrail evaluation: one look at one guardrail, and the bookkeeping that
 * turns looks into a halt decision. Evaluated by the run engine's monitor every
 * `analysis.interval` while baseline and fault window run.
 *
 * Missing data is not "fine": a failing source, a timeout, a 429, an empty
 * answer, NaN-only points or a stale latest point all count as no-data, which
 * with `onNoData: halt` (the default) halts after a short grace.
 */
import { formatDuration } from '../lib/duration.ts';
import { formatNumber } from '../lib/format-number.ts';
import { describeError, NoDataError } from '../lib/errors.ts';
import type { MetricSource } from '../metric-sources/types.ts';
import type { SloGuardrail, ThresholdGuardrail } from '../spec/schema.ts';

export type GuardrailOutcome =
  | { kind: 'ok'; value: number; at: number }
  | { kind: 'breach'; value: number; at: number; reason: string }
  | { kind: 'no-data'; reason: string };

/** Per-guardrail memory between evaluations (for `for: N` and the no-data grace). */
export interface GuardrailCounters {
  breaches: number;
  noData: number;
}

export interface EvaluationContext {
  source: MetricSource;
  nowMs: number;
  stepMs: number;
  signal: AbortSignal;
}

/**
 * Is a series' latest point stale? On a backend that evaluates every step
 * (Prometheus), a healthy series has a point at the last step of the range,
 * so anything older means it vanished or went NaN now. Elsewhere a point may
 * be at most two steps (plus a second of slack) old.
 */
function isStale(ctx: EvaluationContext, t: number, lastStepMs: number): boolean {
  if (ctx.source.evaluatesEveryStep) return t < lastStepMs - 1;
  return ctx.nowMs - t > 2 * ctx.stepMs + 1_000;
}

/** The latest fresh value of each series of `query`, or the reason there is none. */
async function latestValues(ctx: EvaluationContext, query: string): Promise<{ values: { v: number; t: number }[] } | { noData: string }> {
  const lookbackMs = Math.max(3 * ctx.stepMs, 5_000);
  const start = ctx.nowMs - lookbackMs;
  const lastStepMs = start + Math.floor(lookbackMs / ctx.stepMs) * ctx.stepMs;
  try {
    const result = await ctx.source.queryRange(query, { start: new Date(start), end: new Date(ctx.nowMs), stepMs: ctx.stepMs }, ctx.signal);
    const values: { v: number; t: number }[] = [];
    let endedNonFinite = false;
    for (const series of result.series) {
      const last = series.samples.at(-1);
      if (series.lastT !== undefined && (!last || series.lastT > last.t)) {
        endedNonFinite = true;
        continue;
      }
      if (last && !isStale(ctx, last.t, lastStepMs)) values.push(last);
    }
    if (values.length > 0) return { values };
    return { noData: endedNonFinite ? 'the latest point is NaN or ±Inf' : 'no fresh sample (the series has no point at the latest step)' };
  } catch (err) {
    // A timeout or a failing source is missing data, not a pass. A run abort
    // also lands here; the monitor checks the run's own signal right after.
    if (err instanceof NoDataError) return { noData: 'the query returned no data' };
    return { noData: `the source failed: ${describeError(err)}` };
  }
}

/** Threshold: the latest value of every series must stay within max/min; the worst one is reported. */
export async function evaluateThreshold(ctx: EvaluationContext, guardrail: ThresholdGuardrail, query: string): Promise<GuardrailOutcome> {
  const latest = await latestValues(ctx, query);
  if ('noData' in latest) return { kind: 'no-data', reason: latest.noData };
  return thresholdOutcome(guardrail, latest.values);
}

/** One look at a threshold over the latest value of each series (at least one). */
export function thresholdOutcome(guardrail: ThresholdGuardrail, values: readonly { v: number; t: number }[]): Exclude<GuardrailOutcome, { kind: 'no-data' }> {
  let ok: { v: number; t: number } | undefined;
  for (const point of values) {
    const reason = thresholdBreach(guardrail, point.v);
    if (reason) return { kind: 'breach', value: point.v, at: point.t, reason };
    ok ??= point;
  }
  const first = ok as { v: number; t: number };
  return { kind: 'ok', value: first.v, at: first.t };
}

function thresholdBreach(g: ThresholdGuardrail, value: number): string | undefined {
  if (g.max !== undefined && value > g.max) return `${formatNumber(value)} > max ${formatNumber(g.max)}`;
  if (g.min !== undefined && value < g.min) return `${formatNumber(value)} < min ${formatNumber(g.min)}`;
  return undefined;
}

/**
 * Burn-rate windows for a run. The SRE workbook pairs a long window with one a
 * twelfth of it (1 h & 5 m for a 14.4× page). Experiments last minutes, not
 * days, so unless the spec sets them the windows scale with the fault window:
 * long = a quarter of the fault duration, between 10 steps (and 10 s) and 1 h;
 * short = a twelfth of long, at least 3 steps (rate() needs two points). Both
 * are whole steps.
 */
export function burnRateWindows(guardrail: SloGuardrail, faultDurationMs: number, stepMs: number): { longMs: number; shortMs: number } {
  const wholeSteps = (ms: number): number => Math.max(stepMs, Math.round(ms / stepMs) * stepMs);
  if (guardrail.windows) return { longMs: wholeSteps(guardrail.windows.long), shortMs: wholeSteps(guardrail.windows.short) };
  const longMs = wholeSteps(Math.min(3_600_000, Math.max(faultDurationMs / 4, 10 * stepMs, 10_000)));
  const shortMs = wholeSteps(Math.max(longMs / 12, 3 * stepMs));
  return { longMs, shortMs };
}

/** `1 - good/total` over `window`, from the SLI templates. */
export function errorRatioQuery(guardrail: SloGuardrail, windowMs: number, render: (q: string) => string): string {
  const w = formatDuration(windowMs);
  const fill = (q: string): string => render(q).replace(/\$\{?window\}?/g, w);
  return `1 - ((${fill(guardrail.slo.good)}) / (${fill(guardrail.slo.total)}))`;
}

/**
 * SLO burn rate = error ratio / (1 − objective), over the long and the short
 * window; a breach needs both at or above `burnRate` (the long window says it
 * is significant, the short one that it is still happening).
 */
export async function evaluateSlo(
  ctx: EvaluationContext,
  guardrail: SloGuardrail,
  windows: { longMs: number; shortMs: number },
  render: (q: string) => string,
): Promise<GuardrailOutcome> {
  const [long, short] = await Promise.all([
    latestValues(ctx, errorRatioQuery(guardrail, windows.longMs, render)),
    latestValues(ctx, errorRatioQuery(guardrail, windows.shortMs, render)),
  ]);
  if ('noData' in long) return { kind: 'no-data', reason: `long window: ${long.noData}` };
  if ('noData' in short) return { kind: 'no-data', reason: `short window: ${short.noData}` };
  return sloOutcome(guardrail, windows, long.values, short.values);
}

/** One look at a burn rate from the latest error ratios over the long and the short window (at least one each). */
export function sloOutcome(
  guardrail: SloGuardrail,
  windows: { longMs: number; shortMs: number },
  long: readonly { v: number; t: number }[],
  short: readonly { v: number; t: number }[],
): Exclude<GuardrailOutcome, { kind: 'no-data' }> {
  const budget = 1 - guardrail.slo.objective;
  const burnLong = Math.max(...long.map((p) => p.v)) / budget;
  const shortPoint = short.reduce((a, b) => (b.v > a.v ? b : a));
  const burnShort = shortPoint.v / budget;
  const value = Math.min(burnLong, burnShort);
  if (burnLong >= guardrail.burnRate && burnShort >= guardrail.burnRate) {
    return {
      kind: 'breach',
      value,
      at: shortPoint.t,
      reason: `error budget burning at ${formatNumber(burnLong)}× over ${formatDuration(windows.longMs)} and ${formatNumber(burnShort)}× over ${formatDuration(windows.shortMs)} (≥ ${formatNumber(guardrail.burnRate)}×, SLO ${formatNumber(guardrail.slo.objective * 100)}%)`,
    };
  }
  return { kind: 'ok', value, at: shortPoint.t };
}

/**
 * How long one look waits for the source's answers: most of an interval, but
 * never less than LOOK_BUDGET_FLOOR_MS. A query that takes longer is no data
 * for that look. The floor is there because a source's latency tail, not the
 * look's interval, decides how long an answer takes: a busy Prometheus answers
 * in a second or so at p95, and a look that gave up at 800 ms (the old budget
 * at a 1 s interval) turned a slow answer into missing data and halted A/A
 * runs (issue #13's bench:calibrate). A slow look delays the next one rather
 * than overlapping it, so a halt on missing data comes within
 * `noDataGrace` looks of at most this long each.
 */
export const LOOK_BUDGET_FLOOR_MS = 2_000;

export function lookBudgetMs(intervalMs: number): number {
  return Math.max(LOOK_BUDGET_FLOOR_MS, Math.floor(intervalMs * 0.8));
}

/** Consecutive no-data evaluations tolerated before a halt (onNoData: halt). */
export function noDataGraceLooks(graceMs: number | undefined, intervalMs: number): number {
  return graceMs === undefined ? 2 : Math.max(1, Math.round(graceMs / intervalMs));
}

/**
 * Update the counters with one outcome and say whether to halt now.
 * Returns the halt reason, or undefined to carry on.
 */
export function decide(
  counters: GuardrailCounters,
  outcome: GuardrailOutcome,
  opts: { for: number; onNoData: 'halt' | 'ignore'; noDataLooks: number },
): string | undefined {
  switch (outcome.kind) {
    case 'ok':
      counters.breaches = 0;
      counters.noData = 0;
      return undefined;
    case 'breach':
      counters.noData = 0;
      counters.breaches += 1;
      return counters.breaches >= opts.for
        ? `${outcome.reason}${opts.for > 1 ? ` for ${counters.breaches} consecutive evaluations` : ''}`
        : undefined;
    case 'no-data':
      counters.noData += 1;
      if (opts.onNoData === 'ignore') return undefined;
      return counters.noData >= opts.noDataLooks
        ? `no data for ${counters.noData} consecutive evaluation${counters.noData > 1 ? 's' : ''} (${outcome.reason}); onNoData is halt`
        : undefined;
  }
}

export { formatNumber };
