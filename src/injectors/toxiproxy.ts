/**
 * Toxiproxy injector: one toxic on a named proxy per fault window, through
 * Toxiproxy's HTTP API (default :8474).
 *
 * - `open` adds a toxic named `steadystate-<run id>` (latency, timeout,
 *   reset_peer, bandwidth, slow_close or limit_data) with `toxicity` as the
 *   share of connections affected, then reads the proxy back: the fault only
 *   counts as injected when the toxic is listed on an enabled proxy. Otherwise
 *   the toxic is removed again and open fails. A 409 (a toxic of that name
 *   exists) means an earlier attempt of the same open got through: adopted.
 * - Toxiproxy has no expiry of its own, so the window's deadline is kept on
 *   our side only: the engine closes at the deadline, and the reaper
 *   (`reapToxics` in ./sweep.ts) removes any toxic with our prefix whose run is
 *   no longer active, which covers a steadystate that died mid-window.
 * - `close` deletes the toxic; 204 and 404 (toxic or proxy gone) both mean
 *   closed. One attempt per call; closeWithRetry owns the retries.
 *
 * Toxiproxy has no authentication; errors name the method, the admin URL
 * (without userinfo or query) and Toxiproxy's own `error` text.
 */
import { z } from 'zod';
import { checkOutboundUrl } from '../security/outbound-url.ts';
import { DEFAULT_POLICY } from '../security/policy.ts';
import { AbortedError, InjectorError } from '../lib/errors.ts';
import { fraction, httpUrl } from '../spec/fields.ts';
import { requestSignal } from './poll.ts';
import type { Injector, InjectorDeps, InjectorFactory, InjectorHandle, InjectorStatus, OpenContext, OwnedFault } from './types.ts';

const KIND = 'toxiproxy';
/** Every toxic we add is named `<prefix><run id>`: how the reaper knows ours. */
export const TOXIC_PREFIX = 'steadystate-';
const DEFAULT_URL = 'http://127.0.0.1:8474';
const DEFAULT_TIMEOUT_MS = 5_000;

/** Attributes per toxic type (Toxiproxy README): required ones first. */
const TOXIC_ATTRIBUTES = {
  latency: { required: ['latency'], optional: ['jitter'] },
  bandwidth: { required: ['rate'], optional: [] },
  timeout: { required: ['timeout'], optional: [] },
  reset_peer: { required: [], optional: ['timeout'] },
  slow_close: { required: ['delay'], optional: [] },
  limit_data: { required: ['bytes'], optional: [] },
} as const satisfies Record<string, { required: readonly string[]; optional: readonly string[] }>;
type ToxicType = keyof typeof TOXIC_ATTRIBUTES;
const TOXIC_TYPES = Object.keys(TOXIC_ATTRIBUTES) as ToxicType[];

export const toxiproxyParamsSchema = z
  .strictObject({
    /** Toxiproxy's admin API. Default http://127.0.0.1:8474. */
    url: httpUrl.default(DEFAULT_URL),
    /** Name of an existing proxy. */
    proxy: z.string().min(1),
    type: z.enum(TOXIC_TYPES),
    /** `downstream` (server → client, Toxiproxy's default) or `upstream`. */
    stream: z.enum(['upstream', 'downstream']).default('downstream'),
    /** Share of connections the toxic applies to: `25%` or `0.25`. Default 100%. */
    toxicity: fraction.default(1),
    /** Numbers as Toxiproxy documents them (ms, KB/s, bytes). */
    attributes: z.record(z.string(), z.number().nonnegative()).default({}),
  })
  .superRefine((p, ctx) => {
    const spec = TOXIC_ATTRIBUTES[p.type];
    const known: readonly string[] = [...spec.required, ...spec.optional];
    for (const name of spec.required) {
      if (!(name in p.attributes)) ctx.addIssue({ code: 'custom', path: ['attributes', name], message: `a ${p.type} toxic needs ${name}` });
    }
    for (const name of Object.keys(p.attributes)) {
      if (!known.includes(name)) {
        ctx.addIssue({ code: 'custom', path: ['attributes', name], message: `not an attribute of ${p.type}; known: ${known.join(', ') || 'none'}` });
      }
    }
  });

export type ToxiproxyParams = z.output<typeof toxiproxyParamsSchema>;

