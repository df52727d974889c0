/**
 * The fault window as the admin API accepts and returns it. One source for the
 * proxy (which validates requests) and the http-proxy injector (whose params
 * are the same fault fields, and which reads the same responses).
 */
import { z } from 'zod';
import { durationMs, fraction } from '../spec/fields.ts';

/** Longest latency one request may be held for: every held request keeps a socket open. */
export const MAX_LATENCY_MS = 5 * 60_000;
/** Longest window the proxy accepts: a forgotten window must not outlive a working day. */
export const MAX_WINDOW_MS = 24 * 3_600_000;
export const DEFAULT_ERROR_STATUS = 503;

/** RFC 9110 token: what a method may be. */
const METHOD_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const latency = durationMs.refine((ms) => ms <= MAX_LATENCY_MS, `must be at most ${MAX_LATENCY_MS / 1000}s`);

/** A path glob: `*` matches any run of characters (slashes included); matched against the path without the query. */
const pathGlob = z
  .string()
  .min(1)
  .max(2048)
  .refine((s) => s.startsWith('/') || s.startsWith('*'), 'must start with / or * (a path such as /checkout*)');

const method = z
  .string()
  .regex(METHOD_RE, 'must be an HTTP method such as GET')
  .transform((m) => m.toUpperCase());

/** The fault fields shared by the admin API body and the injector's params. */
export const faultShape = {
  /** Added before forwarding. */
  latencyMs: latency.optional(),
  /** Uniform in ±jitterMs around latencyMs; the sum never goes below 0. */
  jitterMs: latency.optional(),
  /** Share of matching requests answered `errorStatus` without being forwarded. */
  errorRate: fraction.optional(),
  errorStatus: z.int().min(400).max(599).optional(),
  /** Share of matching requests whose client connection is destroyed. */
  abortRate: fraction.optional(),
  paths: z.array(pathGlob).min(1).max(100).optional(),
  methods: z.array(method).min(1).max(20).optional(),
};

export interface FaultFields {
  latencyMs?: number | undefined;
  jitterMs?: number | undefined;
  errorRate?: number | undefined;
  errorStatus?: number | undefined;
  abortRate?: number | undefined;
  paths?: string[] | undefined;
  methods?: string[] | undefined;
}

export function hasFault(f: FaultFields): boolean {
  return (f.latencyMs ?? 0) > 0 || (f.errorRate ?? 0) > 0 || (f.abortRate ?? 0) > 0;
}

/**
 * Cross-field rules. Errors and aborts share one random draw (a request gets at
 * most one of them), so each rate means exactly what it says and the two
 * together cannot exceed 1. `requireFault`: the injector insists on a fault;
 * the admin API allows an empty window, which is an A/A run (both groups
 * untouched) for checking that the judge does not see differences that are
 * not there. The injector allows that too, but only when asked for in so
 * many words (`noFault: true`), so a forgotten fault is an error, not an A/A.
 */
export function checkFaultFields(requireFault: boolean) {
  return (f: FaultFields & { noFault?: true | undefined }, ctx: z.RefinementCtx): void => {
    if ((f.errorRate ?? 0) + (f.abortRate ?? 0) > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['abortRate'],
        message: 'errorRate + abortRate must not exceed 100% (a request gets at most one of them)',
      });
    }
    if (f.jitterMs !== undefined && f.jitterMs > 0 && !((f.latencyMs ?? 0) > 0)) {
      ctx.addIssue({ code: 'custom', path: ['jitterMs'], message: 'needs latencyMs' });
    }
    if (f.errorStatus !== undefined && !((f.errorRate ?? 0) > 0)) {
      ctx.addIssue({ code: 'custom', path: ['errorStatus'], message: 'needs errorRate' });
    }
    if (f.noFault === true) {
      if (hasFault(f)) ctx.addIssue({ code: 'custom', path: ['noFault'], message: 'cannot be combined with latencyMs, errorRate or abortRate' });
    } else if (requireFault && !hasFault(f)) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'needs at least one fault: latencyMs, errorRate or abortRate (or noFault: true for an A/A run)',
      });
    }
  };
}

/** Body of `POST /windows`. */
export const openWindowRequestSchema = z
  .strictObject({
    id: z.string().min(1).max(256),
    deadline: z.iso.datetime({ offset: true }),
    ...faultShape,
  })
  .superRefine(checkFaultFields(false));

export type OpenWindowRequest = z.output<typeof openWindowRequestSchema>;

/** Body of `PATCH /windows/{id}`: the open window's new fault, whole (fields left out are cleared). */
export const updateWindowRequestSchema = z.strictObject({ ...faultShape }).superRefine(checkFaultFields(false));

export type WindowState = 'open' | 'closed';
/** `closed`: someone called DELETE; `deadline`: the proxy closed it by itself. */
export type ClosedReason = 'closed' | 'deadline';

/** What the admin API answers for a window. Fault fields are echoed as applied. */
export interface WindowView extends FaultFields {
  id: string;
  state: WindowState;
  closedReason?: ClosedReason;
  openedAt: string;
  closedAt?: string;
  deadline: string;
}

/** Response schema, for clients (the injector). Unknown fields are tolerated so the proxy may add some. */
export const windowViewSchema = z.object({
  id: z.string(),
  state: z.enum(['open', 'closed']),
  closedReason: z.enum(['closed', 'deadline']).optional(),
  openedAt: z.string(),
  closedAt: z.string().optional(),
  deadline: z.string(),
});

/** `/checkout*` → /^\/checkout.*$/ */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}
