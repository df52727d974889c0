/**
 * A local server that follows the documented Datadog Metrics API shapes, for
 * contract and integration tests (no Datadog is reachable from tests):
 *
 * - `GET /api/v1/validate` — `DD-API-KEY` only; `{"valid": true}` or 403.
 * - `POST /api/v2/query/timeseries` — `{data:{type:"timeseries_request",
 *   attributes:{from, to, interval?, queries:[{data_source, query, name}],
 *   formulas?:[{formula}]}}}`, from/to in ms (to exclusive); answers
 *   `{data:{type:"timeseries_response", attributes:{series:[{group_tags,
 *   query_index, unit}], times:[ms], values:[[v|null]]}}}`.
 * - `GET /api/v1/query?from=&to=&query=` — from/to in Unix seconds; answers
 *   `{status:"ok", res_type:"time_series", series:[{metric, scope, tag_set,
 *   interval, length, start, end, pointlist:[[ms, v|null]]}], from_date, to_date}`.
 * - Errors as Datadog sends them: `{"errors": ["..."]}` with 400/403/404.
 *
 * Values come from `data(metricQuery, tMs, intervalMs)`: a number, `null` (a null point)
 * or `undefined` (no series at all). Formulas are evaluated here (+ − × ÷ and
 * parentheses over query names; a null operand gives null), so a v2 request
 * and a v1 expression with the same meaning give the same numbers.
 *
 * The server is strict where a client bug would otherwise pass silently:
 * seconds where milliseconds are due (or the reverse), a malformed body,
 * formulas naming unknown queries, missing keys — each is a 400 or 403 that
 * names the problem. Every request is recorded for assertions; `reply` can
 * script any answer (429 with headers, 5xx, a hang) before the default one.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DdRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, when it is JSON. */
  json: any;
  /** Server clock when the request arrived (ms). */
  at: number;
}

export type DdReply =
  | { status?: number; json?: unknown; text?: string; headers?: Record<string, string> }
  /** Accept the request and never answer. */
  | 'hang'
  /** Close the connection without answering. */
  | 'reset';

export type DataFn = (metricQuery: string, tMs: number, intervalMs: number) => number | null | undefined;

export interface DatadogServerOptions {
  apiKey?: string;
  appKey?: string;
  data?: DataFn;
  /** Step of v1 answers (v1 has no interval parameter). Default 1 s. */
  v1IntervalMs?: number;
  /** Script an answer; return undefined for the documented default. */
  reply?: (req: DdRequest) => DdReply | undefined;
  /** Headers added to every default answer (e.g. X-RateLimit-*). */
  headers?: (req: DdRequest) => Record<string, string> | undefined;
}

export interface DatadogServer {
  url: string;
  requests: DdRequest[];
  /** Requests to the query endpoints only (v1 and v2). */
  queries(): DdRequest[];
  stop(): Promise<void>;
}

export const TEST_API_KEY = 'dd-api-0123456789abcdef0123456789abcdef';
export const TEST_APP_KEY = 'dd-app-fedcba9876543210fedcba9876543210abcd';

/** `sum:shop.requests{group:ctl,!code:5*} by {x}.as_count()` → its parts, for data functions. */
export interface ParsedMetricQuery {
  agg: string;
  metric: string;
  tags: Record<string, string>;
  excluded: Record<string, string>;
  methods: string[];
}

export function parseMetricQuery(q: string): ParsedMetricQuery {
  const m = /^\s*([\w.]+):([A-Za-z][\w.]*)\s*\{([^{}]*)\}(.*)$/.exec(q);
  if (!m) throw new Error(`not a metric query: ${q}`);
  const tags: Record<string, string> = {};
  const excluded: Record<string, string> = {};
  for (const term of (m[3] ?? '').split(',').map((t) => t.trim())) {
    if (term === '' || term === '*') continue;
    const neg = term.startsWith('!');
    const body = neg ? term.slice(1) : term;
    const i = body.indexOf(':');
    const [k, v] = i < 0 ? [body, ''] : [body.slice(0, i), body.slice(i + 1)];
    (neg ? excluded : tags)[k] = v;
  }
  const methods = [...(m[4] ?? '').matchAll(/\.([A-Za-z_]\w*)\(([^()]*)\)/g)].map((x) => `${x[1]}(${x[2]})`);
  return { agg: m[1] ?? '', metric: m[2] ?? '', tags, excluded, methods };
}

/** Datadog's simple wildcard match (`5*`, `*-canary`). */
export function tagMatches(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(value);
}

// --- formulas: numbers, names, + - * /, parentheses ------------------------------

type Expr = { num: number } | { name: string } | { op: string; l: Expr; r: Expr } | { neg: Expr };

