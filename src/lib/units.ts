/**
 * What unit a metric's values are in: declared (a query-library `unit:` or a
 * spec's `unit:` field, when there is one), else read from the query by
 * Prometheus naming conventions. A guess that could mislead is worse than no
 * unit, so anything unclear is `none` (docs/adr/020-report-units-and-ticks.md).
 */

/**
 * A metric's unit. `scale` converts a raw value to the base unit:
 * a `_milliseconds` histogram has `{ kind: 'time', scale: 1e-3 }`.
 */
export type Unit =
  /** Durations; base unit the second. */
  | { kind: 'time'; scale: number }
  /** Sizes; base unit the byte (SI prefixes: kB = 1000 B). */
  | { kind: 'bytes'; scale: number }
  /** Events per second (`rate()`); `per` names the events ("orders"). */
  | { kind: 'rate'; per?: string }
  /** A fraction of a whole (error ratio); base unit 1, shown as a percentage. */
  | { kind: 'ratio'; scale: number }
  /** A multiple of something: a burn rate, experiment ÷ control. Shown as "1.5×". */
  | { kind: 'multiple' }
  /** A plain number, optionally with a name the user gave it ("widgets"). */
  | { kind: 'none'; name?: string };

export const NO_UNIT: Unit = Object.freeze({ kind: 'none' });
export const SECONDS: Unit = Object.freeze({ kind: 'time', scale: 1 });
export const RATIO: Unit = Object.freeze({ kind: 'ratio', scale: 1 });
export const MULTIPLE: Unit = Object.freeze({ kind: 'multiple' });
export const PER_SECOND: Unit = Object.freeze({ kind: 'rate' });

/**
 * A unit as people write it (`unit:` in the query library: "seconds",
 * "ratio", "orders/s", "burn rate"). Undefined for an empty name.
 */
export function unitFromName(name: string | undefined): Unit | undefined {
  const text = name?.trim();
  if (!text) return undefined;
  const t = text.toLowerCase();
  if (t === 's' || t === 'sec' || t === 'second' || t === 'seconds') return SECONDS;
  if (t === 'ms' || t === 'millisecond' || t === 'milliseconds') return { kind: 'time', scale: 1e-3 };
  if (t === 'µs' || t === 'us' || t === 'microseconds') return { kind: 'time', scale: 1e-6 };
  if (t === 'b' || t === 'byte' || t === 'bytes') return { kind: 'bytes', scale: 1 };
  if (t === 'ratio' || t === 'fraction') return RATIO;
  if (t === '%' || t === 'percent' || t === 'percentage') return { kind: 'ratio', scale: 0.01 };
  if (t === '×' || t === 'x' || t === 'burn rate' || t === 'multiple') return MULTIPLE;
  if (t === '/s' || t === 'per second' || t === 'hz') return PER_SECOND;
  const per = /^(.+?)\s*(?:\/\s*s|\/\s*sec|\/\s*second|per second)$/.exec(text);
  if (per?.[1]) return per[1] === 'events' ? PER_SECOND : { kind: 'rate', per: per[1] };
  return { kind: 'none', name: text };
}

/** The declared unit when there is one, else the query's, else none. */
export function resolveUnit(opts: { unit?: string | undefined; query?: string | undefined }): Unit {
  return unitFromName(opts.unit) ?? (opts.query ? unitOfQuery(opts.query) : NO_UNIT);
}

/**
 * The unit of a PromQL query's values, by the naming conventions
 * (prometheus.io/docs/practices/naming: base units in metric names):
 * - `histogram_quantile` over `*_seconds_bucket` → seconds (`_milliseconds`, `_bytes` likewise);
 * - `A / B` where both sides read one metric family (`x_total{code=~"5.."}` / `x_total`,
 *   `x_bucket{le="0.3"}` / `x_count`) → a ratio, shown as %; `1 - ratio` too;
 *   `x_seconds_sum / x_seconds_count` → seconds (a mean);
 * - `rate()`/`irate()` of a counter without a unit in its name → per second;
 * - a gauge named `*_seconds`, `*_bytes`, `*_ratio` → that unit.
 * Anything else (other arithmetic, ratios of different things, Datadog) → none.
 */
