/**
 * Webhook injector: opens and closes a fault by calling HTTP endpoints of some
 * other tool (a chaos platform, an internal fault API, a feature-flag switch).
 *
 * - `open` renders the open request (placeholders in the URL, string header
 *   values and string leaves of the body) and sends it once; retrying an open
 *   is the engine's call, since a timed-out open may or may not have acted.
 * - The handle holds the close (and status) request already rendered, so a
 *   process that never saw the spec can close the fault after a crash. Header
 *   values written `{ fromEnv: NAME }` or `{ fromFile: PATH }` stay references:
 *   they are resolved at call time, within the operator's policy
 *   (STEADYSTATE_SECRET_ENV_ALLOW / _FILE_DIRS), so secrets are never stored
 *   in a handle and a spec cannot send the service's own secrets anywhere.
 * - Every URL is checked on its parsed host right before the call
 *   (src/security/outbound-url.ts), the same check as at validation.
 * - `close` retries with backoff and full jitter; 2xx, 404 and 410 all mean
 *   "closed" (a fault that is already gone is the outcome we want).
 * - Error messages name the method, the URL (without userinfo or query, both
 *   of which often carry tokens) and the HTTP status; never a header value or
 *   a body.
 *
 * Node's built-in fetch rather than axios: an AxiosError keeps the request
 * config, headers included, and serialises it in `toJSON()`, so wrapping one
 * as a `cause` would put the very secrets we are careful with into logs.
 */
import { z } from 'zod';
import { AbortedError, InjectorError } from '../lib/errors.ts';
import type { JsonObject } from '../lib/json.ts';
import { checkOutboundUrl } from '../security/outbound-url.ts';
import { DEFAULT_POLICY, type SecurityPolicy } from '../security/policy.ts';
import { describeRef, resolveSecretRef, secretRefSchema, type SecretRef } from '../security/secret-refs.ts';
import { durationMs, httpUrl } from '../spec/fields.ts';
import { refineJsonTemplate, refineTemplate, renderJsonTemplate, renderTemplate, templateString, templateVars } from './template.ts';
import type { Injector, InjectorDeps, InjectorFactory, InjectorHandle, InjectorStatus, OpenContext } from './types.ts';

const METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'GET'] as const;

const DEFAULT_TIMEOUT_MS = 10_000;
/** Close backoff: caps of 0.5 s, 1 s, 2 s, 4 s, 8 s for the default six attempts. */

/** RFC 9110 token: what a header name may be. */
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headersSchema = z.record(
  z.string().regex(HEADER_NAME_RE, 'must be an HTTP header name'),
  z.union([templateString, secretRefSchema]),
);

const requestSchema = z
  .strictObject({
    url: httpUrl.superRefine(refineTemplate),
    method: z.enum(METHODS).default('POST'),
    headers: headersSchema.default({}),
    body: z.json().superRefine(refineJsonTemplate).optional(),
  })
  .superRefine((req, ctx) => {
    // fetch refuses a GET with a body; say so at validation rather than mid-run.
    if (req.method === 'GET' && req.body !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['body'], message: 'a GET request cannot have a body' });
    }
  });

export const webhookParamsSchema = z.strictObject({
  open: requestSchema,
  close: requestSchema,
  status: requestSchema.optional(),
  /** Per request. Default: the deps' timeout, else 10 s. */
  timeout: durationMs.refine((ms) => ms > 0, 'must be greater than 0').optional(),
});

export type WebhookParams = z.output<typeof webhookParamsSchema>;
export type WebhookRequest = WebhookParams['open'];
type HeaderValue = string | SecretRef;

/** A request with every placeholder filled in; `fromEnv` references are still unresolved. */
const renderedRequestSchema = z.object({
  url: z.string(),
  method: z.enum(METHODS),
  headers: z.record(z.string(), z.union([z.string(), z.object({ fromEnv: z.string() }), z.object({ fromFile: z.string() })])),
  body: z.json().optional(),
});
type RenderedRequest = z.output<typeof renderedRequestSchema>;

const handleSchema = z.object({
  injector: z.literal('webhook'),
  close: renderedRequestSchema,
  status: renderedRequestSchema.optional(),
  timeoutMs: z.number().positive(),
});
type WebhookHandle = z.output<typeof handleSchema>;

export interface WebhookDeps extends InjectorDeps {
  /** Where `fromEnv` values come from. Default: process.env at call time. */
  env?: NodeJS.ProcessEnv;
}

/** What a send needs besides the request. */
interface SendContext {
  timeoutMs: number;
  env: NodeJS.ProcessEnv;
  policy: SecurityPolicy;
  signal: AbortSignal | undefined;
}

type Phase = 'open' | 'close' | 'status';