function parseFormula(text: string): Expr {
  const tokens = text.match(/\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_]\w*|[-+*/()]|\S/g) ?? [];
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const next = (): string => {
    const t = tokens[i++];
    if (t === undefined) throw new Error(`formula ends early: ${text}`);
    return t;
  };
  const primary = (): Expr => {
    const t = next();
    if (t === '(') {
      const e = sum();
      if (next() !== ')') throw new Error(`missing ) in formula: ${text}`);
      return e;
    }
    if (t === '-') return { neg: primary() };
    if (/^\d/.test(t)) return { num: Number(t) };
    if (/^[A-Za-z_]/.test(t)) return { name: t };
    throw new Error(`unexpected "${t}" in formula: ${text}`);
  };
  const product = (): Expr => {
    let e = primary();
    while (peek() === '*' || peek() === '/') e = { op: next(), l: e, r: primary() };
    return e;
  };
  const sum = (): Expr => {
    let e = product();
    while (peek() === '+' || peek() === '-') e = { op: next(), l: e, r: product() };
    return e;
  };
  const e = sum();
  if (i !== tokens.length) throw new Error(`unexpected "${tokens[i]}" in formula: ${text}`);
  return e;
}

function namesIn(e: Expr, out = new Set<string>()): Set<string> {
  if ('name' in e) out.add(e.name);
  else if ('op' in e) {
    namesIn(e.l, out);
    namesIn(e.r, out);
  } else if ('neg' in e) namesIn(e.neg, out);
  return out;
}

function evaluate(e: Expr, vars: Record<string, number | null>): number | null {
  if ('num' in e) return e.num;
  if ('name' in e) return vars[e.name] ?? null;
  if ('neg' in e) {
    const v = evaluate(e.neg, vars);
    return v === null ? null : -v;
  }
  const l = evaluate(e.l, vars);
  const r = evaluate(e.r, vars);
  if (l === null || r === null) return null;
  switch (e.op) {
    case '+':
      return l + r;
    case '-':
      return l - r;
    case '*':
      return l * r;
    default:
      return r === 0 ? null : l / r;
  }
}

/**
 * A v1 expression: metric queries combined with arithmetic. Each metric query
 * becomes a name, the rest a formula (the same split Datadog does server-side).
 */
function splitV1(expression: string): { names: Map<string, string>; formula: Expr } {
  const names = new Map<string, string>();
  const re = /(?<![\w.])[\w.]+:[A-Za-z][\w.]*\s*\{[^{}]*\}(?:\s*by\s*\{[^{}]*\}|\.[A-Za-z_]\w*\([^()]*\))*/g;
  const formula = expression.replace(re, (q) => {
    const name = `q${names.size}`;
    names.set(name, q);
    return name;
  });
  return { names, formula: parseFormula(formula) };
}

const MS_FLOOR = 1e12; // 2001-09-09 in ms; any ms timestamp in a test is above it, any seconds one below.

