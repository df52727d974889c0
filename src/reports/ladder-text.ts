/**
 * A fault ladder in words, shared by the Markdown report, the HTML report and
 * Slack: the headline (highest level tolerated, first level that harmed) and
 * each step's effect per metric with its interval. Plain text; callers escape.
 */
import type { LadderRecord, LadderStep } from '../engine/types.ts';
import { formatNumber } from '../lib/format-number.ts';
import type { StepMetric } from '../stats/dose-response.ts';

export function ladderHeadline(ladder: LadderRecord): string {
  const d = ladder.doseResponse;
  const ran = ladder.steps.filter((s) => s.startedAt !== null).length;
  const stopped = ladder.stopped ? ` Stopped climbing at step ${ladder.stopped.index + 1} of ${ladder.steps.length}: ${ladder.stopped.reason}.` : ran < ladder.steps.length ? ` ${ran} of ${ladder.steps.length} steps ran.` : '';
  if (!d) return `Highest level tolerated: not judged yet.${stopped}`;
  const tolerated = d.highestTolerated ? `Highest level tolerated: ${d.highestTolerated.label} (step ${d.highestTolerated.index + 1})` : 'Highest level tolerated: none';
  const harmed = d.firstHarmed ? `first level that harmed: ${d.firstHarmed.label} (step ${d.firstHarmed.index + 1}; ${d.firstHarmed.metrics.join(', ')})` : 'no level harmed';
  return `${tolerated}; ${harmed}.${stopped}`;
}

/** "−12.3% [−20.1%, −4.0%]" on a relative band, "+0.21 [0.15, 0.27]" on an absolute one. */
export function stepEffectText(m: StepMetric): string {
  if (m.toleranceKind === 'relative' && m.relativeEffect !== null) {
    const ci = m.relativeCi ? ` [${pct(m.relativeCi[0])}, ${pct(m.relativeCi[1])}]` : '';
    return `${pct(m.relativeEffect)}${ci}`;
  }
  const ci = m.ci ? ` [${formatNumber(m.ci[0])}, ${formatNumber(m.ci[1])}]` : '';
  return `${m.effect !== null && m.effect > 0 ? '+' : ''}${formatNumber(m.effect)}${ci}`;
}

/** The band a metric's effect is judged against, in the same unit as stepEffectText. */
export function bandText(m: StepMetric): string {
  const side = m.direction === 'increase' ? '+' : m.direction === 'decrease' ? '−' : '±';
  return m.toleranceKind === 'relative' ? `${side}${+(m.tolerance * 100).toPrecision(4)}%` : `${side}${formatNumber(m.tolerance)}`;
}

export function stepSpanText(s: LadderStep): string {
  if (!s.startedAt) return 'not reached';
  const secs = s.endedAt ? ((Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000).toFixed(0) : '?';
  return `${s.startedAt.slice(11, 19)}–${s.endedAt ? s.endedAt.slice(11, 19) : '…'} (${secs} s)`;
}

function pct(f: number): string {
  const text = `${(f * 100).toFixed(1)}%`;
  return f > 0 ? `+${text}` : text.replace('-', '−');
}
