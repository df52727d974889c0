/**
 * Values in their metric's unit, as people read them in reports, Slack and
 * the CLI: "460 ms" for 0.46 seconds, "2.3%" for an error ratio, "42/s",
 * "14.4×"; changes in the unit ("+454 ms"), with a percentage only when the
 * base is far enough from zero to make one meaningful; tolerances with units.
 * Plain text out: the caller escapes it like any other string.
 * Decisions: docs/adr/020-report-units-and-ticks.md.
 */
import { formatNumber } from './format-number.ts';
import type { Unit } from './units.ts';

/** A prefix of a unit: multiply a base-unit value by `factor` and append `symbol`. */
export interface UnitPrefix {
  factor: number;
  symbol: string;
}

const TIME_PREFIXES: UnitPrefix[] = [
  { factor: 1e9, symbol: 'ns' },
  { factor: 1e6, symbol: 'µs' },
  { factor: 1e3, symbol: 'ms' },
  { factor: 1, symbol: 's' },
  { factor: 1 / 60, symbol: 'min' },
  { factor: 1 / 3600, symbol: 'h' },
  { factor: 1 / 86_400, symbol: 'd' },
];
const BYTE_PREFIXES: UnitPrefix[] = [
  { factor: 1, symbol: 'B' },
  { factor: 1e-3, symbol: 'kB' },
  { factor: 1e-6, symbol: 'MB' },
  { factor: 1e-9, symbol: 'GB' },
  { factor: 1e-12, symbol: 'TB' },
];
const COUNT_PREFIXES: UnitPrefix[] = [
  { factor: 1, symbol: '' },
  { factor: 1e-3, symbol: 'k' },
  { factor: 1e-6, symbol: 'M' },
  { factor: 1e-9, symbol: 'G' },
];

/** A raw value in the unit's base (seconds, bytes, fraction); other kinds are as they are. */
export function toBase(v: number, unit: Unit): number {
  return 'scale' in unit ? v * unit.scale : v;
}

/**
 * The prefix that shows `magnitude` (a base-unit value, or the largest of an
 * axis) with 1–3 digits before the point: 0.46 s → ms, 1.2e-4 s → µs,
 * 2_500 B → kB. Ratios are always %, multiples ×.
 */
export function prefixFor(magnitude: number, unit: Unit): UnitPrefix {
  const m = Math.abs(magnitude);
  switch (unit.kind) {
    case 'time':
      if (!(m > 0) || !Number.isFinite(m)) return { factor: 1, symbol: 's' };
      // Minutes from 10 min, hours from 10 h, days from 10 d: "45 min", not "2700 s".
      if (m >= 864_000) return TIME_PREFIXES[6] as UnitPrefix;
      if (m >= 36_000) return TIME_PREFIXES[5] as UnitPrefix;
      if (m >= 600) return TIME_PREFIXES[4] as UnitPrefix;
      return TIME_PREFIXES.find((p) => m * p.factor < 1000 && m * p.factor >= 1) ?? (m < 1e-9 ? (TIME_PREFIXES[0] as UnitPrefix) : (TIME_PREFIXES[3] as UnitPrefix));
    case 'bytes':
      return pickUp(BYTE_PREFIXES, m);
    case 'ratio':
      return { factor: 100, symbol: '%' };
    case 'multiple':
      return { factor: 1, symbol: '×' };
    case 'rate': {
      const p = pickUp(COUNT_PREFIXES, m);
      const per = unit.per ? `${unit.per}/s` : '/s';
      return { factor: p.factor, symbol: p.symbol && unit.per ? `${p.symbol} ${per}` : `${p.symbol}${per}` };
    }
    case 'none': {
      const p = pickUp(COUNT_PREFIXES, m >= 1e4 ? m : 0);
      return { factor: p.factor, symbol: unit.name ? (p.symbol ? `${p.symbol} ${unit.name}` : unit.name) : p.symbol };
    }
  }
}

/** The largest prefix that keeps at least one digit before the point. */
function pickUp(prefixes: readonly UnitPrefix[], m: number): UnitPrefix {
  let best = prefixes[0] as UnitPrefix;
  for (const p of prefixes) if (m * p.factor >= 1) best = p;
  return best;
}

