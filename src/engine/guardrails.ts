/**
 * Threshold guardrails: a query whose latest value must stay within `max` /
 * `min`. Evaluated by the monitor every `analysis.interval` while baseline and
 * fault window run. Missing data is not "fine": with `onNoData: halt` (the
 * default) it counts towards a halt like a breach does.
 */
import { describeError, NoDataError } from '../lib/errors.ts';
import type { MetricSource } from '../metric-sources/types.ts';
import type { Guardrail } from '../spec/schema.ts';

export type GuardrailOutcome =
  | { kind: 'ok'; value: number; at: number }
  | { kind: 'breach'; value: number; at: number; reason: string }
  | { kind: 'no-data'; reason: string };

/** Per-guardrail memory between evaluations (for `for: N` and the no-data grace). */
export interface GuardrailCounters {
  breaches: number;
  noData: number;
}

/**
 * Consecutive no-data evaluations tolerated before a halt: one missed scrape
 * or a slow answer should not halt a run, two in a row should.
 */
export const NO_DATA_GRACE = 2;

/** Evaluate one guardrail at `nowMs` over a short lookback. */
export async function evaluateGuardrail(
  source: MetricSource,
  guardrail: Guardrail,
  query: string,
  nowMs: number,
  stepMs: number,
  signal: AbortSignal,
): Promise<GuardrailOutcome> {
  const lookbackMs = Math.max(3 * stepMs, 5_000);
  try {
    const result = await source.queryRange(
      query,
      { start: new Date(nowMs - lookbackMs), end: new Date(nowMs), stepMs },
      signal,
    );
    // Several series: judge each by its latest point and report the worst.
    let worst: { kind: 'ok' | 'breach'; value: number; at: number; reason?: string } | undefined;
    for (const series of result.series) {
      const last = series.samples.at(-1);
      if (!last) continue;
      // A latest point older than two steps plus a scrape's slack is stale.
      if (nowMs - last.t > 2 * stepMs + 2_000) continue;
      const reason = breachReason(guardrail, last.v);
      const candidate = { kind: reason ? ('breach' as const) : ('ok' as const), value: last.v, at: last.t, reason };
      if (!worst || (candidate.kind === 'breach' && worst.kind === 'ok')) worst = candidate;
    }
    if (!worst) return { kind: 'no-data', reason: 'no fresh sample (latest point older than two steps)' };
    if (worst.kind === 'breach') return { kind: 'breach', value: worst.value, at: worst.at, reason: worst.reason ?? '' };
    return { kind: 'ok', value: worst.value, at: worst.at };
  } catch (err) {
    // A timeout or a failing source is missing data, not a pass. A run abort
    // also lands here; the monitor checks the run's own signal right after.
    if (err instanceof NoDataError) return { kind: 'no-data', reason: 'query returned no data' };
    return { kind: 'no-data', reason: `source failed: ${describeError(err)}` };
  }
}

function breachReason(g: Guardrail, value: number): string | undefined {
  if (g.max !== undefined && value > g.max) return `${formatNumber(value)} > max ${formatNumber(g.max)}`;
  if (g.min !== undefined && value < g.min) return `${formatNumber(value)} < min ${formatNumber(g.min)}`;
  return undefined;
}

/**
 * Update the counters with one outcome and say whether to halt now.
 * Returns the halt reason, or undefined to carry on.
 */
export function decide(
  counters: GuardrailCounters,
  outcome: GuardrailOutcome,
  guardrail: Guardrail,
  onNoData: 'halt' | 'ignore',
): string | undefined {
  switch (outcome.kind) {
    case 'ok':
      counters.breaches = 0;
      counters.noData = 0;
      return undefined;
    case 'breach':
      counters.noData = 0;
      counters.breaches += 1;
      return counters.breaches >= guardrail.for
        ? `${outcome.reason}${guardrail.for > 1 ? ` for ${counters.breaches} consecutive evaluations` : ''}`
        : undefined;
    case 'no-data':
      counters.noData += 1;
      if (onNoData === 'ignore') return undefined;
      return counters.noData >= NO_DATA_GRACE
        ? `no data for ${counters.noData} consecutive evaluations (${outcome.reason}); onNoData is halt`
        : undefined;
  }
}

export function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const abs = Math.abs(v);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}