export async function startDatadogServer(opts: DatadogServerOptions = {}): Promise<DatadogServer> {
  const apiKey = opts.apiKey ?? TEST_API_KEY;
  const appKey = opts.appKey ?? TEST_APP_KEY;
  const data: DataFn = opts.data ?? (() => undefined);
  const v1Interval = opts.v1IntervalMs ?? 1_000;
  const requests: DdRequest[] = [];
  const open = new Set<ServerResponse>();

  const errors = (status: number, ...messages: string[]) => ({ status, json: { errors: messages } });

  const series = (query: string, times: number[], intervalMs: number): (number | null)[] | undefined => {
    const values = times.map((t) => data(query, t, intervalMs));
    if (values.every((v) => v === undefined)) return undefined;
    return values.map((v) => (v === undefined ? null : v));
  };

  const v2 = (req: DdRequest): DdReply => {
    const attrs = req.json?.data?.attributes;
    if (req.json?.data?.type !== 'timeseries_request' || !attrs) return errors(400, 'data.type must be timeseries_request');
    const { from, to, interval, queries, formulas } = attrs;
    if (!Number.isInteger(from) || !Number.isInteger(to)) return errors(400, 'from and to must be integers (ms)');
    if (from < MS_FLOOR || to < MS_FLOOR) return errors(400, 'from and to must be Unix milliseconds');
    if (to <= from) return errors(400, 'to must be after from');
    if (interval !== undefined && (!Number.isInteger(interval) || interval <= 0)) return errors(400, 'interval must be a positive integer (ms)');
    if (!Array.isArray(queries) || queries.length === 0) return errors(400, 'queries must be a non-empty array');
    const byName = new Map<string, string>();
    for (const q of queries) {
      if (q?.data_source !== 'metrics' || typeof q.query !== 'string') return errors(400, 'each query needs data_source "metrics" and a query');
      if (typeof q.name !== 'string' || byName.has(q.name)) return errors(400, 'each query needs a unique name');
      byName.set(q.name, q.query);
    }
    const step = interval ?? 1_000;
    const times: number[] = [];
    for (let t = Math.ceil(from / step) * step; t < to; t += step) times.push(t);
    const outSeries: { group_tags: string[]; query_index: number; unit: null }[] = [];
    const outValues: (number | null)[][] = [];
    try {
      const columns = new Map<string, (number | null)[] | undefined>();
      for (const [name, q] of byName) {
        parseMetricQuery(q); // a v2 query is one metric query: arithmetic belongs in formulas
        columns.set(name, series(q, times, step));
      }
      if (formulas === undefined) {
        [...byName.keys()].forEach((name, i) => {
          const col = columns.get(name);
          if (col) {
            outSeries.push({ group_tags: [], query_index: i, unit: null });
            outValues.push(col);
          }
        });
      } else {
        if (!Array.isArray(formulas)) return errors(400, 'formulas must be an array');
        formulas.forEach((f: { formula?: unknown }, i: number) => {
          const expr = parseFormula(String(f?.formula));
          for (const n of namesIn(expr)) if (!byName.has(n)) throw new Error(`formula references unknown query "${n}"`);
          if ([...namesIn(expr)].some((n) => columns.get(n) === undefined)) return;
          outSeries.push({ group_tags: [], query_index: i, unit: null });
          outValues.push(times.map((_, j) => evaluate(expr, Object.fromEntries([...columns].map(([n, c]) => [n, c?.[j] ?? null])))));
        });
      }
    } catch (err) {
      return errors(400, `Error parsing query: ${(err as Error).message}`);
    }
    return {
      json: { data: { type: 'timeseries_response', id: '0', attributes: { series: outSeries, times, values: outValues } } },
    };
  };

  const v1 = (req: DdRequest): DdReply => {
    const from = Number(req.query.get('from'));
    const to = Number(req.query.get('to'));
    const query = req.query.get('query');
    if (!query) return errors(400, 'query is required');
    if (!Number.isInteger(from) || !Number.isInteger(to)) return errors(400, 'from and to must be integer Unix seconds');
    if (from >= MS_FLOOR / 100 || to >= MS_FLOOR / 100) return errors(400, 'from and to must be Unix seconds, not milliseconds');
    let split: ReturnType<typeof splitV1>;
    try {
      split = splitV1(query);
      for (const q of split.names.values()) parseMetricQuery(q);
    } catch (err) {
      return { status: 400, json: { status: 'error', error: `Error parsing query: ${(err as Error).message}` } };
    }
    const times: number[] = [];
    for (let t = Math.ceil((from * 1000) / v1Interval) * v1Interval; t <= to * 1000; t += v1Interval) times.push(t);
    const columns = new Map([...split.names].map(([n, q]) => [n, series(q, times, v1Interval)]));
    const out = [];
    if ([...columns.values()].every((c) => c !== undefined)) {
      const values = times.map((_, j) => evaluate(split.formula, Object.fromEntries([...columns].map(([n, c]) => [n, c?.[j] ?? null]))));
      const scope = /\{([^{}]*)\}/.exec(query)?.[1] ?? '*';
      out.push({
        metric: query,
        display_name: query,
        expression: query,
        scope,
        tag_set: [],
        interval: v1Interval / 1000,
        length: times.length,
        start: times[0] ?? from * 1000,
        end: times.at(-1) ?? to * 1000,
        aggr: null,
        unit: null,
        pointlist: times.map((t, j) => [t, values[j] ?? null]),
      });
    }
    return {
      json: { status: 'ok', res_type: 'time_series', query, message: '', from_date: from * 1000, to_date: to * 1000, group_by: [], series: out },
    };
  };

  const route = (req: DdRequest): DdReply => {
    const key = req.headers['dd-api-key'];
    if (req.path === '/api/v1/validate' && req.method === 'GET') {
      return key === apiKey ? { json: { valid: true } } : errors(403, 'Forbidden');
    }
    const isV2 = req.path === '/api/v2/query/timeseries' && req.method === 'POST';
    const isV1 = req.path === '/api/v1/query' && req.method === 'GET';
    if (!isV1 && !isV2) return errors(404, 'Not found');
    if (key !== apiKey || req.headers['dd-application-key'] !== appKey) return errors(403, 'Forbidden');
    if (isV2 && !/^application\/json/.test(String(req.headers['content-type']))) return errors(415, 'Unsupported Media Type');
    return isV2 ? v2(req) : v1(req);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://datadog.local');
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const recorded: DdRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
        json,
        at: Date.now(),
      };
      requests.push(recorded);
      const reply = opts.reply?.(recorded) ?? route(recorded);
      if (reply === 'hang') {
        open.add(res);
        return;
      }
      if (reply === 'reset') {
        res.socket?.destroy();
        return;
      }
      const headers = { ...(opts.headers?.(recorded) ?? {}), ...reply.headers };
      const status = reply.status ?? 200;
      if (reply.json !== undefined) {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(reply.json));
      } else {
        res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
        res.end(reply.text ?? '');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    queries: () => requests.filter((r) => r.path === '/api/v2/query/timeseries' || r.path === '/api/v1/query'),
    async stop() {
      for (const res of open) res.destroy();
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
