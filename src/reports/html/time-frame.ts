/**
 * The shared time axis of a report's charts: time zero (the window's opening),
 * the x range that lines the charts up, the shaded window and the halt marker.
 */
import type { RunRecord } from '../../engine/types.ts';
import { durationText } from './format.ts';
import { extent } from './chart-data.ts';
import type { ChartMarker, ChartSpan } from './svg-chart.ts';

export interface TimeFrame {
  /** Time zero of every chart: the window's opening, else the run's start. */
  origin: number;
  originLabel: string;
  /** Shared x range of the charts, so they line up vertically. */
  domain: [number, number];
  spans: ChartSpan[];
  markers: ChartMarker[];
  started: number;
}

export function timeFrame(run: RunRecord): TimeFrame {
  const started = ms(run.startedAt);
  const opened = ms(run.window?.openedAt);
  const closed = ms(run.window?.closedAt);
  const deadline = ms(run.window?.deadline);
  const ended = ms(run.endedAt);
  const halt = ms(run.halt?.at);
  const sampleTimes = [...run.series.flatMap((s) => s.samples.map((p) => p.t)), ...run.guardrails.map((g) => g.at)];

  const origin = Number.isFinite(opened) ? opened : Number.isFinite(started) ? started : (extent(sampleTimes)?.[0] ?? 0);
  const originLabel = Number.isFinite(opened) ? 'the fault window opened' : 'the run started';
  let [lo, hi] = extent([...sampleTimes, opened, closed, halt]) ?? [origin, origin];
  // Show the planned rest of a window cut short (a halt), but never let a far
  // deadline squash the data: at most as long again as what happened.
  const windowEnd = Number.isFinite(closed) ? closed : Number.isFinite(ended) ? ended : hi;
  if (Number.isFinite(deadline) && deadline > hi) hi = Math.min(deadline, hi + Math.max(hi - lo, 1_000));
  if (hi - lo < 1_000) {
    lo -= 500;
    hi += 500;
  }
  const pad = (hi - lo) * 0.02;
  const spans: ChartSpan[] = [];
  if (Number.isFinite(opened)) {
    const to = Number.isFinite(windowEnd) ? windowEnd : hi;
    spans.push({ from: opened, to, kind: 'window', label: 'fault window' });
    if (Number.isFinite(deadline) && Number.isFinite(closed) && deadline - closed > 1_000) {
      spans.push({ from: closed, to: Math.min(deadline, hi + pad), kind: 'planned', label: 'planned, not reached' });
    }
  }
  const markers: ChartMarker[] = Number.isFinite(halt) ? [{ t: halt, kind: 'halt', label: `halt ${offsetText(halt - origin)}` }] : [];
  return { origin, originLabel, domain: [lo - pad, hi + pad], spans, markers, started };
}

export function ms(iso: string | null | undefined): number {
  return iso ? Date.parse(iso) : NaN;
}

/** "+42 s", "−3.5 s", "+2 min 5 s" relative to a time zero. */
export function offsetText(delta: number): string {
  if (!Number.isFinite(delta)) return '';
  const sign = delta < 0 ? '−' : '+';
  return `${sign}${durationText(Math.abs(delta))}`;
}

