/**
 * Chaos Mesh injector: one HTTPChaos, NetworkChaos or PodChaos object
 * (`chaos-mesh.org/v1alpha1`) per fault window.
 *
 * - `open` creates the object with `spec.duration` set from the window's
 *   deadline (the backend-side deadline: Chaos Mesh recovers by itself when it
 *   passes, even if steadystate is gone), labelled `app.kubernetes.io/managed-by:
 *   steadystate` and `steadystate.dev/run-id`, and annotated with the exact run
 *   id. The name is derived from the run id, so a retried open finds the object
 *   the first attempt created (409 + our annotation) instead of making another.
 * - The window only counts as open once the `AllInjected` condition is True.
 *   If it is not within `injectTimeout` (or the object vanishes), open deletes
 *   what it created and throws: the run ends `errored`, never `passed`.
 * - `close` deletes the object (Chaos Mesh recovers the fault through its
 *   finalizer) and waits until it is gone (404) or `AllRecovered` is True.
 *   A 404 on delete means already gone: success. One attempt per call; the
 *   retries live in closeWithRetry.
 * - `listOwned` finds every object with our managed-by label in the namespace,
 *   for the orphan sweep.
 */
import { z } from 'zod';
import { AbortedError, InjectorError } from '../lib/errors.ts';
import { durationMs } from '../spec/fields.ts';
import { closeWithRetry, type CloseRetryPolicy } from './close.ts';
import {
  conditionTrue,
  connectionOf,
  kubeClientPool,
  type CustomResource,
  describeConditions,
  DNS_LABEL_RE,
  type KubeDeps,
  kubeConnectionShape,
  type KubeObject,
  objectNameFor,
  OWNED_SELECTOR,
  ownershipMetadata,
  pollUntil,
  runIdOf,
  secondsUntil,
} from './kube.ts';
import type { Injector, InjectorDeps, InjectorFactory, InjectorHandle, InjectorStatus, OpenContext, OwnedFault } from './types.ts';

const KIND = 'chaos-mesh';
const GROUP = 'chaos-mesh.org';
const VERSION = 'v1alpha1';
const PLURALS = { HTTPChaos: 'httpchaos', NetworkChaos: 'networkchaos', PodChaos: 'podchaos' } as const;
type ChaosKind = keyof typeof PLURALS;
const CHAOS_KINDS = Object.keys(PLURALS) as ChaosKind[];

const DEFAULT_INJECT_TIMEOUT_MS = 60_000;
const DEFAULT_RECOVER_TIMEOUT_MS = 60_000;
const DEFAULT_POLL_MS = 1_000;
/** Cleanup after a failed open: a few quick attempts; the sweep is the backstop. */
const DEFAULT_CLEANUP_POLICY: Partial<CloseRetryPolicy> = { attempts: 3, baseMs: 200, maxMs: 1_000 };

const positiveDuration = durationMs.refine((ms) => ms > 0, 'must be greater than 0');

export const chaosMeshParamsSchema = z.strictObject({
  ...kubeConnectionShape,
  kind: z.enum(CHAOS_KINDS),
  namespace: z.string().regex(DNS_LABEL_RE, 'must be a Kubernetes namespace name'),
  /** The chaos object's spec as Chaos Mesh documents it (selector, mode, action, …), without `duration`. */
  spec: z.record(z.string(), z.json()).superRefine((spec, ctx) => {
    if ('duration' in spec) {
      ctx.addIssue({ code: 'custom', path: ['duration'], message: 'is set from fault.duration (the window deadline); remove it here' });
    }
  }),
  /** How long open waits for AllInjected. Default 60 s. */
  injectTimeout: positiveDuration.optional(),
  /** How long one close waits for the object to be gone or AllRecovered. Default 60 s. */
  recoverTimeout: positiveDuration.optional(),
});

export type ChaosMeshParams = z.output<typeof chaosMeshParamsSchema>;

const handleSchema = z.object({
  injector: z.literal(KIND),
  kubeconfig: z.string().optional(),
  context: z.string().optional(),
  kind: z.enum(CHAOS_KINDS),
  namespace: z.string().min(1),
  name: z.string().min(1),
  runId: z.string(),
  recoverTimeoutMs: z.number().positive(),
});
type ChaosMeshHandle = z.output<typeof handleSchema>;

export interface ChaosMeshDeps extends InjectorDeps, KubeDeps {
  /** Between status reads while waiting. Default 1 s. */
  pollIntervalMs?: number;
  /** Retry policy of the cleanup after a failed open. */
  cleanupPolicy?: Partial<CloseRetryPolicy>;
}

