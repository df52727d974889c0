/**
 * Number and time formatting shared by the HTML report, its charts and the
 * run index. Pure functions; every output is plain text, to be escaped by the
 * caller like any other string. Values with units, effects, tolerances and
 * axis ticks: src/lib/format-units.ts and src/lib/axis-ticks.ts.
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
