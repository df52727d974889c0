/**
 * A contract server for the failures a real Prometheus cannot be made to
 * produce on demand (timeout envelopes, 5xx, 429, proxies, hangs). It answers
 * with the shapes documented in the Prometheus HTTP API and records every
 * request so tests can assert what the client sent.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as application/x-www-form-urlencoded. */
  form: URLSearchParams;
}

export type Reply =
  | { status?: number; json?: unknown; text?: string; headers?: Record<string, string> }
  /** Accept the request and never answer. */
  | 'hang'
  /** Send headers and a first byte, then one byte every 100 ms, never finishing. */
  | 'trickle';

export interface FakePrometheus {
  url: string;
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

/** Success envelope for a matrix. */
export function matrix(
  series: { metric: Record<string, string>; values: [number, string][] }[],
  warnings?: string[],
): unknown {
  return { status: 'success', data: { resultType: 'matrix', result: series }, ...(warnings ? { warnings } : {}) };
}

/**
 * The series Prometheus would answer for a query that is the same for every group: one unlabelled
 * series, or — when the engine asks for both groups at once (`{group=~"control|experiment"}`,
 * src/queries/group-split.ts) — one series per group value, labelled with it.
 */
export function seriesFor(query: string, values: [number, string][]): { metric: Record<string, string>; values: [number, string][] }[] {
  const both = /group=~"([^"]+)"/.exec(query);
  if (!both) return [{ metric: {}, values }];
  return both[1]!.split('|').map((group) => ({ metric: { group }, values }));
}

/** Error envelope as Prometheus sends it. */
export function errorEnvelope(errorType: string, error: string): unknown {
  return { status: 'error', errorType, error };
}

export async function startFakePrometheus(handler: (req: RecordedRequest) => Reply): Promise<FakePrometheus> {
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const open = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const body = Buffer.concat(chunks).toString('utf8');
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
        form: new URLSearchParams(body),
      };
      requests.push(recorded);
      const reply = handler(recorded);
      if (reply === 'hang') {
        open.add(res);
        return;
      }
      if (reply === 'trickle') {
        open.add(res);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{');
        const timer = setInterval(() => res.write(' '), 100);
        timers.add(timer);
        res.on('close', () => {
          clearInterval(timer);
          timers.delete(timer);
        });
        return;
      }
      const status = reply.status ?? 200;
      if (reply.json !== undefined) {
        res.writeHead(status, { 'content-type': 'application/json', ...reply.headers });
        res.end(JSON.stringify(reply.json));
      } else {
        res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...reply.headers });
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
    async stop() {
      for (const timer of timers) clearInterval(timer);
      for (const res of open) res.destroy();
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
