/**
 * Injector for steadystate's own HTTP fault proxy (`steadystate proxy`).
 *
 * - `open` POSTs a fault window whose id is the run id and whose deadline is
 *   the run's: the proxy closes the window by itself at the deadline, so the
 *   fault ends even if steadystate dies.
 * - Open is safe to retry: a 409 whose open window carries our id means an
 *   earlier attempt got through (its answer was lost), and counts as success.
 * - `close` DELETEs; 204 and 404 both mean "closed" (idempotent). Network
 *   failures and 5xx are retryable InjectorErrors; the engine retries them.
 * - Params need a fault (latency, errors or aborts), or `noFault: true` for
 *   an A/A run: the window then opens with nothing injected.
 * - `check` also fails (retryable) while another window is open: the proxy
 *   holds one window at a time, so the run could not open its own.
 *
 * Errors name the method, the admin URL without userinfo, and the status;
 * AxiosErrors are not kept as causes since they carry the request config.
 */
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { checkOutboundUrl } from '../security/outbound-url.ts';
import { DEFAULT_POLICY } from '../security/policy.ts';
import { z } from 'zod';
import { AbortedError, InjectorError } from '../lib/errors.ts';
import { checkFaultFields, faultShape, windowViewSchema } from '../proxy/window-schema.ts';
import { httpUrl } from '../spec/fields.ts';
import type { Injector, InjectorDeps, InjectorFactory, InjectorHandle, InjectorStatus, OpenContext } from './types.ts';

const KIND = 'http-proxy';
const DEFAULT_TIMEOUT_MS = 5_000;

export const httpProxyParamsSchema = z
  .strictObject({
    /** Base URL of the proxy's admin API, e.g. http://127.0.0.1:8081. */
    admin: httpUrl,
    ...faultShape,
    /** An A/A run: the window opens with no fault, to check the judge sees no difference where there is none. */
    noFault: z.literal(true).optional(),
  })
  .superRefine(checkFaultFields(true));

export type HttpProxyParams = z.output<typeof httpProxyParamsSchema>;

const handleSchema = z.object({
  injector: z.literal(KIND),
  admin: z.string(),
  windowId: z.string().min(1),
});
type HttpProxyHandle = z.output<typeof handleSchema>;

const errorBodySchema = z.object({ message: z.string() }).loose();

export const httpProxyInjector: InjectorFactory<HttpProxyParams> = {
  kind: KIND,
  paramsSchema: httpProxyParamsSchema,
  create(params: HttpProxyParams, deps: InjectorDeps): Injector {
    return createHttpProxyInjector(params, deps);
  },
  // One window at a time per proxy: the admin API is what a run locks.
  targetOf: (params) => `http-proxy:${trimSlash(params.admin)}`,
  // The window id is the run id, so a window whose open answer was lost can still be closed.
  handleFor: (params, runId) => ({ injector: KIND, admin: trimSlash(params.admin), windowId: runId }),
  // A ladder's steps change the open window in place (PATCH /windows/{id}); the proxy is the one target.
  ladder: {
    stepProblem: (first, step) =>
      trimSlash(first.admin) === trimSlash(step.admin) ? undefined : 'must keep the first step\'s admin URL: a ladder is one window on one proxy',
  },
};

