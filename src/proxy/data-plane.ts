/**
 * The proxy's data plane: a plain node:http server in front of the upstream.
 * Every request is put in a traffic group by its sticky key, counted, and —
 * when it is in the experiment group and a window matches it — delayed,
 * answered with an injected error or cut off; everything else is forwarded
 * (forward.ts). This is the hot path of production traffic, so it does as
 * little per request as it can: one pass over the raw headers, a memoised
 * group, reused metric labels, one 'close' listener.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { pickFault, type WindowSource } from './fault-windows.ts';
import { createForwarder, parseRequest } from './forward.ts';
import { createGroupAssigner, GROUP_HEADER, type Group, type GroupSplit } from './groups.ts';
import type { ProxyMetrics } from './proxy-metrics.ts';
import { createRouteMatcher, OTHER_ROUTE } from './routes.ts';

export interface DataPlaneDeps {
  /** Origin of the service behind the proxy. */
  upstream: string;
  split: GroupSplit;
  /** Lower-cased header name whose value is the sticky key; without it, or when absent, the client address. */
  stickyHeader?: string | undefined;
  windows: WindowSource;
  metrics: ProxyMetrics;
  /** Path patterns for the `route` label (routes.ts); none: every request is `other`. */
  routes?: readonly string[] | undefined;
  logger?: Logger | undefined;
  /** Aborted on shutdown, so requests held by a latency fault do not hold up close(). */
  shutdown: AbortSignal;
}

export interface DataPlane {
  server: Server;
  /** Stops accepting, lets in-flight requests finish, closes the upstream pool. */
  close(): Promise<void>;
}

/** Keep idle client connections longer than usual load balancers do (60 s), as fastify's default did. */
const KEEP_ALIVE_MS = 72_000;

export function createDataPlane(deps: DataPlaneDeps): DataPlane {
  const { windows, metrics, shutdown, stickyHeader } = deps;
  const log = deps.logger?.child({ component: 'proxy-data' });
  const forwarder = createForwarder(deps.upstream);
  const groupOf = createGroupAssigner(deps.split);
  const routeOf = createRouteMatcher(deps.routes ?? []);

  const send = (res: ServerResponse, status: number, body: object, extra?: Record<string, string>): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...extra });
    res.end(text);
  };

  // A dead upstream fails every request: one log line per failure would cost more than the proxying
  // (profiled: half the CPU went to serialising errors), so the first is logged, then one a second with a count.
  let failures = 0;
  let lastLogged = 0;
  const upstreamFailed = (err: Error): void => {
    failures++;
    const now = Date.now();
    if (now - lastLogged < 1_000) return;
    log?.warn({ err, failures }, 'upstream request failed');
    failures = 0;
    lastLogged = now;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, headers: string[], group: Group, hasBody: boolean): void => {
    headers.push(GROUP_HEADER, group);
    forwarder.forward(req, res, headers, hasBody, (err) => {
      upstreamFailed(err);
      send(res, 502, { error: 'bad_gateway', message: 'upstream request failed' });
    });
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const parsed = parseRequest(req, forwarder.host, stickyHeader);
    // The socket's peer: X-Forwarded-For is not trusted, so a client cannot pick its key.
    const group = groupOf(parsed.stickyValue || req.socket.remoteAddress || '');
    const url = req.url ?? '';
    // Absolute-form targets (`GET http://other/`) would let a client pick where the proxy connects.
    const isPath = url.charCodeAt(0) === 47; /* '/' */
    const path = isPath ? pathOf(url) : '';
    const exchange = new Exchange(res, group, isPath ? routeOf(path) : OTHER_ROUTE, method, started, metrics);
    res.once('close', exchange.onClose);
    if (!isPath) {
      send(res, 400, { error: 'bad_request', message: 'the request target must be a path' });
      return;
    }
    const window = group === 'experiment' ? windows.active() : undefined;
    if (window === undefined || !window.matches(method, path)) {
      forward(req, res, parsed.headers, group, parsed.hasBody);
      return;
    }
    void (async () => {
      const f = window.fault;
      if (f.latencyMs !== undefined && f.latencyMs > 0) {
        const jitter = f.jitterMs ?? 0;
        const delay = Math.max(0, f.latencyMs + (Math.random() * 2 - 1) * jitter);
        metrics.faultInjected(group, 'latency');
        try {
          await sleep(delay, undefined, { signal: shutdown });
        } catch {
          // Shutting down: stop holding the request.
        }
        if (res.destroyed) return;
      }
      // Re-checked after the delay: no fault after the deadline, even for a request that arrived before it.
      const fault = windows.active() === window ? pickFault(Math.random(), f) : undefined;
      if (fault === 'abort') {
        exchange.outcome = 'aborted';
        metrics.faultInjected(group, 'abort');
        req.socket.destroy();
        return;
      }
      if (fault === 'error') {
        metrics.faultInjected(group, 'error');
        send(
          res,
          f.errorStatus,
          { error: 'injected_fault', message: `fault injected by steadystate window ${window.id}` },
          { 'x-steadystate-fault': 'error' },
        );
        return;
      }
      forward(req, res, parsed.headers, group, parsed.hasBody);
    })();
  };

  const server = createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, onRequest);
  let closing: Promise<void> | undefined;
  return {
    server,
    close: () => {
      closing ??= (async () => {
        if (server.listening) {
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeIdleConnections();
          await closed;
        }
        await forwarder.close();
      })();
      return closing;
    },
  };
}

/** One request's bookkeeping until its response closes (finished, or the connection died first). */
class Exchange {
  outcome: 'aborted' | undefined;
  readonly onClose: () => void;

  constructor(res: ServerResponse, group: Group, route: string, method: string, started: number, metrics: ProxyMetrics) {
    this.onClose = () => {
      const code = this.outcome ?? (res.writableFinished ? String(res.statusCode) : '499');
      metrics.observeRequest(group, method, code, (performance.now() - started) / 1000, route);
    };
  }
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
