/**
 * A parser for the Prometheus text exposition format 0.0.4 (what prom-client
 * and every official client library serve on /metrics):
 *
 *   # HELP name text
 *   # TYPE name counter|gauge|histogram|summary|untyped
 *   name{label="value",…} value [timestamp-ms]
 *
 * Counters, gauges, histograms (`_bucket{le}`, `_sum`, `_count`) and summaries
 * are all plain float series once exposed, so the parser only needs the sample
 * lines; `# TYPE` is checked for a known type and otherwise unused, as in
 * Prometheus's own ingestion. Like Prometheus, one malformed line fails the
 * whole scrape (a half-read scrape would look like vanished series).
 */

export interface ExposedSample {
  name: string;
  /** Without `__name__`; may hold empty values (the scraper drops them). */
  labels: Record<string, string>;
  value: number;
  /** Explicit timestamp in ms, when the line has one. */
  timestampMs?: number;
}

export class ExpositionError extends Error {
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = 'ExpositionError';
  }
}

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
// What Go's strconv.ParseFloat accepts in practice from exporters: decimal
// floats, and inf/infinity/nan in any case (NaN and +Inf are what clients write).
const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)$/;
const INF_RE = /^([+-]?)(?:inf|infinity)$/i;
const NAN_RE = /^[+-]?nan$/i;
const INT_RE = /^-?\d+$/;

/** Go's ParseFloat on the forms exporters write; undefined when it would fail. */
export function parseGoFloat(text: string): number | undefined {
  if (DECIMAL_RE.test(text)) return Number(text);
  const inf = INF_RE.exec(text);
  if (inf) return inf[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (NAN_RE.test(text)) return Number.NaN;
  return undefined;
}

function isBlank(c: string | undefined): boolean {
  return c === ' ' || c === '\t';
}

/** Parse a whole exposition body. Throws ExpositionError naming the first bad line. */
export function parseExposition(body: string): ExposedSample[] {
  const out: ExposedSample[] = [];
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = lines[i] as string;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (trimmed.startsWith('#')) {
      checkComment(trimmed, lineNo);
      continue;
    }
    out.push(parseSampleLine(line, lineNo));
  }
  return out;
}

function checkComment(line: string, lineNo: number): void {
  const parts = line.slice(1).trim().split(/[ \t]+/);
  if (parts[0] === 'TYPE') {
    if (parts.length < 3 || !METRIC_NAME_RE.test(parts[1] ?? '') || !TYPES.has(parts[2] ?? '')) {
      throw new ExpositionError(lineNo, `invalid TYPE line ${JSON.stringify(line.slice(0, 120))}`);
    }
  } else if (parts[0] === 'HELP') {
    if (parts.length < 2 || !METRIC_NAME_RE.test(parts[1] ?? '')) {
      throw new ExpositionError(lineNo, `invalid HELP line ${JSON.stringify(line.slice(0, 120))}`);
    }
  }
  // Any other comment is ignored, as the format says.
}

function parseSampleLine(line: string, lineNo: number): ExposedSample {
  let pos = 0;
  const skipBlanks = (): void => {
    while (isBlank(line[pos])) pos++;
  };
  const fail = (detail: string): never => {
    throw new ExpositionError(lineNo, `${detail} in ${JSON.stringify(line.length > 120 ? `${line.slice(0, 120)}…` : line)}`);
  };

  skipBlanks();
  const name = METRIC_NAME_RE.exec(line.slice(pos))?.[0];
  if (!name) fail('expected a metric name');
  pos += (name as string).length;
  const labels: Record<string, string> = {};
  const afterName = pos;
  skipBlanks();
  if (line[pos] !== '{') pos = afterName;
  else {
    pos++;
    for (;;) {
      skipBlanks();
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const label = LABEL_NAME_RE.exec(line.slice(pos))?.[0];
      if (!label) fail('expected a label name');
      pos += (label as string).length;
      skipBlanks();
      if (line[pos] !== '=') fail(`expected "=" after label ${label}`);
      pos++;
      skipBlanks();
      if (line[pos] !== '"') fail(`expected a quoted value for label ${label}`);
      pos++;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) fail(`unterminated value of label ${label}`);
        pos++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[pos];
          if (e === undefined) fail(`unterminated value of label ${label}`);
          pos++;
          // The format defines \\, \" and \n; Prometheus leaves any other
          // escape as written, and so do we.
          value += e === 'n' ? '\n' : e === '\\' || e === '"' ? e : `\\${e}`;
        } else {
          value += c;
        }
      }
      if (Object.hasOwn(labels, label as string)) fail(`duplicate label ${label}`);
      labels[label as string] = value;
      skipBlanks();
      if (line[pos] === ',') {
        pos++;
        continue;
      }
      if (line[pos] === '}') {
        pos++;
        break;
      }
      fail('expected "," or "}" after a label');
    }
  }
  if (!isBlank(line[pos])) fail('expected a blank before the value');
  const rest = line.slice(pos).trim().split(/[ \t]+/);
  if (rest.length === 0 || rest[0] === '' || rest.length > 2) fail('expected a value and an optional timestamp');
  const value = parseGoFloat(rest[0] as string);
  if (value === undefined) fail(`value ${JSON.stringify(rest[0])} is not a number`);
  const sample: ExposedSample = { name: name as string, labels, value: value as number };
  if (rest.length === 2) {
    const ts = rest[1] as string;
    if (!INT_RE.test(ts) || !Number.isSafeInteger(Number(ts))) fail(`timestamp ${JSON.stringify(ts)} is not an integer of milliseconds`);
    sample.timestampMs = Number(ts);
  }
  return sample;
}