function resourceOf(kind: ChaosKind): CustomResource {
  return { group: GROUP, version: VERSION, plural: PLURALS[kind] };
}

function parseHandle(handle: InjectorHandle): ChaosMeshHandle {
  const parsed = handleSchema.safeParse(handle);
  if (!parsed.success) {
    throw new InjectorError(`not a chaos-mesh handle: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, {
      retryable: false,
      code: 'invalid_handle',
    });
  }
  return parsed.data;
}

function ref(h: { kind: string; namespace: string; name: string }): string {
  return `${h.kind.toLowerCase()} ${h.namespace}/${h.name}`;
}

export function createChaosMeshInjector(params: ChaosMeshParams, deps: ChaosMeshDeps = {}): Injector {
  const pollIntervalMs = deps.pollIntervalMs ?? DEFAULT_POLL_MS;
  const injectTimeoutMs = params.injectTimeout ?? DEFAULT_INJECT_TIMEOUT_MS;
  const recoverTimeoutMs = params.recoverTimeout ?? DEFAULT_RECOVER_TIMEOUT_MS;
  const cleanupPolicy = { ...DEFAULT_CLEANUP_POLICY, ...deps.cleanupPolicy };
  const clientFor = kubeClientPool(deps);

  const handleFor = (name: string, runId: string, kind: ChaosKind): ChaosMeshHandle => ({
    injector: KIND,
    ...connectionOf(params),
    kind,
    namespace: params.namespace,
    name,
    runId,
    recoverTimeoutMs,
  });

  /** Remove what a failed open created; says what happened, for the error message. */
  async function cleanup(handle: ChaosMeshHandle): Promise<string> {
    try {
      await closeWithRetry(injector, handle, cleanupPolicy);
      return `${ref(handle)} was deleted again`;
    } catch (err) {
      return `deleting ${ref(handle)} failed too (${err instanceof Error ? err.message : String(err)}); the orphan sweep will remove it`;
    }
  }

  const injector: Injector = {
    kind: KIND,

    async open(ctx: OpenContext): Promise<InjectorHandle> {
      const what = `${KIND} open`;
      const seconds = secondsUntil(ctx.deadline, what);
      const name = objectNameFor(ctx.runId);
      const handle = handleFor(name, ctx.runId, params.kind);
      const res = resourceOf(params.kind);
      const client = clientFor(params);
      const body = {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: params.kind,
        metadata: { name, namespace: params.namespace, ...ownershipMetadata(ctx.runId, ctx.experiment) },
        spec: { ...params.spec, duration: `${seconds}s` },
      };

      try {
        const created = await client.create(res, params.namespace, body, what, ctx.signal);
        if ('exists' in created) {
          const existing = await client.get(res, params.namespace, name, what, ctx.signal);
          if (!existing) {
            throw new InjectorError(`${what}: ${ref(handle)} existed a moment ago and is gone now; try again`, { retryable: true, code: 'injector_conflict' });
          }
          if (runIdOf(existing) !== ctx.runId) {
            throw new InjectorError(`${what}: ${ref(handle)} already exists and does not belong to run ${ctx.runId}`, {
              retryable: false,
              code: 'injector_conflict',
            });
          }
          // Ours: an earlier attempt of this open got through (its answer was lost). Carry on waiting.
        }
      } catch (err) {
        // A create that timed out may still have landed: remove it rather than leave it to its duration.
        if (err instanceof AbortedError || (err instanceof InjectorError && err.retryable && err.code !== 'injector_conflict')) {
          await cleanup(handle);
        }
        throw err;
      }

      const waitMs = Math.min(injectTimeoutMs, Math.max(0, ctx.deadline.getTime() - Date.now()));
      let last: KubeObject | undefined;
      let outcome;
      try {
        outcome = await pollUntil({
          read: (signal) => client.get(res, params.namespace, name, what, signal),
          judge: (obj) => {
            last = obj;
            if (obj === undefined) return { done: false, failed: 'the object was deleted before it was injected' };
            if (conditionTrue(obj, 'AllInjected')) return { done: true };
            return { done: false, detail: describeConditions(obj) };
          },
          timeoutMs: waitMs,
          intervalMs: pollIntervalMs,
          signal: ctx.signal,
        });
      } catch (err) {
        const cleaned = await cleanup(handle);
        if (err instanceof InjectorError) {
          throw new InjectorError(`${err.message}; ${cleaned}`, { retryable: false, code: err.code, cause: err });
        }
        throw err;
      }
      if (outcome.outcome !== 'done') {
        const why = outcome.outcome === 'failed' ? outcome.reason : `not injected within ${waitMs} ms (${describeConditions(last)})`;
        const cleaned = await cleanup(handle);
        throw new InjectorError(`${what}: ${ref(handle)}: ${why}; ${cleaned}`, { retryable: false, code: 'injector_not_injected' });
      }
      return handle;
    },

    // One attempt: closeWithRetry (./close.ts) owns the retry policy.
    async close(raw: InjectorHandle, signal?: AbortSignal): Promise<void> {
      const h = parseHandle(raw);
      const what = `${KIND} close`;
      const res = resourceOf(h.kind);
      const client = clientFor(h);
      if ((await client.delete(res, h.namespace, h.name, what, signal)) === 'gone') return;
      // Deletion goes through Chaos Mesh's finalizer, which recovers the fault first: wait for it.
      let last: KubeObject | undefined;
      const outcome = await pollUntil({
        read: (s) => client.get(res, h.namespace, h.name, what, s),
        judge: (obj) => {
          last = obj;
          return obj === undefined || conditionTrue(obj, 'AllRecovered') ? { done: true } : { done: false, detail: describeConditions(obj) };
        },
        timeoutMs: h.recoverTimeoutMs,
        intervalMs: pollIntervalMs,
        signal,
      });
      if (outcome.outcome !== 'done') {
        throw new InjectorError(`${what}: ${ref(h)} is still there ${h.recoverTimeoutMs} ms after its deletion (${describeConditions(last)})`, {
          retryable: true,
          code: 'injector_not_recovered',
        });
      }
    },

    async status(raw: InjectorHandle, signal?: AbortSignal): Promise<InjectorStatus> {
      const h = parseHandle(raw);
      let obj: KubeObject | undefined;
      try {
        obj = await clientFor(h).get(resourceOf(h.kind), h.namespace, h.name, `${KIND} status`, signal);
      } catch (err) {
        if (err instanceof AbortedError) throw err;
        return { state: 'unknown', detail: err instanceof Error ? err.message : String(err) };
      }
      if (obj === undefined) return { state: 'closed', detail: `${ref(h)} not found` };
      if (conditionTrue(obj, 'AllRecovered')) return { state: 'closed', detail: 'AllRecovered' };
      if (conditionTrue(obj, 'Paused')) return { state: 'unknown', detail: 'paused' };
      if (conditionTrue(obj, 'AllInjected')) return { state: 'active', detail: 'AllInjected' };
      return { state: 'unknown', detail: describeConditions(obj) };
    },

    /** The kind is served and we may list it in the namespace (which is what the Role grants). */
    async check(signal?: AbortSignal): Promise<void> {
      await clientFor(params).list(resourceOf(params.kind), params.namespace, undefined, `${KIND} check`, signal, 1);
    },

    async listOwned(signal?: AbortSignal): Promise<OwnedFault[]> {
      const client = clientFor(params);
      const owned: OwnedFault[] = [];
      for (const kind of CHAOS_KINDS) {
        let items: KubeObject[];
        try {
          items = await client.list(resourceOf(kind), params.namespace, OWNED_SELECTOR, `${KIND} list`, signal);
        } catch (err) {
          // A kind this Chaos Mesh version does not serve holds nothing of ours; nor does one our Role
          // does not cover (we could not have created it). For the configured kind, either is an error.
          const skippable = err instanceof InjectorError && (err.code === 'injector_not_found' || err.code === 'injector_auth');
          if (skippable && kind !== params.kind) continue;
          throw err;
        }
        for (const obj of items) {
          const runId = runIdOf(obj);
          const name = obj.metadata?.name;
          // Without a run id we cannot tell whose it is: leave it alone.
          if (runId === undefined || name === undefined) continue;
          const handle = handleFor(name, runId, kind);
          owned.push({ runId, ref: ref(handle), handle });
        }
      }
      return owned;
    },
  };
  return injector;
}

export const chaosMeshInjector: InjectorFactory<ChaosMeshParams> = {
  kind: KIND,
  paramsSchema: chaosMeshParamsSchema,
  create(params: ChaosMeshParams, deps: ChaosMeshDeps = {}): Injector {
    return createChaosMeshInjector(params, deps);
  },
};
