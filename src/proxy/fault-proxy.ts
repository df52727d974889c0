/**
 * The built-in HTTP fault proxy: the ChAP idea on one process. Every request is
 * put in a traffic group (control, experiment or none) by a sticky hash, the
 * group is forwarded upstream in `x-steadystate-group` so the service can label
 * its own business metrics, and while a fault window is open the fault is
 * applied to the experiment group only. Control gets the same treatment minus
 * the fault, which is what makes the comparison fair.
 *
 * Two listeners: the data plane (clients, plain node:http and undici, see
 * data-plane.ts) and the admin API (steadystate, fastify).
 */
import { type EventEmitter, setMaxListeners } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ConfigError } from '../lib/errors.ts';
import { httpUrl } from '../spec/fields.ts';
import { buildAdminApp } from './admin-api.ts';
import { createDataPlane } from './data-plane.ts';
import { type FaultWindowEvents, FaultWindows } from './fault-windows.ts';
import { splitFromPercents } from './groups.ts';
import { createProxyMetrics } from './proxy-metrics.ts';
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

  const data = createDataPlane({
    upstream: cfg.upstream,
    split: splitFromPercents(cfg.controlPercent, cfg.experimentPercent),
    stickyHeader: cfg.stickyHeader,
    windows,
    metrics,
    logger,
    shutdown: shutdown.signal,
  });
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
    await listenServer(data.server, cfg.listen, 'listen');
    await listen(admin, cfg.admin, 'admin');
  } catch (err) {
    await close();
    throw err;
  }
  const proxy: FaultProxy = {
    listenUrl: urlOf(data.server, cfg.listen.host),
    adminUrl: urlOf(admin.server, cfg.admin.host),
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

export async function listenServer(server: Server, at: HostPort, what: string): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: at.host, port: at.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new ConfigError(`fault proxy: cannot listen on ${what} address ${at.host}:${at.port}: ${(err as Error).message}`, err);
  }
}

export function urlOf(server: Server, host: string): string {
  const { port } = server.address() as AddressInfo;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
