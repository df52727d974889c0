/**
 * The built-in HTTP fault proxy: the ChAP idea on one process. Every request is
 * put in a traffic group (control, experiment or none) by a sticky hash, the
 * group is forwarded upstream in `x-steadystate-group` so the service can label
 * its own business metrics, and while a fault window is open the fault is
 * applied to the experiment group only. Control gets the same treatment minus
 * the fault, which is what makes the comparison fair.
 *
 * Two listeners: the data plane (clients) and the admin API (steadystate).
 * Forwarding is @fastify/reply-from over undici; we only decide what to do
 * before it forwards.
 */
import { type EventEmitter, setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import replyFrom from '@fastify/reply-from';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { AppError, ConfigError } from '../lib/errors.ts';
import { httpUrl } from '../spec/fields.ts';
import { buildAdminApp } from './admin-api.ts';
import { createFastify } from './fastify-app.ts';
import { type FaultWindowEvents, FaultWindows, pickFault } from './fault-windows.ts';
import { assignGroup, GROUP_HEADER, type Group, type GroupSplit, splitFromPercents } from './groups.ts';
import { createProxyMetrics, type ProxyMetrics } from './proxy-metrics.ts';
import { toValidationError } from './zod-issues.ts';

export interface HostPort {
  host: string;
  /** 0 lets the OS pick; the real port is in the returned URLs. */
  port: number;
}

export interface FaultProxyOptions {
  listen: HostPort;
  admin: HostPort;
  /** Origin of the service behind the proxy, e.g. http://127.0.0.1:3000. */
  upstream: string;
  /** Share of traffic in the control group, in percent. Default 5. */
  controlPercent?: number;
  /** Share of traffic in the experiment group, in percent. Default 5. */
  experimentPercent?: number;
  /** Header whose value is the sticky key (e.g. x-user-id); without it, or when absent, the client address. */
  stickyHeader?: string;
  /** Names the admin API answers to besides IP addresses, localhost and `admin.host` (DNS rebinding defence). */
  adminHosts?: string[];
  logger?: Logger;
}

export interface FaultProxy {
  /** Where clients send traffic, with the real port. */
  listenUrl: string;
  /** The admin API, with the real port. */
  adminUrl: string;
  /** `opened` / `closed` per fault window, for tests and logs. */
  events: EventEmitter<FaultWindowEvents>;
  /** Closes the open window, then both listeners. Safe to call twice. */
  close(): Promise<void>;
}

/** RFC 9110 token. */
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const hostPort = z.strictObject({
  host: z.string().min(1),
  port: z.int().min(0).max(65_535),
});
const percent = z.number().min(0).max(100);

const optionsSchema = z
  .object({
    listen: hostPort,
    admin: hostPort,
    upstream: httpUrl.refine((s) => {
      // zod runs this even when httpUrl already failed, so the URL may not parse.
      if (!URL.canParse(s)) return true;
      const u = new URL(s);
      return u.pathname === '/' && u.search === '' && u.hash === '';
    }, 'must be an origin such as http://127.0.0.1:3000 (a path prefix is not supported)'),
    controlPercent: percent.default(5),
    experimentPercent: percent.default(5),
    adminHosts: z.array(z.string().min(1).max(253).regex(/^[A-Za-z0-9.-]+$/, 'must be a host name')).default([]),
    stickyHeader: z
      .string()
      .regex(HEADER_NAME_RE, 'must be an HTTP header name')
      .transform((h) => h.toLowerCase())
      .optional(),
  })
  .superRefine((o, ctx) => {
    if (o.controlPercent + o.experimentPercent > 100) {
      ctx.addIssue({ code: 'custom', path: ['experimentPercent'], message: 'controlPercent + experimentPercent must not exceed 100' });
    }
  });

type ResolvedOptions = z.output<typeof optionsSchema>;

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const { logger, ...rest } = opts;
  const parsed = optionsSchema.safeParse(rest);
  if (!parsed.success) throw toValidationError(parsed.error);
  const cfg = parsed.data;
  const log = logger?.child({ component: 'fault-proxy' });

  const metrics = createProxyMetrics();
  const windows = new FaultWindows();
  windows.events.on('opened', (w) => {
    metrics.setWindowOpen(true);
    log?.info({ window: w }, 'fault window opened');
  });
  windows.events.on('closed', (w) => {
    metrics.setWindowOpen(false);
    log?.info({ window: w }, `fault window closed (${w.closedReason ?? 'closed'})`);
  });
  // Aborted on shutdown so requests held by a latency fault do not hold up close().
  const shutdown = new AbortController();
  // Every held request listens on it: thousands of listeners are expected, not a leak.
  setMaxListeners(0, shutdown.signal);

  const data = buildDataPlane(cfg, { windows, metrics, logger, shutdown: shutdown.signal });
  const admin = buildAdminApp({ windows, metrics, logger, hostNames: [cfg.admin.host, ...cfg.adminHosts] });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      windows.closeAll();
      shutdown.abort();
      await Promise.all([admin.close(), data.close()]);
    })();
    return closing;
  };

  try {
    await listen(data, cfg.listen, 'listen');
    await listen(admin, cfg.admin, 'admin');
  } catch (err) {
    await close();
    throw err;
  }
  const proxy: FaultProxy = {
    listenUrl: urlOf(data, cfg.listen.host),
    adminUrl: urlOf(admin, cfg.admin.host),
    events: windows.events,
    close,
  };
  log?.info(
    { listen: proxy.listenUrl, admin: proxy.adminUrl, upstream: cfg.upstream, controlPercent: cfg.controlPercent, experimentPercent: cfg.experimentPercent },
    'fault proxy listening',
  );
  return proxy;
}

