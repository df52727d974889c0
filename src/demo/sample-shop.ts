/**
 * A tiny shop for the demo and the integration tests: a few routes and an
 * SPS-style business counter (`shop_checkouts_total`) labelled with the group
 * the fault proxy assigned (`x-steadystate-group`), exported on `/metrics`.
 * This is how a real service would label its own business metrics per group.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';

export interface SampleShop {
  url: string;
  port: number;
  close(): Promise<void>;
}

const GROUPS = new Set(['control', 'experiment', 'none']);

export async function startSampleShop(opts: { host?: string; port?: number } = {}): Promise<SampleShop> {
  const registry = new Registry();
  const checkouts = new Counter({
    name: 'shop_checkouts_total',
    help: 'Completed checkouts (the business KPI), by traffic group.',
    labelNames: ['group'],
    registers: [registry],
  });
  const requests = new Counter({
    name: 'shop_requests_total',
    help: 'Requests served by the shop, by group, route and status code.',
    labelNames: ['group', 'route', 'code'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'shop_request_duration_seconds',
    help: 'Time the shop spent on a request, by group and route.',
    labelNames: ['group', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  // Pre-create the series so rates exist (as 0) before the first request of a group.
  for (const group of ['control', 'experiment']) checkouts.inc({ group }, 0);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const header = req.headers['x-steadystate-group'];
    const group = typeof header === 'string' && GROUPS.has(header) ? header : 'none';
    let code = 200;
    let body: string;
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(await registry.metrics());
      return;
    }
    switch (path) {
      case '/checkout':
        checkouts.inc({ group });
        body = '{"order":"ok"}';
        break;
      case '/browse':
      case '/login':
        body = '{"ok":true}';
        break;
      case '/healthz':
        body = 'ok';
        break;
      default:
        code = 404;
        body = '{"error":"not found"}';
    }
    // Drain the request body so keep-alive connections stay usable.
    req.resume();
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(body);
    const route = code === 404 ? 'unknown' : path;
    requests.inc({ group, route, code: String(code) });
    duration.observe({ group, route }, Number(process.hrtime.bigint() - started) / 1e9);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
