/**
 * Axis ticks at round values (1, 2, 2.5 or 5 × 10^k) in the unit people read,
 * labelled alike: one prefix for the whole axis (in its title: "latency (ms)"),
 * and every label with the decimals the step needs — "25.0, 27.5, 30.0", never
 * "25, 28, 30". Decisions: docs/adr/020-report-units-and-ticks.md.
 */
import { prefixFor, toBase } from './format-units.ts';
import { NO_UNIT, type Unit } from './units.ts';

/** Nice tick values (1, 2, 2.5, 5 × 10^k) covering [lo, hi], about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  const step = niceStep((hi - lo) / Math.max(1, count));
  const first = Math.ceil(lo / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v <= hi + step * 1e-9 && ticks.length < 50; v += step) {
    // Snap accumulated floating error (0.30000000000000004) to the step's precision.
    ticks.push(Number((Math.round(v / step) * step).toPrecision(12)));
  }
  return ticks;
}

/** The round step (1, 2, 2.5, 5 × 10^k) at or above `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  const nice = f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 2.5 + 1e-9 ? 2.5 : f <= 5 + 1e-9 ? 5 : 10;
  return Number((nice * power).toPrecision(12));
}

/** Decimals needed to print every multiple of `step` exactly: 0.25 → 2, 2.5 → 1, 5 → 0, 1e-4 → 4. */
export function decimalsOf(step: number): number {
  if (!(step > 0) || !Number.isFinite(step)) return 0;
  for (let d = 0; d <= 12; d++) {
    if (Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) < 1e-6 * 10 ** d * step) return d;
  }
  return 12;
}

export interface Axis {
  /** Tick positions, in the metric's raw unit (what the chart's scale maps). */
  ticks: number[];
  /** One label per tick, numbers only, in `symbol`'s scale, all with the same decimals. */
  labels: string[];
  /** The axis's unit symbol for its title: "ms", "%", "k/s", "×"; empty for a plain number. */
  symbol: string;
}

/**
 * Ticks for raw values in [lo, hi] of a metric in `unit`: the prefix comes
 * from the largest magnitude on the axis, the ticks are round in that
 * prefix's scale (0, 100, 200 ms; not 0, 0.1, 0.2 s), the labels share the
 * step's decimals. Negative values get the minus sign (U+2212).
 */
export function axisTicks(lo: number, hi: number, unit: Unit = NO_UNIT, count = 5): Axis {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { ticks: [], labels: [], symbol: '' };
  const scaleOf = (v: number): number => toBase(v, unit);
  const magnitude = Math.max(Math.abs(scaleOf(lo)), Math.abs(scaleOf(hi)));
  const prefix = prefixFor(magnitude, unit);
  // Display value of a raw value, and back.
  const factor = toBase(1, unit) * prefix.factor;
  const shown = niceTicks(lo * factor, hi * factor, count);
  const step = shown.length > 1 ? (shown[1] as number) - (shown[0] as number) : niceStep(Math.abs(shown[0] ?? 1));
  const decimals = shown.length > 1 ? decimalsOf(Number(step.toPrecision(12))) : decimalsOf(Number(Math.abs(shown[0] ?? 0).toPrecision(6)));
  const labels = shown.map((v) => {
    if (Math.abs(v) < Math.abs(step) * 1e-9) return (0).toFixed(decimals);
    const text = Math.abs(v).toFixed(decimals);
    return v < 0 ? `−${text}` : text;
  });
  return { ticks: shown.map((v) => v / factor), labels, symbol: prefix.symbol };
}

const COUNT_WORDS: Record<string, string> = { k: 'thousands', M: 'millions', G: 'billions' };

/** An axis title with its unit: "p95-latency (ms)", "checkout-sps (/s)", "orders (thousands)". */
export function axisTitle(name: string, symbol: string): string {
  const unit = COUNT_WORDS[symbol] ?? symbol;
  return unit ? `${name} (${unit})` : name;
}