/** What a ladder's later step must keep: Toxiproxy updates a toxic's toxicity and attributes, nothing else. */
function toxiproxyStepProblem(first: ToxiproxyParams, step: ToxiproxyParams): string | undefined {
  const moved = (['url', 'proxy', 'type', 'stream'] as const).filter((k) => trimSlash(first[k]) !== trimSlash(step[k]));
  return moved.length === 0 ? undefined : `must keep the first step's ${moved.join(', ')}: Toxiproxy changes a toxic's toxicity and attributes in place, nothing else`;
}

const handleSchema = z.object({
  injector: z.literal(KIND),
  url: z.string(),
  proxy: z.string().min(1),
  toxic: z.string().min(1),
  timeoutMs: z.number().positive(),
});
type ToxiproxyHandle = z.output<typeof handleSchema>;

const proxySchema = z
  .object({
    name: z.string(),
    enabled: z.boolean().optional(),
    toxics: z.array(z.object({ name: z.string() }).loose()).nullish(),
  })
  .loose();
const proxiesSchema = z.record(z.string(), proxySchema);

interface Answer {
  status: number;
  body: unknown;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Scheme, host and path: enough to find the endpoint, nothing that could carry a credential. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

function parseHandle(handle: InjectorHandle): ToxiproxyHandle {
  const parsed = handleSchema.safeParse(handle);
  if (!parsed.success) {
    throw new InjectorError(`not a toxiproxy handle: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, {
      retryable: false,
      code: 'invalid_handle',
    });
  }
  return parsed.data;
}

const ref = (h: { proxy: string; toxic: string }): string => `toxic ${h.proxy}/${h.toxic}`;

/** The run id a toxic name carries, or undefined when the toxic is not ours. */
export function runIdOfToxic(name: string): string | undefined {
  return name.startsWith(TOXIC_PREFIX) && name.length > TOXIC_PREFIX.length ? name.slice(TOXIC_PREFIX.length) : undefined;
}

function toxicPath(proxy: string, toxic?: string): string {
  const base = `/proxies/${encodeURIComponent(proxy)}/toxics`;
  return toxic === undefined ? base : `${base}/${encodeURIComponent(toxic)}`;
}

/** Toxiproxy errors are `{ error, status }`; its text says what is wrong (no secrets in it). */
function errorText(body: unknown): string {
  const e = (body as { error?: unknown } | undefined)?.error;
  return typeof e === 'string' ? `: ${e.slice(0, 200)}` : '';
}

function httpError(what: string, a: Answer): InjectorError {
  const retryable = a.status === 408 || a.status === 429 || a.status >= 500;
  return new InjectorError(`${what}: HTTP ${a.status}${errorText(a.body)}`, { retryable, code: 'injector_http_error' });
}

function ok(status: number): boolean {
  return status >= 200 && status < 300;
}

/** The parts that need only the admin URL: close, status and listing. Shared by the injector and the reaper. */
function toxiproxyAdmin(deps: InjectorDeps) {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  async function call(method: 'GET' | 'POST' | 'DELETE', base: string, path: string, phase: string, signal: AbortSignal | undefined, body?: unknown): Promise<Answer> {
    const url = `${trimSlash(base)}${path}`;
    const what = `${KIND} ${phase} ${method} ${redact(url)}`;
    if (signal?.aborted) throw new AbortedError(`${what}: aborted`);
    const target = checkOutboundUrl(url, deps.policy ?? DEFAULT_POLICY, what);
    const limit = requestSignal(timeoutMs, signal);
    try {
      const res = await fetch(target, {
        method,
        // Toxiproxy answers 403 to user agents that look like browsers; say who we are.
        headers: { accept: 'application/json', 'user-agent': 'steadystate', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: limit.signal,
        redirect: 'manual',
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // Plain text stays as is.
      }
      return { status: res.status, body: parsed };
    } catch (err) {
      if (signal?.aborted) throw new AbortedError(`${what}: aborted`);
      if (limit.timedOut()) throw new InjectorError(`${what}: no answer within ${timeoutMs} ms`, { retryable: true, code: 'injector_timeout' });
      const code = (err as { cause?: { code?: unknown } }).cause?.code;
      throw new InjectorError(`${what}: network error${typeof code === 'string' ? ` (${code})` : ''}`, {
        retryable: true,
        code: 'injector_network',
        cause: typeof code === 'string' ? new Error(code) : undefined,
      });
    } finally {
      limit.done();
    }
  }

  async function close(raw: InjectorHandle, signal?: AbortSignal): Promise<void> {
    const h = parseHandle(raw);
    const path = toxicPath(h.proxy, h.toxic);
    const a = await call('DELETE', h.url, path, 'close', signal);
    // 404: the toxic, or its whole proxy, is gone already.
    if (ok(a.status) || a.status === 404) return;
    throw httpError(`${KIND} close DELETE ${redact(`${trimSlash(h.url)}${path}`)}`, a);
  }

  async function status(raw: InjectorHandle, signal?: AbortSignal): Promise<InjectorStatus> {
    const h = parseHandle(raw);
    let a: Answer;
    try {
      a = await call('GET', h.url, `/proxies/${encodeURIComponent(h.proxy)}`, 'status', signal);
    } catch (err) {
      if (err instanceof AbortedError) throw err;
      return { state: 'unknown', detail: err instanceof Error ? err.message : String(err) };
    }
    if (a.status === 404) return { state: 'closed', detail: `proxy ${h.proxy} not found` };
    const parsed = proxySchema.safeParse(a.body);
    if (!ok(a.status) || !parsed.success) return { state: 'unknown', detail: `HTTP ${a.status}${errorText(a.body)}` };
    const present = (parsed.data.toxics ?? []).some((t) => t.name === h.toxic);
    if (!present) return { state: 'closed', detail: `${ref(h)} not found` };
    if (parsed.data.enabled === false) return { state: 'unknown', detail: `proxy ${h.proxy} is disabled` };
    return { state: 'active' };
  }

  async function listOwned(url: string, signal?: AbortSignal): Promise<OwnedFault[]> {
    const a = await call('GET', url, '/proxies', 'list', signal);
    if (!ok(a.status)) throw httpError(`${KIND} list GET ${redact(`${trimSlash(url)}/proxies`)}`, a);
    const parsed = proxiesSchema.safeParse(a.body);
    if (!parsed.success) throw new InjectorError(`${KIND} list: GET /proxies did not answer with proxies`, { retryable: true, code: 'injector_bad_response' });
    const owned: OwnedFault[] = [];
    for (const [proxy, p] of Object.entries(parsed.data)) {
      for (const t of p.toxics ?? []) {
        const runId = runIdOfToxic(t.name);
        if (runId === undefined) continue;
        const handle: ToxiproxyHandle = { injector: KIND, url, proxy, toxic: t.name, timeoutMs };
        owned.push({ runId, ref: ref(handle), handle });
      }
    }
    return owned;
  }

  return { timeoutMs, call, close, status, listOwned };
}

export function createToxiproxyInjector(params: ToxiproxyParams, deps: InjectorDeps = {}): Injector {
  const admin = toxiproxyAdmin(deps);
  const url = trimSlash(params.url);
  const proxyPath = `/proxies/${encodeURIComponent(params.proxy)}`;

  const injector: Injector = {
    kind: KIND,

    async open(ctx: OpenContext): Promise<InjectorHandle> {
      const toxic = `${TOXIC_PREFIX}${ctx.runId}`;
      const handle: ToxiproxyHandle = { injector: KIND, url, proxy: params.proxy, toxic, timeoutMs: admin.timeoutMs };
      const what = `${KIND} open POST ${redact(`${url}${toxicPath(params.proxy)}`)}`;
      if (ctx.deadline.getTime() <= Date.now()) {
        throw new InjectorError(`${KIND} open: the window's deadline has already passed`, { retryable: false, code: 'injector_deadline' });
      }
      const a = await admin.call('POST', url, toxicPath(params.proxy), 'open', ctx.signal, {
        name: toxic,
        type: params.type,
        stream: params.stream,
        toxicity: params.toxicity,
        attributes: params.attributes,
      });
      if (a.status === 404) {
        throw new InjectorError(`${what}: HTTP 404${errorText(a.body)} (is there a proxy named "${params.proxy}"?)`, { retryable: false, code: 'injector_not_found' });
      }
      // 409: a toxic with our run's name exists, i.e. an earlier attempt of this open got through.
      if (!ok(a.status) && a.status !== 409) throw httpError(what, a);

      // Read it back: a toxic on a disabled proxy does nothing, and the window must not count as open.
      let problem: string | undefined;
      try {
        const st = await admin.status(handle, ctx.signal);
        if (st.state !== 'active') problem = st.detail ?? st.state;
      } catch (err) {
        await admin.close(handle).catch(() => undefined);
        throw err;
      }
      if (problem !== undefined) {
        let cleaned = `${ref(handle)} was removed again`;
        try {
          await admin.close(handle);
        } catch (err) {
          cleaned = `removing ${ref(handle)} failed too (${err instanceof Error ? err.message : String(err)}); the reaper will remove it`;
        }
        throw new InjectorError(`${KIND} open: ${ref(handle)} is not in effect: ${problem}; ${cleaned}`, { retryable: false, code: 'injector_not_injected' });
      }
      return handle;
    },

    /** A ladder's next step: Toxiproxy updates a toxic's toxicity and attributes in place (`POST /proxies/{p}/toxics/{t}`). */
    update: (raw, stepParams, signal) => updateToxic(admin, raw, stepParams, signal),
    close: (handle, signal) => admin.close(handle, signal),
    status: (handle, signal) => admin.status(handle, signal),

    /** The proxy exists (Toxiproxy answers, and the name is right). */
    async check(signal?: AbortSignal): Promise<void> {
      const a = await admin.call('GET', url, proxyPath, 'check', signal);
      if (a.status === 404) {
        throw new InjectorError(`${KIND} check: no proxy named "${params.proxy}" at ${redact(url)}`, { retryable: false, code: 'injector_not_found' });
      }
      if (!ok(a.status)) throw httpError(`${KIND} check GET ${redact(`${url}${proxyPath}`)}`, a);
    },

    listOwned: (signal) => admin.listOwned(url, signal),
  };
  return injector;
}

