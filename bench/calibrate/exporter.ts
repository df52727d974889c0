/**
 * The calibration bench's scrape target and fault backend: one HTTP server on
 * 127.0.0.1 serving a SyntheticShop.
 *
 * - `GET /metrics`: Prometheus text format, every experiment × group.
 * - `POST /fault` `{ exp, rateFactor, latencyFactor?, until }`: from now until
 *   `until` (epoch ms, or an ISO 8601 date, or Unix seconds as the webhook
 *   injector's `{{deadline}}` / `{{deadlineUnix}}` render it), the experiment
 *   group of `exp` only gets `rateFactor` × its checkout rate (1 = no effect,
 *   0.5 = a 50% drop) and `latencyFactor` × its latency (default 1).
 * - `DELETE /fault/:exp`: ends it now (200 even when none was set: closing is idempotent).
 * - `GET /fault/:exp`: `{ active, … }`.
 *
 * Every `tickMs` (bounded: one timer, cleared by stop()) the shop draws the
 * events of the elapsed time. `autoTick: false` leaves ticking to the caller
 * (tests drive the clock).
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exposition, type SyntheticShop } from './synthetic-shop.ts';

export interface ExporterOptions {
  shop: SyntheticShop;
  /** Default 100 ms. */
  tickMs?: number;
  /** Default true. */
  autoTick?: boolean;
  /** Clock for fault expiry and ticks (tests pass their own). Default Date.now. */
  now?: () => number;
}

export interface FaultCall {
  at: number;
  method: 'POST' | 'DELETE';
  exp: string;
  rateFactor?: number;
}

export interface RunningExporter {
  url: string;
  /** `127.0.0.1:port`, for Prometheus's static_configs. */
  target: string;
  /** Every fault call, in order (the bench reports when each fault really started). */
  readonly calls: readonly FaultCall[];
  /** How late the tick timer ran, ms: the largest gap beyond tickMs, and the count of ticks. */
  tickStats(): { ticks: number; maxLateMs: number; p99LateMs: number };
  stop(): Promise<void>;
}

const MAX_BODY = 16 * 1024;

/** `until` as the webhook renders it: a number (ms or Unix seconds), an ISO date, or a numeric string. */
export function parseUntil(value: unknown): number | undefined {
  const fromNumber = (n: number): number | undefined => (Number.isFinite(n) && n > 0 ? (n < 1e11 ? n * 1000 : n) : undefined);
  if (typeof value === 'number') return fromNumber(value);
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return fromNumber(Number(value));
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? {} : JSON.parse(text);
}

export async function startExporter(opts: ExporterOptions): Promise<RunningExporter> {
  const { shop } = opts;
  const now = opts.now ?? Date.now;
  const tickMs = opts.tickMs ?? 100;
  const calls: FaultCall[] = [];
  const lateness: number[] = [];

  const handleFault = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    if (req.method === 'POST' && path === '/fault') {
      const body = (await readJson(req)) as { exp?: unknown; rateFactor?: unknown; latencyFactor?: unknown; until?: unknown };
      const exp = typeof body.exp === 'string' ? body.exp : '';
      const rateFactor = Number(body.rateFactor);
      const latencyFactor = body.latencyFactor === undefined ? 1 : Number(body.latencyFactor);
      const until = parseUntil(body.until);
      const problems: string[] = [];
      if (!shop.has(exp)) problems.push(`exp: unknown experiment "${exp}"`);
      if (!(rateFactor >= 0 && rateFactor <= 10)) problems.push('rateFactor: a number in [0, 10] is needed');
      if (!(latencyFactor > 0 && latencyFactor <= 100)) problems.push('latencyFactor: a number in (0, 100] is needed');
      if (until === undefined) problems.push('until: epoch ms, Unix seconds or an ISO 8601 date is needed');
      if (problems.length > 0 || until === undefined) return send(res, 400, { errors: problems });
      const at = now();
      shop.setFault(exp, { rateFactor, latencyFactor, until, openedAt: at });
      calls.push({ at, method: 'POST', exp, rateFactor });
      return send(res, 200, { exp, active: at < until, rateFactor, latencyFactor, until: new Date(until).toISOString() });
    }
    const m = /^\/fault\/([^/]+)$/.exec(path);
    const exp = m ? decodeURIComponent(m[1]!) : '';
    if (!m || !shop.has(exp)) return send(res, 404, { error: `no experiment "${exp}"` });
    if (req.method === 'DELETE') {
      req.resume();
      const had = shop.clearFault(exp);
      calls.push({ at: now(), method: 'DELETE', exp });
      return send(res, 200, { exp, active: false, cleared: had });
    }
    if (req.method === 'GET') {
      const fault = shop.activeFault(exp, now());
      return send(res, 200, fault ? { exp, active: true, ...fault } : { exp, active: false });
    }
    return send(res, 405, { error: 'method not allowed' });
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(exposition(shop));
      return;
    }
    if (path === '/fault' || path.startsWith('/fault/')) {
      handleFault(req, res, path).catch((err: unknown) => send(res, 400, { error: err instanceof Error ? err.message : String(err) }));
      return;
    }
    send(res, 404, { error: 'not found' });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  let timer: NodeJS.Timeout | undefined;
  if (opts.autoTick ?? true) {
    shop.tick(now());
    let last = now();
    timer = setInterval(() => {
      const t = now();
      lateness.push(Math.max(0, t - last - tickMs));
      last = t;
      shop.tick(t);
    }, tickMs);
  }

  return {
    url: `http://127.0.0.1:${port}`,
    target: `127.0.0.1:${port}`,
    calls,
    tickStats() {
      const sorted = [...lateness].sort((a, b) => a - b);
      return {
        ticks: sorted.length,
        maxLateMs: sorted.length ? sorted[sorted.length - 1]! : 0,
        p99LateMs: sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]! : 0,
      };
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (!server.listening) return;
      const closed = once(server, 'close');
      server.close();
      // Prometheus keeps its scrape connection alive; close() alone would wait for it.
      server.closeAllConnections();
      await closed;
    },
  };
}
