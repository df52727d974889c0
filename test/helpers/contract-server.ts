/**
 * A real HTTP server on 127.0.0.1 for contract tests: it records every request
 * (method, path, query, headers, raw body) and answers from routes that a test
 * file writes to follow a vendor's documented API. Tests then assert what our
 * client sent, and script failures with one-shot replies placed before the
 * routes (`once`).
 *
 * Routes are path templates (`/proxies/:proxy/toxics/:toxic`); a `:name`
 * segment matches one percent-decoded path segment.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  /** Path without the query, still percent-encoded as sent. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** Path parameters of the route that matched (decoded). */
  params: Record<string, string>;
}

/** `hang`: never answer (for timeouts). A body that is not a string is sent as JSON. */
export type Reply = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang';

export type Handler = (req: Recorded) => Reply | Promise<Reply>;

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

function match(route: Route, method: string, path: string): Record<string, string> | undefined {
  if (route.method !== method) return undefined;
  const parts = splitPath(path);
  if (parts.length !== route.segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const want = route.segments[i] as string;
    const got = decodeURIComponent(parts[i] as string);
    if (want.startsWith(':')) params[want.slice(1)] = got;
    else if (want !== got) return undefined;
  }
  return params;
}

export class ContractServer {
  readonly requests: Recorded[] = [];
  private routes: Route[] = [];
  private onceRoutes: Route[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const u = new URL(req.url ?? '/', 'http://127.0.0.1');
        const method = req.method ?? 'GET';
        const recorded: Recorded = {
          method,
          path: u.pathname,
          query: u.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          params: {},
        };
        this.requests.push(recorded);
        void this.answer(recorded).then(
          (reply) => {
            if (reply === 'hang') return;
            const text = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
            const type = typeof reply.body === 'string' ? 'text/plain' : 'application/json';
            res.writeHead(reply.status, { 'content-type': type, ...reply.headers }).end(text);
          },
          (err: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' }).end(`contract server handler failed: ${String(err)}`);
          },
        );
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  private async answer(req: Recorded): Promise<Reply> {
    const onceIndex = this.onceRoutes.findIndex((r) => match(r, req.method, req.path) !== undefined);
    if (onceIndex >= 0) {
      const [route] = this.onceRoutes.splice(onceIndex, 1) as [Route];
      req.params = match(route, req.method, req.path) ?? {};
      return route.handler(req);
    }
    for (const route of this.routes) {
      const params = match(route, req.method, req.path);
      if (params) {
        req.params = params;
        return route.handler(req);
      }
    }
    return { status: 404, body: { error: `no route for ${req.method} ${req.path}` } };
  }

  /** A standing route; later routes for the same path are tried after earlier ones. */
  route(method: string, template: string, handler: Handler): this {
    this.routes.push({ method, segments: splitPath(template), handler });
    return this;
  }

  /** Answer the next matching request with `reply`, before any standing route (queue several to script a sequence). */
  once(method: string, template: string, reply: Reply | Handler): this {
    const handler: Handler = typeof reply === 'function' ? reply : () => reply;
    this.onceRoutes.push({ method, segments: splitPath(template), handler });
    return this;
  }

  /** Requests to a method and path (the path as sent, percent-encoded). */
  sent(method: string, path?: string): Recorded[] {
    return this.requests.filter((r) => r.method === method && (path === undefined || r.path === path));
  }

  /** Forget requests, routes and one-shot replies. */
  reset(): void {
    this.requests.length = 0;
    this.routes = [];
    this.onceRoutes = [];
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    // Hung requests and keep-alive sockets would keep close() waiting.
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  }
}

export async function startContractServer(): Promise<ContractServer> {
  return new ContractServer().start();
}
