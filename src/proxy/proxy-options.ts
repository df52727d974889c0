/**
 * The fault proxy's options, validated once (zod, errors naming the field),
 * and the listening helpers the single-process proxy and the cluster share.
 */
import type { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ConfigError } from '../lib/errors.ts';
import { httpUrl } from '../spec/fields.ts';
import { MAX_ROUTES, routePatternProblem } from './routes.ts';
import type { FaultWindowEvents } from './fault-windows.ts';
import { toValidationError } from './zod-issues.ts';

/** More workers than cores only adds context switches; 64 bounds a typo. */
export const MAX_WORKERS = 64;

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
  /**
   * Path patterns for the `route` label of the request metrics (`/checkout`, `/api/*`), at most
   * MAX_ROUTES; a path none matches is `other`. See routes.ts.
   */
  routes?: string[];
  /** Names the admin API answers to besides IP addresses, localhost and `admin.host` (DNS rebinding defence). */
  adminHosts?: string[];
  /**
   * Processes serving the data plane. 1 (default): everything in this process. N > 1: this process
   * becomes the primary (admin API, windows and their deadlines, metrics) and N workers serve traffic.
   */
  workers?: number;
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
    workers: z.int().min(1).max(MAX_WORKERS).default(1),
    experimentPercent: percent.default(5),
    routes: z
      .array(
        z.string().superRefine((p, ctx) => {
          const problem = routePatternProblem(p);
          if (problem) ctx.addIssue({ code: 'custom', message: `"${p}" ${problem}` });
        }),
      )
      .max(MAX_ROUTES, `at most ${MAX_ROUTES} routes (each is a series per group, method and code)`)
      .refine((r) => new Set(r).size === r.length, 'the same route is given twice')
      .default([]),
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

export type ResolvedProxyOptions = z.output<typeof optionsSchema>;

/** Validated options (ValidationError naming the field otherwise). */
export function parseProxyOptions(opts: Omit<FaultProxyOptions, 'logger'>): ResolvedProxyOptions {
  const parsed = optionsSchema.safeParse(opts);
  if (!parsed.success) throw toValidationError(parsed.error);
  return parsed.data;
}

export async function listenFastify(app: FastifyInstance, at: HostPort, what: string): Promise<void> {
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