/** `https://user:pw@host/p?token=x` → `https://host/p?…`: enough to find the endpoint, nothing to leak. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

function renderRequest(req: WebhookRequest, vars: ReturnType<typeof templateVars>, defaultBody: JsonObject): RenderedRequest {
  // Values are percent-encoded in the URL so an experiment called "db / eu" stays one path segment.
  const url = renderTemplate(req.url, vars, encodeURIComponent);
  const headers: Record<string, HeaderValue> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    headers[name] = typeof value === 'string' ? renderTemplate(value, vars) : { ...value };
  }
  const rendered: RenderedRequest = { url, method: req.method, headers };
  if (req.body !== undefined) rendered.body = renderJsonTemplate(req.body, vars);
  else if (req.method !== 'GET') rendered.body = defaultBody;
  return rendered;
}

/** Resolve secret references now; the error names the reference and the header, never a value. */
function buildHeaders(req: RenderedRequest, env: NodeJS.ProcessEnv, policy: SecurityPolicy, what: string): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    const resolved =
      typeof value === 'string'
        ? value
        : resolveSecretRef(value, policy, env, `${what}: header ${name}`, (message) => new InjectorError(message, { retryable: false, code: 'missing_env' }));
    try {
      headers.set(name, resolved);
    } catch {
      // No cause: fetch's own message quotes the offending value.
      throw new InjectorError(`${what}: header ${name} has a value that is not allowed in HTTP (e.g. a line break)`, {
        retryable: false,
        code: 'invalid_header',
      });
    }
  }
  if (req.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
  if (!headers.has('accept')) headers.set('accept', 'application/json');
  return headers;
}

interface HttpAnswer {
  status: number;
  /** Only read for status requests; open and close bodies are discarded unread. */
  text?: string;
}

