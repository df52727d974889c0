/**
 * Gremlin injector: one attack per fault window, through Gremlin's REST API
 * (`https://api.gremlin.com/v1`, `teamId` on every call).
 *
 * - `open` creates the attack (`POST /attacks/new`) with its length (`-l`,
 *   seconds) set from the window's deadline, so Gremlin ends it by itself if
 *   steadystate dies; then waits until the attack's stage is `Running`. One
 *   that completes first, or is not running within `startTimeout`, fails the
 *   open and is halted again.
 * - `close` halts the attack (`DELETE /attacks/{guid}`) and waits until
 *   Gremlin reports it complete (or no longer knows it). If the targeted halt
 *   fails for a reason asking again will not fix, it falls back to halting
 *   every attack of the team (`DELETE /attacks`), unless `haltAllFallback` is
 *   off: stopping too much is the lesser harm than a fault left running.
 * - The API key (or bearer token) is read from an environment variable at call
 *   time; handles and messages carry the variable's name, never its value.
 * - Gremlin attacks carry no label we can set, so there is no `listOwned`: the
 *   attack's own length is what ends an orphan.
 *
 * The attack's `stage` / `stageLifecycle` values read here (Running; Complete)
 * follow Gremlin's API reference as far as it is public; see
 * docs/injectors/gremlin.md.
 */
import { z } from 'zod';
import { checkOutboundUrl } from '../security/outbound-url.ts';
import { DEFAULT_POLICY, envReferenceProblem, PolicyError } from '../security/policy.ts';
import { AbortedError, InjectorError } from '../lib/errors.ts';
import { durationMs, httpUrl } from '../spec/fields.ts';
import { closeWithRetry, type CloseRetryPolicy } from './close.ts';
import { pollUntil, requestSignal, secondsUntil } from './poll.ts';
import type { Injector, InjectorDeps, InjectorFactory, InjectorHandle, InjectorStatus, OpenContext } from './types.ts';

const KIND = 'gremlin';
const DEFAULT_BASE_URL = 'https://api.gremlin.com/v1';
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_START_TIMEOUT_MS = 60_000;
const DEFAULT_HALT_TIMEOUT_MS = 60_000;
const DEFAULT_POLL_MS = 2_000;
const DEFAULT_CLEANUP_POLICY: Partial<CloseRetryPolicy> = { attempts: 3, baseMs: 200, maxMs: 1_000 };
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Stages after which an attack no longer acts. */
const FINAL_STAGES = new Set(['successful', 'failed', 'halted', 'userhalted', 'targetnotfound', 'clientaborted', 'initializationfailed', 'lostcommunication', 'haltfailed']);

const positiveDuration = durationMs.refine((ms) => ms > 0, 'must be greater than 0');

export const gremlinParamsSchema = z.strictObject({
  /** Default https://api.gremlin.com/v1. */
  baseUrl: httpUrl.default(DEFAULT_BASE_URL),
  teamId: z.string().min(1),
  /** `Authorization: <scheme> <value of fromEnv>`. Default `Key` from GREMLIN_API_KEY. */
  credentials: z
    .strictObject({
      scheme: z.enum(['Key', 'Bearer']).default('Key'),
      fromEnv: z.string().regex(ENV_NAME_RE, 'must be an environment variable name'),
    })
    .default({ scheme: 'Key', fromEnv: 'GREMLIN_API_KEY' }),
  /** The attack as Gremlin's API takes it: `type` (latency, blackhole, cpu, …) and CLI `args`, without the length. */
  command: z.strictObject({
    type: z.string().min(1),
    args: z
      .array(z.string())
      .default([])
      .superRefine((args, ctx) => {
        const at = args.findIndex((a) => a === '-l' || a === '--length' || a.startsWith('--length='));
        if (at >= 0) ctx.addIssue({ code: 'custom', path: [at], message: 'the length is set from fault.duration (the window deadline); remove it here' });
      }),
  }),
  /** Gremlin's target object (`{ type: 'Exact', hosts: { ids: [...] } }`, containers, …). */
  target: z.record(z.string(), z.json()),
  /** How long open waits for the attack to run. Default 60 s. */
  startTimeout: positiveDuration.optional(),
  /** How long one close waits for the halted attack to complete. Default 60 s. */
  haltTimeout: positiveDuration.optional(),
  /** Halt every attack of the team when the targeted halt fails for good. Default true. */
  haltAllFallback: z.boolean().default(true),
});

