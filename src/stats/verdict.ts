/**
 * The per-metric judge and the overall verdict of an experiment: pure
 * functions from samples to `pass`, `fail` or `inconclusive`, with one human
 * sentence that carries the numbers behind the call.
 *
 * Two methods (ADR 013):
 *   `paired` (default)  paired-judge.ts: control and experiment paired by step,
 *                        judged on independent units (disjoint rate windows, or
 *                        batch means), against the tolerance boundary. Valid on
 *                        overlapping windows, percentiles, ratios and shared load.
 *   `mann-whitney`      kayenta-judge.ts: Kayenta parity, R's wilcox.test on the
 *                        per-step values. Assumes independent samples.
 *
 * Each judge returns the checks behind the metric (hypothesis tests with
 * p-values) and whether harm beyond tolerance is ruled out (`safe`); the
 * verdict follows from them here, in one place:
 *   - `fail`  a judged check is harmful and its Holm-adjusted p < alpha;
 *   - `pass`  harm is ruled out by the intervals and the run had the power to
 *             see a change as large as the band (spinnaker#6278);
 *   - otherwise `inconclusive` (too few samples, too wide an interval).
 * Reported-only checks (spread under `spread: report`) are shown, never judged.
 *
 * Many metrics (`judgeFamily`): every judged check of every metric in a run is
 * one hypothesis, and Holm's procedure controls the chance of any false `fail`
 * across all of them at alpha. It is computed once, and the reasons are
 * written after it, so a metric's sentence, the report's table and the
 * headline quote the same adjusted p-values. `pass` rests on intervals, not
 * p-values (intersection–union), so it needs no correction.
 */
import { StatsInputError } from './errors.ts';
import { holmAdjust } from './holm.ts';
import { reasonOf, shortEffect } from './judge-text.ts';
import { judgeKayenta } from './kayenta-judge.ts';
import { judgePaired, type PairedJudgeInput } from './paired-judge.ts';
import type { JudgeInputBase, JudgeMethod, MetricVerdict, Verdict } from './verdict-types.ts';

export type { CheckTest, Direction, JudgeMethod, MetricCheck, MetricVerdict, SpreadPolicy, Verdict } from './verdict-types.ts';

export interface MetricJudgeInput extends JudgeInputBase {
  /** Default `paired`. For `paired`, control[i] and experiment[i] are the same step. */
  method?: JudgeMethod;
  /** paired: steps that share raw material (⌈range window / step⌉); null = unknown (batch means). Default 1. */
  windowSteps?: number | null;
  /** How the query was read, kept on the verdict for the reader. */
  shape?: string;
  /** paired: both groups before the window, for the noise (paired-judge.ts). */
  history?: PairedJudgeInput['history'];
}

export function judgeMetric(input: MetricJudgeInput): MetricVerdict {
  const method = input.method ?? 'paired';
  const raw =
    method === 'paired'
      ? judgePaired({ ...input, windowSteps: input.windowSteps === undefined ? 1 : input.windowSteps })
      : method === 'mann-whitney'
        ? judgeKayenta(input)
        : unknownMethod(method);
  if (input.shape !== undefined) raw.shape = input.shape;
  return judgeFamily([raw], { alpha: input.alpha }).metrics[0] as MetricVerdict;
}

function unknownMethod(method: string): never {
  throw new StatsInputError(`unknown judge method "${method}"; known: paired, mann-whitney`);
}

export interface FamilyCorrection {
  method: 'holm' | 'none';
  alpha: number;
  /** How many hypotheses (judged checks across all metrics) the correction covered. */
  tests: number;
}

export interface OverallVerdict {
  verdict: Verdict;
  reason: string;
  correction?: FamilyCorrection;
}

export function overallVerdict(metrics: readonly MetricVerdict[]): OverallVerdict {
  const { verdict, reason, correction } = judgeFamily(metrics);
  return metrics.some((m) => m.checks !== undefined) ? { verdict, reason, correction } : { verdict, reason };
}

/**
 * Family-wise error control across a run's metrics (see the module comment).
 * Returns the metric verdicts with adjusted p-values, their verdicts and
 * reasons (copies), the overall verdict, and the correction applied. It is
 * idempotent: judging an already judged family gives the same result.
 */
export function judgeFamily(
  metrics: readonly MetricVerdict[],
  opts: { method?: 'holm' | 'none'; alpha?: number } = {},
): OverallVerdict & { correction: FamilyCorrection; metrics: MetricVerdict[] } {
  const method = opts.method ?? 'holm';
  const alpha = opts.alpha ?? (metrics.length === 0 ? 0.05 : Math.min(...metrics.map((m) => m.alpha)));
  const judged = metrics.flatMap((m) => (m.checks ?? []).filter((c) => c.judged !== false));
  const adjusted = method === 'holm' ? holmAdjust(judged.map((c) => c.pValue)) : judged.map((c) => c.pValue);
  let k = 0;
  const out = metrics.map((m): MetricVerdict => {
    // No test (too few samples), or a verdict from before checks existed: kept as it is.
    if (m.checks === undefined) return m.insufficient === undefined ? m : { ...m, verdict: 'inconclusive', reason: reasonOf(m, judged.length) };
    const checks = m.checks.map((c) => {
      if (c.judged === false) return { ...c, adjustedPValue: c.pValue, rejected: false };
      const adjustedPValue = adjusted[k++]!;
      return { ...c, adjustedPValue, rejected: adjustedPValue < alpha };
    });
    const failing = checks.some((c) => c.rejected && c.harmful);
    const verdict: Verdict = failing ? 'fail' : m.safe === true && m.powerTooLow !== true ? 'pass' : 'inconclusive';
    const copy: MetricVerdict = { ...m, checks, verdict };
    copy.reason = reasonOf(copy, judged.length);
    return copy;
  });
  const correction: FamilyCorrection = { method, alpha, tests: judged.length };
  const note = method === 'holm' && judged.length > 1 ? ` (Holm across ${judged.length} tests)` : '';
  return { ...aggregate(out, note), correction, metrics: out };
}

function aggregate(metrics: readonly MetricVerdict[], note: string): { verdict: Verdict; reason: string } {
  const total = metrics.length;
  if (total === 0) return { verdict: 'inconclusive', reason: 'no metrics to judge' };
  const of = (names: string[]): string => `${names.length} of ${total} ${total === 1 ? 'metric' : 'metrics'}`;
  // The headline says what changed, in the metric's own direction, not only that something did.
  const named = (m: MetricVerdict): string => (m.checks && m.effect !== null ? `${m.name} (${shortEffect(m)})` : m.name);
  const failed = metrics.filter((m) => m.verdict === 'fail');
  if (failed.length > 0) return { verdict: 'fail', reason: `${of(failed.map((m) => m.name))} failed: ${failed.map(named).join(', ')}${note}` };
  const unsure = metrics.filter((m) => m.verdict === 'inconclusive').map((m) => m.name);
  if (unsure.length > 0) return { verdict: 'inconclusive', reason: `${of(unsure)} inconclusive: ${unsure.join(', ')}${note}` };
  return { verdict: 'pass', reason: `all ${total} ${total === 1 ? 'metric' : 'metrics'} passed: ${metrics.map((m) => m.name).join(', ')}${note}` };
}