function createHttpProxyInjector(params: HttpProxyParams, deps: InjectorDeps): Injector {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const http: AxiosInstance = axios.create({
    timeout: timeoutMs,
    // Every status is ours to interpret; axios throws only for transport failures.
    validateStatus: () => true,
    maxRedirects: 0,
    headers: { accept: 'application/json' },
  });
  // noFault only tells validation that an empty window is meant; the proxy gets the (empty) fault fields.
  const { admin: adminParam, noFault: _noFault, ...fault } = params;
  const admin = trimSlash(adminParam);

  async function call(
    what: string,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    signal: AbortSignal | undefined,
    data?: unknown,
  ): Promise<AxiosResponse<unknown>> {
    const label = `http-proxy ${what}: ${method} ${redact(url)}`;
    if (signal?.aborted) throw new AbortedError(`${label}: aborted`);
    // Parsed once and checked on the parsed host; that parse is what axios gets.
    const target = checkOutboundUrl(url, deps.policy ?? DEFAULT_POLICY, label);
    try {
      return await http.request<unknown>({ method, url: target.href, data, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (axios.isCancel(err) || signal?.aborted) throw new AbortedError(`${label}: aborted`);
      const code = axios.isAxiosError(err) ? err.code : undefined;
      const why = code === 'ECONNABORTED' || code === 'ETIMEDOUT' ? `no answer within ${timeoutMs}ms` : (code ?? describe(err));
      throw new InjectorError(`${label}: ${why}`, { retryable: true, code: 'injector_unreachable' });
    }
  }

  const windowUrl = (base: string, id: string): string => `${base}/windows/${encodeURIComponent(id)}`;

  return {
    kind: KIND,

    async open(ctx: OpenContext): Promise<InjectorHandle> {
      const handle: HttpProxyHandle = { injector: KIND, admin, windowId: ctx.runId };
      const body = { id: ctx.runId, deadline: ctx.deadline.toISOString(), ...fault };
      const res = await call('open', 'POST', `${admin}/windows`, ctx.signal, body);
      if (res.status === 201) return handle;
      if (res.status === 409) {
        // Ours already, if an earlier attempt went through and only its answer was lost.
        const existing = await call('open', 'GET', windowUrl(admin, ctx.runId), ctx.signal);
        const view = windowViewSchema.safeParse(existing.data);
        if (existing.status === 200 && view.success && view.data.state === 'open') return handle;
      }
      throw statusError('open', 'POST', `${admin}/windows`, res);
    },

    async update(raw: InjectorHandle, stepParams: unknown, signal?: AbortSignal): Promise<void> {
      const h = parseHandle(raw);
      const parsed = httpProxyParamsSchema.safeParse(stepParams);
      if (!parsed.success) throw new InjectorError(`http-proxy update: not http-proxy params (${parsed.error.issues[0]?.message ?? '?'})`, { retryable: false });
      const { admin: _admin, noFault: _nf, ...stepFault } = parsed.data;
      const url = windowUrl(h.admin, h.windowId);
      const res = await call('update', 'PATCH', url, signal, stepFault);
      if (res.status !== 200) throw statusError('update', 'PATCH', url, res);
    },

    async close(raw: InjectorHandle, signal?: AbortSignal): Promise<void> {
      const h = parseHandle(raw);
      const url = windowUrl(h.admin, h.windowId);
      const res = await call('close', 'DELETE', url, signal);
      // 404: the proxy never knew the window or has forgotten it (restarted); either way the fault is gone.
      if (res.status === 204 || res.status === 200 || res.status === 404) return;
      throw statusError('close', 'DELETE', url, res);
    },

    async status(raw: InjectorHandle, signal?: AbortSignal): Promise<InjectorStatus> {
      const h = parseHandle(raw);
      const url = windowUrl(h.admin, h.windowId);
      const res = await call('status', 'GET', url, signal);
      if (res.status === 404) return { state: 'closed', detail: 'the proxy does not know this window (restarted, or long closed)' };
      if (res.status !== 200) throw statusError('status', 'GET', url, res);
      const view = windowViewSchema.safeParse(res.data);
      if (!view.success) return { state: 'unknown', detail: 'the proxy answered something that is not a fault window' };
      if (view.data.state === 'open') return { state: 'active', detail: `open until ${view.data.deadline}` };
      return { state: 'closed', detail: `closed (${view.data.closedReason ?? 'closed'}) at ${view.data.closedAt ?? '?'}` };
    },

    async check(signal?: AbortSignal): Promise<void> {
      const url = `${admin}/healthz`;
      const res = await call('check', 'GET', url, signal);
      if (res.status !== 200) throw statusError('check', 'GET', url, res);
      const health = z.object({ windowOpen: z.boolean() }).loose().safeParse(res.data);
      if (!health.success) {
        throw new InjectorError(`http-proxy check: ${redact(url)} did not answer like a steadystate proxy admin API`, { retryable: false });
      }
      if (health.data.windowOpen) {
        throw new InjectorError(`http-proxy check: another fault window is open on ${redact(admin)}; the proxy holds one at a time`, {
          retryable: true,
          code: 'injector_busy',
        });
      }
    },
  };
}

function parseHandle(raw: InjectorHandle): HttpProxyHandle {
  const parsed = handleSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InjectorError(`http-proxy: not an http-proxy handle (${JSON.stringify(raw)})`, { retryable: false, code: 'invalid_handle' });
  }
  return parsed.data;
}

/** 5xx and 429 may pass; other statuses will answer the same next time. */
function statusError(what: string, method: string, url: string, res: AxiosResponse<unknown>): InjectorError {
  const body = errorBodySchema.safeParse(res.data);
  const detail = body.success ? `: ${body.data.message}` : '';
  const retryable = res.status >= 500 || res.status === 429;
  const code = res.status === 409 ? 'injector_busy' : undefined;
  return new InjectorError(`http-proxy ${what}: ${method} ${redact(url)} answered ${res.status}${detail}`, {
    retryable,
    ...(code ? { code } : {}),
  });
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Drop userinfo: an admin URL may carry credentials for a gateway in front of the proxy. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