export type GremlinParams = z.output<typeof gremlinParamsSchema>;

const handleSchema = z.object({
  injector: z.literal(KIND),
  baseUrl: z.string(),
  teamId: z.string(),
  guid: z.string().min(1),
  scheme: z.enum(['Key', 'Bearer']),
  fromEnv: z.string(),
  haltTimeoutMs: z.number().positive(),
  haltAllFallback: z.boolean(),
});
type GremlinHandle = z.output<typeof handleSchema>;

export interface GremlinDeps extends InjectorDeps {
  pollIntervalMs?: number;
  cleanupPolicy?: Partial<CloseRetryPolicy>;
  /** Where the credential variable is read. Default process.env at call time. */
  env?: NodeJS.ProcessEnv;
}

const attackSchema = z.object({ guid: z.string().optional(), stage: z.string().optional(), stageLifecycle: z.string().optional() }).loose();
type Attack = z.output<typeof attackSchema>;

interface Answer {
  status: number;
  text: string;
}

interface Conn {
  baseUrl: string;
  teamId: string;
  scheme: 'Key' | 'Bearer';
  fromEnv: string;
}

function parseHandle(handle: InjectorHandle): GremlinHandle {
  const parsed = handleSchema.safeParse(handle);
  if (!parsed.success) {
    throw new InjectorError(`not a gremlin handle: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, {
      retryable: false,
      code: 'invalid_handle',
    });
  }
  return parsed.data;
}

const isRunning = (a: Attack): boolean => /^running$/i.test(a.stage ?? '');
const isOver = (a: Attack): boolean => /^complete$/i.test(a.stageLifecycle ?? '') || FINAL_STAGES.has((a.stage ?? '').toLowerCase());
const describeAttack = (a: Attack | undefined): string => (a ? `stage ${a.stage ?? '?'}${a.stageLifecycle ? `, ${a.stageLifecycle}` : ''}` : 'no answer yet');

/** The attack id from `POST /attacks/new`: plain text, a JSON string, or an object with `guid`/`id`. */
function guidFrom(text: string): string | undefined {
  const trimmed = text.trim();
  try {
    const v: unknown = JSON.parse(trimmed);
    if (typeof v === 'string') return v.trim() || undefined;
    if (v && typeof v === 'object') {
      const o = v as { guid?: unknown; id?: unknown };
      if (typeof o.guid === 'string') return o.guid;
      if (typeof o.id === 'string') return o.id;
    }
    return undefined;
  } catch {
    return /^[A-Za-z0-9-]{8,}$/.test(trimmed) ? trimmed : undefined;
  }
}

export function createGremlinInjector(params: GremlinParams, deps: GremlinDeps = {}): Injector {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const pollIntervalMs = deps.pollIntervalMs ?? DEFAULT_POLL_MS;
  const startTimeoutMs = params.startTimeout ?? DEFAULT_START_TIMEOUT_MS;
  const haltTimeoutMs = params.haltTimeout ?? DEFAULT_HALT_TIMEOUT_MS;
  const cleanupPolicy = { ...DEFAULT_CLEANUP_POLICY, ...deps.cleanupPolicy };
  const conn: Conn = { baseUrl: params.baseUrl.replace(/\/+$/, ''), teamId: params.teamId, ...params.credentials };

  const source = (c: Conn): string => `${c.scheme} from environment variable ${c.fromEnv}`;

  async function send(c: Conn, method: 'GET' | 'POST' | 'DELETE', path: string, what: string, signal: AbortSignal | undefined, body?: unknown): Promise<Answer> {
    const url = new URL(`${c.baseUrl}${path}`);
    url.searchParams.set('teamId', c.teamId);
    // The URL as shown: no query (teamId is not secret, but a proxy may add tokens there), no userinfo.
    const label = `${what} ${method} ${url.protocol}//${url.host}${url.pathname}`;
    if (signal?.aborted) throw new AbortedError(`${label}: aborted`);
    // The parsed URL against the operator's policy, and the credential's variable too, right before the key goes out.
    checkOutboundUrl(url, deps.policy ?? DEFAULT_POLICY, label);
    const refused = envReferenceProblem(c.fromEnv, deps.policy ?? DEFAULT_POLICY);
    if (refused) throw new PolicyError(`${label}: ${refused}`);
    const secret = (deps.env ?? process.env)[c.fromEnv];
    if (secret === undefined || secret === '') {
      throw new InjectorError(`${label}: the Gremlin credential needs environment variable ${c.fromEnv}, which is not set`, { retryable: false, code: 'missing_env' });
    }
    const limit = requestSignal(timeoutMs, signal);
    try {
      const res = await fetch(url, {
        method,
        headers: {
          authorization: `${c.scheme} ${secret}`,
          accept: 'application/json, text/plain',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: limit.signal,
        // Never follow a redirect: it would carry the API key to another host.
        redirect: 'manual',
      });
      return { status: res.status, text: await res.text() };
    } catch (err) {
      if (signal?.aborted) throw new AbortedError(`${label}: aborted`);
      if (limit.timedOut()) throw new InjectorError(`${label}: no answer within ${timeoutMs} ms`, { retryable: true, code: 'injector_timeout' });
      const code = (err as { cause?: { code?: unknown } }).cause?.code;
      throw new InjectorError(`${label}: network error${typeof code === 'string' ? ` (${code})` : ''}`, {
        retryable: true,
        code: 'injector_network',
        cause: typeof code === 'string' ? new Error(code) : undefined,
      });
    } finally {
      limit.done();
    }
  }

  function httpError(c: Conn, label: string, a: Answer): InjectorError {
    if (a.status === 401 || a.status === 403) {
      return new InjectorError(`${label}: HTTP ${a.status}; credentials: ${source(c)} (team ${c.teamId})`, { retryable: false, code: 'injector_auth' });
    }
    const retryable = a.status === 408 || a.status === 429 || a.status >= 500;
    // Gremlin's error bodies are short explanations; never our request.
    const said = a.text && a.text.length <= 300 ? `: ${a.text.trim()}` : '';
    return new InjectorError(`${label}: HTTP ${a.status}${said}`, { retryable, code: 'injector_http_error' });
  }

  const ok = (s: number): boolean => s >= 200 && s < 300;

  /** The attack, or undefined when Gremlin does not know it (404). */
  async function readAttack(c: Conn, guid: string, what: string, signal?: AbortSignal): Promise<Attack | undefined> {
    const path = `/attacks/${encodeURIComponent(guid)}`;
    const a = await send(c, 'GET', path, what, signal);
    if (a.status === 404) return undefined;
    if (!ok(a.status)) throw httpError(c, `${what} GET ${path}`, a);
    try {
      return attackSchema.parse(JSON.parse(a.text));
    } catch {
      throw new InjectorError(`${what} GET ${path}: the answer is not an attack`, { retryable: true, code: 'injector_bad_response' });
    }
  }

  const injector: Injector = {
    kind: KIND,

    async open(ctx: OpenContext): Promise<InjectorHandle> {
      const what = `${KIND} open`;
      const seconds = secondsUntil(ctx.deadline, what);
      const a = await send(conn, 'POST', '/attacks/new', what, ctx.signal, {
        command: { type: params.command.type, args: [...params.command.args, '-l', String(seconds)] },
        target: params.target,
      });
      if (!ok(a.status)) throw httpError(conn, `${what} POST /attacks/new`, a);
      const guid = guidFrom(a.text);
      if (!guid) throw new InjectorError(`${what} POST /attacks/new: the answer holds no attack id`, { retryable: false, code: 'injector_bad_response' });
      const handle: GremlinHandle = { injector: KIND, ...conn, guid, haltTimeoutMs, haltAllFallback: params.haltAllFallback };

      const cleanup = async (): Promise<string> => {
        try {
          await closeWithRetry(injector, handle, cleanupPolicy);
          return `attack ${guid} was halted`;
        } catch (err) {
          return `halting attack ${guid} failed too (${err instanceof Error ? err.message : String(err)}); its length (${seconds} s) ends it`;
        }
      };

      const waitMs = Math.min(startTimeoutMs, Math.max(0, ctx.deadline.getTime() - Date.now()));
      let last: Attack | undefined;
      let outcome;
      try {
        outcome = await pollUntil({
          read: (signal) => readAttack(conn, guid, what, signal),
          judge: (attack) => {
            if (attack === undefined) return { done: false, detail: 'not known yet' };
            last = attack;
            if (isRunning(attack)) return { done: true };
            if (isOver(attack)) return { done: false, failed: `the attack ended before it ran (${describeAttack(attack)})` };
            return { done: false, detail: describeAttack(attack) };
          },
          timeoutMs: waitMs,
          intervalMs: pollIntervalMs,
          signal: ctx.signal,
        });
      } catch (err) {
        const cleaned = await cleanup();
        if (err instanceof InjectorError) throw new InjectorError(`${err.message}; ${cleaned}`, { retryable: false, code: err.code, cause: err });
        throw err;
      }
      if (outcome.outcome !== 'done') {
        const why = outcome.outcome === 'failed' ? outcome.reason : `not running within ${waitMs} ms (${describeAttack(last)})`;
        const cleaned = await cleanup();
        throw new InjectorError(`${what}: attack ${guid}: ${why}; ${cleaned}`, { retryable: false, code: 'injector_not_injected' });
      }
      return handle;
    },

    // One attempt: closeWithRetry (./close.ts) owns the retry policy.
    async close(raw: InjectorHandle, signal?: AbortSignal): Promise<void> {
      const h = parseHandle(raw);
      const what = `${KIND} close`;
      const path = `/attacks/${encodeURIComponent(h.guid)}`;
      const a = await send(h, 'DELETE', path, what, signal);
      if (a.status === 404) return;
      if (!ok(a.status)) {
        const targeted = httpError(h, `${what} DELETE ${path}`, a);
        if (targeted.retryable || !h.haltAllFallback) throw targeted;
        // The targeted halt will not work by asking again: halt the whole team's attacks instead.
        const all = await send(h, 'DELETE', '/attacks', `${what} (halt-all fallback)`, signal);
        if (!ok(all.status)) {
          const allErr = httpError(h, `${what} (halt-all fallback) DELETE /attacks`, all);
          throw new InjectorError(`${targeted.message}; ${allErr.message}`, { retryable: allErr.retryable, code: allErr.code });
        }
      }
      let last: Attack | undefined;
      const outcome = await pollUntil({
        read: (s) => readAttack(h, h.guid, what, s),
        judge: (attack) => {
          last = attack;
          return attack === undefined || isOver(attack) ? { done: true } : { done: false, detail: describeAttack(attack) };
        },
        timeoutMs: h.haltTimeoutMs,
        intervalMs: pollIntervalMs,
        signal,
      });
      if (outcome.outcome !== 'done') {
        throw new InjectorError(`${what}: attack ${h.guid} not complete ${h.haltTimeoutMs} ms after the halt (${describeAttack(last)})`, {
          retryable: true,
          code: 'injector_not_recovered',
        });
      }
    },

    async status(raw: InjectorHandle, signal?: AbortSignal): Promise<InjectorStatus> {
      const h = parseHandle(raw);
      let attack: Attack | undefined;
      try {
        attack = await readAttack(h, h.guid, `${KIND} status`, signal);
      } catch (err) {
        if (err instanceof AbortedError) throw err;
        return { state: 'unknown', detail: err instanceof Error ? err.message : String(err) };
      }
      if (attack === undefined) return { state: 'closed', detail: `attack ${h.guid} not found` };
      if (isOver(attack)) return { state: 'closed', detail: describeAttack(attack) };
      if (isRunning(attack)) return { state: 'active', detail: describeAttack(attack) };
      return { state: 'unknown', detail: describeAttack(attack) };
    },

    /** The key works for the team: list its active attacks. */
    async check(signal?: AbortSignal): Promise<void> {
      const a = await send(conn, 'GET', '/attacks/active', `${KIND} check`, signal);
      if (!ok(a.status)) throw httpError(conn, `${KIND} check GET /attacks/active`, a);
    },
  };
  return injector;
}

export const gremlinInjector: InjectorFactory<GremlinParams> = {
  kind: KIND,
  paramsSchema: gremlinParamsSchema,
  create(params: GremlinParams, deps: GremlinDeps = {}): Injector {
    return createGremlinInjector(params, deps);
  },
};