/** Number and symbol as they are written together: "460 ms", "2.3%", "14×", "42/s", "12k". */
export function joinUnit(number: string, symbol: string): string {
  if (!symbol) return number;
  // "%", "×", "/s" and a bare count prefix ("k", "k/s", "k orders/s") are written against the number.
  return /^(%|×|\/|[kMG](?:$|[\s/]))/.test(symbol) ? `${number}${symbol}` : `${number} ${symbol}`;
}

/** Significant digits for a displayed value: 3, or 4 for a ratio (99.95% must not read as 100%). */
function digitsFor(unit: Unit, digits: number | undefined): number {
  return digits ?? (unit.kind === 'ratio' ? 4 : 3);
}

/** A value with its unit: 0.46 (seconds) → "460 ms"; 0.0123 (ratio) → "1.23%"; em dash when missing. */
export function formatValue(v: number | null | undefined, unit: Unit, opts: { digits?: number } = {}): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  const base = toBase(v, unit);
  const prefix = prefixFor(base, unit);
  return joinUnit(plain(base * prefix.factor, digitsFor(unit, opts.digits)), prefix.symbol);
}

/**
 * A difference in the unit, signed: "+454 ms", "−7.2/s". A difference of
 * ratios is in percentage points ("+2.1 pp"): a percent of a percent misleads.
 */
export function formatDelta(d: number | null | undefined, unit: Unit, opts: { digits?: number; prefix?: UnitPrefix } = {}): string {
  if (typeof d !== 'number' || !Number.isFinite(d)) return '—';
  const base = toBase(d, unit);
  const digits = opts.digits ?? 3;
  if (unit.kind === 'ratio') return `${sign(base)}${plain(Math.abs(base) * 100, digits)} pp`;
  const prefix = opts.prefix ?? prefixFor(base, unit);
  return `${sign(base)}${joinUnit(plain(Math.abs(base) * prefix.factor, digits), prefix.symbol)}`;
}

/** An interval of differences in one prefix, the larger end's: "[+0.25 ms, +9.3 ms]", not "[+248 µs, +9.3 ms]". */
export function formatInterval(lo: number | null | undefined, hi: number | null | undefined, unit: Unit): string {
  if (typeof lo !== 'number' || typeof hi !== 'number' || !Number.isFinite(lo) || !Number.isFinite(hi)) return '—';
  const prefix = prefixFor(Math.max(Math.abs(toBase(lo, unit)), Math.abs(toBase(hi, unit))), unit);
  return `[${formatDelta(lo, unit, { prefix })}, ${formatDelta(hi, unit, { prefix })}]`;
}

/** A relative change: 0.174 → "+17.4%", −0.05 → "−5%". */
export function formatPercentChange(fraction: number | null | undefined): string {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return '—';
  return `${sign(fraction)}${plain(Math.abs(fraction) * 100, 3)}%`;
}

/**
 * When a percentage change would mislead, because the base is near zero:
 * - the base is 0 (or not finite);
 * - the change is more than NEAR_ZERO_FACTOR times the base (|relative| > 1000%):
 *   "+41500%" says only that the base was tiny; the values say more;
 * - the spec gave an absolute tolerance larger than the base: its author
 *   called differences that size noise, so the base is zero within noise;
 * - the unit is a ratio: its change is said in percentage points instead.
 */
export const NEAR_ZERO_FACTOR = 10;

export function isNearZeroBase(base: number | null | undefined, effect: number | null | undefined, opts: { unit?: Unit; absoluteTolerance?: number } = {}): boolean {
  if (typeof base !== 'number' || !Number.isFinite(base) || base === 0) return true;
  if (opts.unit?.kind === 'ratio') return true;
  if (typeof effect === 'number' && Number.isFinite(effect) && Math.abs(effect) > NEAR_ZERO_FACTOR * Math.abs(base)) return true;
  return opts.absoluteTolerance !== undefined && opts.absoluteTolerance > 0 && Math.abs(base) < opts.absoluteTolerance;
}