async function listen(app: FastifyInstance, at: HostPort, what: string): Promise<void> {
  try {
    await app.listen({ host: at.host, port: at.port });
  } catch (err) {
    throw new ConfigError(`fault proxy: cannot listen on ${what} address ${at.host}:${at.port}: ${(err as Error).message}`, err);
  }
}

function urlOf(app: FastifyInstance, host: string): string {
  const { port } = app.server.address() as AddressInfo;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

interface DataPlaneDeps {
  windows: FaultWindows;
  metrics: ProxyMetrics;
  logger: Logger | undefined;
  shutdown: AbortSignal;
}

function buildDataPlane(cfg: ResolvedOptions, deps: DataPlaneDeps): FastifyInstance {
  const { windows, metrics, shutdown } = deps;
  const split: GroupSplit = splitFromPercents(cfg.controlPercent, cfg.experimentPercent);
  const stickyHeader = cfg.stickyHeader;

  // Proxied paths are whatever clients send: no cap below what HTTP servers usually accept.
  const app = createFastify(deps.logger, 'proxy-data', 8192);

  void app.register(replyFrom, {
    base: cfg.upstream,
    disableRequestLogging: true,
    // No retries: reply-from by default retries a GET that got 503 up to ten times, which would
    // hide the very errors an experiment measures and multiply load on a struggling service.
    retryMethods: [],
  });

  // Bodies pass through as streams, whatever their type or size: the proxy is not the place to parse them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  app.setErrorHandler((err: FastifyError | AppError, request, reply) => {
    const status = err instanceof AppError ? err.httpStatus : err.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).send({ error: 'bad_request', message: err.message });
    }
    request.log.warn({ err }, 'proxy could not forward the request');
    return reply.code(502).send({ error: 'bad_gateway', message: 'the fault proxy could not forward the request' });
  });

  const groupOf = (request: FastifyRequest): Group => {
    let key: string | undefined;
    if (stickyHeader) {
      const value = request.headers[stickyHeader];
      key = Array.isArray(value) ? value.join(',') : value;
    }
    // request.ip is the socket's peer: trustProxy is off, so a client cannot pick its key via X-Forwarded-For.
    return assignGroup(key || request.ip || '', split);
  };

  const forward = (reply: FastifyReply, group: Group): FastifyReply =>
    reply.from(undefined, {
      rewriteRequestHeaders: (_request, headers) => ({ ...headers, [GROUP_HEADER]: group }),
      onError: (r, { error }) => {
        r.request.log.warn({ err: error }, 'upstream request failed');
        void r.code(502).send({ error: 'bad_gateway', message: 'upstream request failed' });
      },
    });

  const handle = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const started = performance.now();
    const res = reply.raw;
    const method = request.raw.method ?? 'GET';
    const group = groupOf(request);
    let outcome: 'aborted' | undefined;
    let clientGone = false;
    // 'close' comes once per response, after a normal finish or when the connection dies first.
    res.once('close', () => {
      const code = outcome ?? (res.writableFinished ? String(res.statusCode) : '499');
      if (!res.writableFinished) clientGone = true;
      metrics.observeRequest(group, method, code, (performance.now() - started) / 1000);
    });

    const window = group === 'experiment' ? windows.active() : undefined;
    if (!window || !window.matches(method, pathOf(request.raw.url))) return forward(reply, group);

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
      if (clientGone) {
        reply.hijack();
        return reply;
      }
    }

    // Re-checked after the delay: no fault after the deadline, even for a request that arrived before it.
    const fault = windows.active() === window ? pickFault(Math.random(), f) : undefined;
    if (fault === 'abort') {
      outcome = 'aborted';
      metrics.faultInjected(group, 'abort');
      reply.hijack();
      request.raw.socket.destroy();
      return reply;
    }
    if (fault === 'error') {
      metrics.faultInjected(group, 'error');
      return reply
        .code(f.errorStatus)
        .header('x-steadystate-fault', 'error')
        .send({ error: 'injected_fault', message: `fault injected by steadystate window ${window.id}` });
    }
    return forward(reply, group);
  };

  app.all('/*', handle);
  // Methods fastify does not route (WebDAV's PROPFIND and the like) end up here: forward them too.
  app.setNotFoundHandler(handle);
  return app;
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