/** Change an open toxic in place (a ladder's step); a toxic that is gone is not added back. */
async function updateToxic(admin: ReturnType<typeof toxiproxyAdmin>, raw: InjectorHandle, stepParams: unknown, signal?: AbortSignal): Promise<void> {
  const h = parseHandle(raw);
  const step = toxiproxyParamsSchema.parse(stepParams);
  const path = toxicPath(h.proxy, h.toxic);
  const what = `${KIND} update POST ${redact(`${trimSlash(h.url)}${path}`)}`;
  const a = await admin.call('POST', h.url, path, 'update', signal, { toxicity: step.toxicity, attributes: step.attributes });
  // 404: the toxic is gone (removed by hand, or the reaper); a step must not add it back.
  if (a.status === 404) throw new InjectorError(`${what}: HTTP 404${errorText(a.body)} (the toxic is gone)`, { retryable: false, code: 'injector_not_found' });
  if (!ok(a.status)) throw httpError(what, a);
}

/**
 * A Toxiproxy server seen only as a place our toxics live: lists and removes
 * them (for the reaper), opens nothing. Its `check` asks for `/version`.
 */
export function toxiproxyServer(url: string, deps: InjectorDeps = {}): Injector {
  const admin = toxiproxyAdmin(deps);
  const base = trimSlash(url);
  return {
    kind: KIND,
    async open(): Promise<InjectorHandle> {
      throw new InjectorError(`${KIND}: a server handle for the reaper cannot open faults`, { retryable: false, code: 'injector_unsupported' });
    },
    /** A ladder's next step: Toxiproxy updates a toxic's toxicity and attributes in place (`POST /proxies/{p}/toxics/{t}`). */
    update: (raw, stepParams, signal) => updateToxic(admin, raw, stepParams, signal),
    close: (handle, signal) => admin.close(handle, signal),
    status: (handle, signal) => admin.status(handle, signal),
    async check(signal?: AbortSignal): Promise<void> {
      const a = await admin.call('GET', base, '/version', 'check', signal);
      if (!ok(a.status)) throw httpError(`${KIND} check GET ${redact(`${base}/version`)}`, a);
    },
    listOwned: (signal) => admin.listOwned(base, signal),
  };
}

export const toxiproxyInjector: InjectorFactory<ToxiproxyParams> = {
  kind: KIND,
  paramsSchema: toxiproxyParamsSchema,
  create(params: ToxiproxyParams, deps: InjectorDeps = {}): Injector {
    return createToxiproxyInjector(params, deps);
  },
  ladder: { stepProblem: toxiproxyStepProblem },
};