export interface EffectInput {
  /** The control's level the change is relative to (median, or mean for the paired judge). */
  base: number | null | undefined;
  /** experiment − control, in the metric's raw unit. */
  effect: number | null | undefined;
  /** effect / |base|, as the judge computed it; null when it had none. */
  relative?: number | null | undefined;
  unit: Unit;
  /** An absolute tolerance, in the raw unit (see isNearZeroBase). */
  absoluteTolerance?: number | undefined;
}

/**
 * An effect as one short phrase: "−7.2/s (−17%)"; near a zero base the
 * values instead of a percentage: "5.6 ms → 460 ms (+454 ms)".
 */
export function formatEffect(e: EffectInput): string {
  if (typeof e.effect !== 'number' || !Number.isFinite(e.effect)) return '—';
  const delta = formatDelta(e.effect, e.unit);
  if (isNearZeroBase(e.base, e.effect, { unit: e.unit, ...(e.absoluteTolerance !== undefined ? { absoluteTolerance: e.absoluteTolerance } : {}) })) {
    if (typeof e.base !== 'number' || !Number.isFinite(e.base)) return delta;
    return `${formatValue(e.base, e.unit)} → ${formatValue(e.base + e.effect, e.unit)} (${delta})`;
  }
  const relative = typeof e.relative === 'number' && Number.isFinite(e.relative) ? e.relative : e.effect / Math.abs(e.base as number);
  return `${delta} (${formatPercentChange(relative)})`;
}

/** A tolerance as the spec gave it, parsed: relative or absolute (in the metric's raw unit). */
export interface ToleranceInput {
  kind: 'relative' | 'absolute';
  value: number;
}

/**
 * A tolerance with its unit: relative "±10%" (with the band it gave on this
 * run, when known: "±10% of control = ±18 ms"); absolute as written and in
 * the readable prefix: "±0.05 s = ±50 ms".
 */
export function formatTolerance(t: ToleranceInput, unit: Unit, allowed?: number | null): string {
  if (t.kind === 'relative') {
    const pct = `±${plain(t.value * 100, 3)}%`;
    return typeof allowed === 'number' && Number.isFinite(allowed) && allowed > 0 ? `${pct} of control = ±${formatDelta(allowed, unit).slice(1)}` : pct;
  }
  const pretty = `±${formatDelta(t.value, unit).slice(1)}`;
  const raw = rawSymbol(unit);
  if (!raw) return pretty;
  const written = `±${joinUnit(plain(t.value, 4), raw)}`;
  return written === pretty ? pretty : `${written} = ${pretty}`;
}

/** The raw unit's own symbol (what a number in the spec is in), for "as written" texts. */
function rawSymbol(unit: Unit): string {
  switch (unit.kind) {
    case 'time':
      return unit.scale === 1 ? 's' : unit.scale === 1e-3 ? 'ms' : unit.scale === 1e-6 ? 'µs' : '';
    case 'bytes':
      return unit.scale === 1 ? 'B' : '';
    case 'ratio':
      return '';
    case 'multiple':
      return '×';
    case 'rate':
      return `${unit.per ? `${unit.per}` : ''}/s`;
    case 'none':
      return unit.name ?? '';
  }
}

/** The unit's name for an axis or a column head when values carry no symbol: "seconds", "%", "per second". */
export function unitTitle(unit: Unit): string {
  switch (unit.kind) {
    case 'time':
      return 'time';
    case 'bytes':
      return 'bytes';
    case 'ratio':
      return '%';
    case 'multiple':
      return '×';
    case 'rate':
      return unit.per ? `${unit.per} per second` : 'per second';
    case 'none':
      return unit.name ?? '';
  }
}

/** "+" for positive, the minus sign for negative, nothing for zero. */
function sign(v: number): string {
  return v > 0 ? '+' : v < 0 ? '−' : '';
}

/** `digits` significant digits, never an exponent in the 1e-3…1e6 range after prefixing; the minus sign is U+2212. */
function plain(v: number, digits: number): string {
  const abs = Math.abs(v);
  const text = abs >= 1e-3 && abs < 1e6 ? String(Number(abs.toPrecision(digits))) : formatNumber(abs, digits);
  return v < 0 ? `−${text}` : text;
}