async function send(req: RenderedRequest, phase: Phase, sc: SendContext): Promise<HttpAnswer> {
  const { timeoutMs, signal } = sc;
  const what = `webhook ${phase} ${req.method} ${redactUrl(req.url)}`;
  if (signal?.aborted) throw new AbortedError(`${what}: aborted`);
  // Parsed once, checked on the parsed host, and that parse is what fetch gets.
  const url = checkOutboundUrl(req.url, sc.policy, what);
  const headers = buildHeaders(req, sc.env, sc.policy, what);

  // fetch refuses URLs with credentials; carry them as Basic auth unless an Authorization header is set.
  if (url.username || url.password) {
    if (!headers.has('authorization')) {
      const basic = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
      headers.set('authorization', `Basic ${basic}`);
    }
    url.username = '';
    url.password = '';
  }

  // One controller for both our timeout and the caller's abort, told apart by `timedOut`.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = (): void => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await fetch(url, {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal: controller.signal,
      // Redirects are not followed: a redirect would carry our secret headers to another host.
      redirect: 'manual',
    });
    if (phase === 'status' && res.status >= 200 && res.status < 300) return { status: res.status, text: await res.text() };
    await res.body?.cancel();
    return { status: res.status };
  } catch (err) {
    if (timedOut) {
      throw new InjectorError(`${what}: no answer within ${timeoutMs} ms`, { retryable: true, code: 'injector_timeout' });
    }
    if (signal?.aborted) throw new AbortedError(`${what}: aborted`);
    // Keep only the error code as the cause: a fetch error's message may quote request details.
    const code = networkCode(err);
    throw new InjectorError(`${what}: network error${code ? ` (${code})` : ''}`, {
      retryable: true,
      code: 'injector_network',
      cause: code ? new Error(code) : undefined,
    });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function httpError(req: RenderedRequest, phase: Phase, status: number): InjectorError {
  // 408, 429 and 5xx say "try later"; any other status will not change by asking again.
  const retryable = status === 408 || status === 429 || status >= 500;
  const hint = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
  return new InjectorError(`webhook ${phase} ${req.method} ${redactUrl(req.url)}: HTTP ${status}${hint}`, {
    retryable,
    code: 'injector_http_error',
  });
}

function parseHandle(handle: InjectorHandle): WebhookHandle {
  const parsed = handleSchema.safeParse(handle);
  if (!parsed.success) {
    throw new InjectorError(`not a webhook handle: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, {
      retryable: false,
      code: 'invalid_handle',
    });
  }
  return parsed.data;
}

/** `{ active: false }` or `{ state: 'closed' }` in a 2xx status answer means the fault is gone. */
function statusFromBody(text: string | undefined): InjectorStatus {
  if (text) {
    try {
      const body: unknown = JSON.parse(text);
      if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
        const { active, state } = body as { active?: unknown; state?: unknown };
        if (active === false || state === 'closed') return { state: 'closed' };
      }
    } catch {
      // Not JSON: the 2xx alone says the fault is there.
    }
  }
  return { state: 'active' };
}

export function createWebhookInjector(params: WebhookParams, deps: WebhookDeps = {}): Injector {
  const timeoutMs = params.timeout ?? deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const env = (): NodeJS.ProcessEnv => deps.env ?? process.env;
  const policy = deps.policy ?? DEFAULT_POLICY;
  const sc = (t: number, signal: AbortSignal | undefined): SendContext => ({ timeoutMs: t, env: env(), policy, signal });

  return {
    kind: 'webhook',

    async open(ctx: OpenContext): Promise<InjectorHandle> {
      const vars = templateVars(ctx);
      const defaultBody: JsonObject = { run: ctx.runId, experiment: ctx.experiment, deadline: vars.deadline };
      const openReq = renderRequest(params.open, vars, defaultBody);
      const handle: WebhookHandle = {
        injector: 'webhook',
        close: renderRequest(params.close, vars, defaultBody),
        timeoutMs,
      };
      if (params.status) handle.status = renderRequest(params.status, vars, defaultBody);
      // Check every URL and reference before acting, so a refused or missing close cannot leave an opened fault we cannot close.
      const planned: [Phase, RenderedRequest | undefined][] = [['open', openReq], ['close', handle.close], ['status', handle.status]];
      for (const [phase, req] of planned) {
        if (!req) continue;
        const what = `webhook ${phase} ${req.method} ${redactUrl(req.url)}`;
        checkOutboundUrl(req.url, policy, what);
        buildHeaders(req, env(), policy, what);
      }
      const answer = await send(openReq, 'open', sc(timeoutMs, ctx.signal));
      if (answer.status < 200 || answer.status >= 300) throw httpError(openReq, 'open', answer.status);
      return handle;
    },

    // One attempt: closeWithRetry (./close.ts) owns the retry policy, so
    // retries never multiply across layers.
    async close(raw: InjectorHandle, signal?: AbortSignal): Promise<void> {
      const handle = parseHandle(raw);
      const req = handle.close;
      const { status } = await send(req, 'close', sc(handle.timeoutMs, signal));
      // 404/410: the fault is already gone, which is what close is for.
      if ((status >= 200 && status < 300) || status === 404 || status === 410) return;
      throw httpError(req, 'close', status);
    },

    async status(raw: InjectorHandle, signal?: AbortSignal): Promise<InjectorStatus> {
      const handle = parseHandle(raw);
      const req = handle.status;
      if (!req) return { state: 'unknown', detail: 'no status request configured' };
      let answer: HttpAnswer;
      try {
        answer = await send(req, 'status', sc(handle.timeoutMs, signal));
      } catch (err) {
        // Our own misconfiguration and aborts are errors; a backend that does not answer just cannot tell.
        if (err instanceof AbortedError || (err instanceof InjectorError && !err.retryable)) throw err;
        return { state: 'unknown', detail: err instanceof Error ? err.message : String(err) };
      }
      if (answer.status >= 200 && answer.status < 300) return statusFromBody(answer.text);
      if (answer.status === 404 || answer.status === 410) return { state: 'closed' };
      return { state: 'unknown', detail: `HTTP ${answer.status}` };
    },

    /**
     * A generic webhook has no health endpoint we could call without acting
     * (calling `open` or `close` would open or close a fault), so preflight can
     * only check what is ours: every reference is allowed and resolves.
     */
    check(signal?: AbortSignal): Promise<void> {
      if (signal?.aborted) return Promise.reject(new AbortedError('webhook check: aborted'));
      const problems: string[] = [];
      for (const req of [params.open, params.close, params.status]) {
        for (const [header, v] of Object.entries(req?.headers ?? {})) {
          if (typeof v === 'string') continue;
          try {
            resolveSecretRef(v, policy, env(), `header ${header}`, (m) => new Error(m));
          } catch (err) {
            problems.push(err instanceof Error && /not set|cannot be read|is empty/.test(err.message) ? `${describeRef(v)} (header ${header}) not set or unreadable` : err instanceof Error ? err.message : String(err));
          }
        }
      }
      if (problems.length > 0) {
        return Promise.reject(new InjectorError(`webhook: ${[...new Set(problems)].join('; ')}`, { retryable: false, code: 'missing_env' }));
      }
      return Promise.resolve();
    },
  };
}

export const webhookInjector: InjectorFactory<WebhookParams> = {
  kind: 'webhook',
  paramsSchema: webhookParamsSchema,
  create(params: WebhookParams, deps: WebhookDeps = {}): Injector {
    return createWebhookInjector(params, deps);
  },
};
