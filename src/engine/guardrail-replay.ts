/**
 * A polled guardrail's looks over a stretch of the window, read back from the
 * metric source: what the monitor would have seen had it looked every
 * `analysis.interval` from `fromMs` to `toMs`. A replica that takes over a
 * run replays them to rebuild `for: N` and halt on a breach the first owner
 * saw (or would have seen) before it died.
 *
 * Each look takes, per series, the latest point no more than two steps old
 * (the live monitor's staleness rule on a backend that evaluates every step
 * is stricter, one step; two keeps a point that lands on the edge). Looks
 * without data are left out: a gap in history is not evidence of missing data
 * now, and the live looks that follow keep the no-data fail-safe.
 */
import { NoDataError } from '../lib/errors.ts';
import type { MetricSource, QueryResult } from '../metric-sources/types.ts';
import type { SloGuardrail, ThresholdGuardrail } from '../spec/schema.ts';
import { burnRateWindows, errorRatioQuery, sloOutcome, thresholdOutcome, type GuardrailOutcome } from './guardrails.ts';

export interface ReplayContext {
  source: MetricSource;
  stepMs: number;
  intervalMs: number;
  faultDurationMs: number;
  signal: AbortSignal;
}

type Seen = Exclude<GuardrailOutcome, { kind: 'no-data' }>;
type Point = { v: number; t: number };

/** At most this many looks are replayed (a 1 h window at 1 s): bounded work whatever the spec says. */
const MAX_LOOKS = 3_600;

export async function replayPolledGuardrail(
  ctx: ReplayContext,
  guardrail: ThresholdGuardrail | SloGuardrail,
  fromMs: number,
  toMs: number,
  render: (q: string) => string,
): Promise<Seen[]> {
  if (toMs <= fromMs) return [];
  const looks: number[] = [];
  const every = Math.max(ctx.intervalMs, Math.ceil((toMs - fromMs) / MAX_LOOKS));
  for (let t = fromMs; t <= toMs && looks.length < MAX_LOOKS; t += every) looks.push(t);
  const range = async (query: string): Promise<Point[][]> => {
    const start = Math.floor(fromMs / ctx.stepMs) * ctx.stepMs - 2 * ctx.stepMs;
    const end = Math.floor(toMs / ctx.stepMs) * ctx.stepMs;
    let result: QueryResult;
    try {
      result = await ctx.source.queryRange(query, { start: new Date(start), end: new Date(end), stepMs: ctx.stepMs }, ctx.signal);
    } catch (err) {
      if (err instanceof NoDataError) return [];
      throw err;
    }
    return result.series.map((s) => s.samples);
  };
  const at = (series: Point[][], t: number): Point[] =>
    series.flatMap((samples) => {
      const p = latestAtOrBefore(samples, t);
      return p && t - p.t <= 2 * ctx.stepMs ? [p] : [];
    });

  const out: Seen[] = [];
  if (guardrail.kind === 'threshold') {
    const series = await range(render(guardrail.query));
    for (const t of looks) {
      const values = at(series, t);
      if (values.length > 0) out.push(thresholdOutcome(guardrail, values));
    }
    return out;
  }
  const windows = burnRateWindows(guardrail, ctx.faultDurationMs, ctx.stepMs);
  const [long, short] = await Promise.all([range(errorRatioQuery(guardrail, windows.longMs, render)), range(errorRatioQuery(guardrail, windows.shortMs, render))]);
  for (const t of looks) {
    const l = at(long, t);
    const s = at(short, t);
    if (l.length > 0 && s.length > 0) out.push(sloOutcome(guardrail, windows, l, s));
  }
  return out;
}

/** The last sample at or before `t` (samples ordered by time). */
function latestAtOrBefore(samples: readonly Point[], t: number): Point | undefined {
  let lo = 0;
  let hi = samples.length - 1;
  let found: Point | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const p = samples[mid] as Point;
    if (p.t <= t) {
      found = p;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