export function unitOfQuery(query: string): Unit {
  let q = stripOuterParens(clean(query));
  const oneMinus = /^1\s*-\s*(.+)$/s.exec(q);
  if (oneMinus?.[1]) {
    const rest = unitOfQuery(oneMinus[1]);
    return rest.kind === 'ratio' && rest.scale === 1 ? RATIO : NO_UNIT;
  }
  const quotient = splitTopLevel(q, '/');
  if (quotient) return unitOfQuotient(quotient[0], quotient[1]);
  if (hasTopLevelArithmetic(q)) return NO_UNIT;
  q = q.replace(/\s+/g, '');
  const names = metricNames(q);
  if (/\bhistogram_quantile\(/.test(q)) {
    const bucket = names.find((n) => n.endsWith('_bucket'));
    return bucket ? unitOfName(bucket.slice(0, -'_bucket'.length)) : NO_UNIT;
  }
  if (/\b(rate|irate)\(/.test(q)) {
    // A counter of seconds or bytes under rate() is seconds per second (busy cores) or bytes per second: say nothing.
    return names.length > 0 && names.every((n) => unitOfName(n.replace(/_total$/, '')).kind === 'none') ? PER_SECOND : NO_UNIT;
  }
  if (/\bincrease\(/.test(q) || names.length !== 1) return NO_UNIT;
  return unitOfName(names[0] as string);
}

function unitOfQuotient(numerator: string, denominator: string): Unit {
  const top = metricNames(numerator);
  const bottom = metricNames(denominator);
  if (top.length === 0 || bottom.length === 0) return NO_UNIT;
  // A mean from a summary or histogram: x_seconds_sum / x_seconds_count.
  const sum = top.length === 1 && bottom.length === 1 && /_sum$/.test(top[0] as string) && (bottom[0] as string) === (top[0] as string).replace(/_sum$/, '_count');
  if (sum) return unitOfName((top[0] as string).replace(/_sum$/, ''));
  const family = (n: string): string => n.replace(/_(bucket|count|total)$/, '');
  const families = new Set([...top, ...bottom].map(family));
  return families.size === 1 ? RATIO : NO_UNIT;
}

/** Unit from a metric name's suffix, e.g. `http_request_duration_seconds`. */
function unitOfName(name: string): Unit {
  if (/_seconds$/.test(name)) return SECONDS;
  if (/_(milliseconds|ms)$/.test(name)) return { kind: 'time', scale: 1e-3 };
  if (/_bytes$/.test(name)) return { kind: 'bytes', scale: 1 };
  if (/_ratio$/.test(name)) return RATIO;
  return NO_UNIT;
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'or', 'and', 'unless', 'bool', 'offset', 'inf', 'nan', 'atan2']);

/** The metric names a PromQL expression reads: identifiers not called as functions, outside label matchers and groupings. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()/g)) {
    const n = m[1] as string;
    if (!KEYWORDS.has(n.toLowerCase())) names.add(n);
  }
  return [...names];
}

/** Template variables read as placeholders, strings blanked: the structure is what matters here. */
function clean(query: string): string {
  return query.replace(/\$\{?(\w+)\}?/g, 'x').trim();
}

function stripOuterParens(q: string): string {
  let s = q.trim();
  while (s.startsWith('(') && s.endsWith(')') && closingOf(s, 0) === s.length - 1) s = s.slice(1, -1).trim();
  return s;
}

function closingOf(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

/** Split at the last top-level `op` (outside parentheses, braces, brackets, strings). */
function splitTopLevel(q: string, op: string): [string, string] | undefined {
  let depth = 0;
  let quote = '';
  let at = -1;
  for (let i = 0; i < q.length; i++) {
    const c = q[i] as string;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') depth--;
    else if (depth === 0 && c === op) at = i;
  }
  return at > 0 ? [q.slice(0, at), q.slice(at + 1)] : undefined;
}

function hasTopLevelArithmetic(q: string): boolean {
  const top = q
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]');
  let depth = 0;
  for (let i = 0; i < top.length; i++) {
    const c = top[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && (c === '*' || c === '+' || c === '-' || c === '%' || c === '^')) return true;
  }
  return false;
}
