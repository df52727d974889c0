/**
 * Number, time and unit formatting shared by the HTML report, its charts and
 * the run index. Pure functions; every output is plain text, to be escaped by
 * the caller like any other string.
 */
import { formatNumber } from '../../lib/format-number.ts';

/** A finite number as the Markdown report prints it, or an em dash. */
export function num(v: number | null | undefined): string {
  return formatNumber(v);
}

export function signedNum(v: number | null | undefined): string {
  const text = num(v);
  return typeof v === 'number' && v > 0 ? `+${text}` : text;
}

/** 0.1234 → "+12.3%". */
export function signedPercent(fraction: number | null | undefined): string {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return '—';
  const text = `${(fraction * 100).toFixed(1)}%`;
  return fraction > 0 ? `+${text}` : text;
}

/** p-values as people read them: two significant digits, scientific below 0.001. */
export function pValueText(p: number | null | undefined): string {
  if (typeof p !== 'number' || !Number.isFinite(p)) return '—';
  return p < 1e-3 ? p.toExponential(1) : String(Number(p.toPrecision(2)));
}

/** 83_000 → "1 min 23 s"; under a minute with one decimal when it matters. */
export function durationText(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  const totalSeconds = ms / 1_000;
  if (totalSeconds < 60) return `${Number(totalSeconds.toFixed(totalSeconds < 10 ? 1 : 0))} s`;
  const s = Math.round(totalSeconds);
  const h = Math.floor(s / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h} h ${m} min`;
  return rest === 0 ? `${m} min` : `${m} min ${rest} s`;
}

/** ISO instant → "2026-03-14 09:26:53 UTC" (seconds are enough for people). */
export function timeText(iso: string | null | undefined): string {
  if (!iso) return '—';
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** ISO instant → "09:26:53.120" for a timeline whose date is in the heading. */
export function clockText(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString().slice(11, 23) : '—';
}

/**
 * The unit of a query's values, when the query says so unambiguously; empty
 * otherwise. Prometheus naming conventions carry units in metric names
 * (`_seconds`, `_bytes`) and `rate()` turns counters into per-second values.
 * A guess that could mislead is worse than no unit, so anything unclear
 * (ratios of rates, arithmetic) gets none.
 */
export function unitOfQuery(query: string): string {
  const q = query.replace(/\s+/g, '');
  const quantile = /histogram_quantile\(/.test(q);
  if (quantile) {
    if (/_seconds_bucket\b/.test(q)) return 'seconds';
    if (/_milliseconds_bucket\b|_ms_bucket\b/.test(q)) return 'milliseconds';
    if (/_bytes_bucket\b/.test(q)) return 'bytes';
    return '';
  }
  // A division (ratio) or other arithmetic between expressions: no safe unit.
  const outside = q.replace(/\{[^}]*\}/g, '{}').replace(/\[[^\]]*\]/g, '[]');
  if (/[/*+]|\)-/.test(outside)) return '';
  if (/\b(rate|irate)\(/.test(q)) return 'per second';
  return '';
}

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

export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
  return nice * power;
}

/** Tick labels with as many decimals as the step needs, k/M/G for large values. */
export function tickLabel(v: number, step: number): string {
  if (!Number.isFinite(v)) return '';
  if (Math.abs(v) < Math.abs(step) * 1e-9) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e9) return `${Number((v / 1e9).toPrecision(4))}G`;
  if (abs >= 1e6) return `${Number((v / 1e6).toPrecision(4))}M`;
  if (abs >= 1e4) return `${Number((v / 1e3).toPrecision(4))}k`;
  return v.toFixed(decimalsOf(step));
}

/** Decimals needed to print multiples of `step` exactly: 0.25 → 2, 5 → 0, 1e-4 → 4. */
function decimalsOf(step: number): number {
  if (!(step > 0) || !Number.isFinite(step) || step >= 1) return 0;
  const text = step.toFixed(12).replace(/0+$/, '');
  return Math.min(12, text.length - text.indexOf('.') - 1);
}
