/**
 * LitmusChaos injector: one ChaosEngine (`litmuschaos.io/v1alpha1`) per fault
 * window.
 *
 * - `open` creates the engine with `engineState: active`, our labels and the
 *   run id annotation, and sets `TOTAL_CHAOS_DURATION` (seconds) on every
 *   experiment from the window's deadline: Litmus has no engine-level
 *   duration, so this is the backend-side deadline. The name is derived from
 *   the run id, so a retried open adopts what its first attempt created.
 * - The window only counts as open when the operator reports
 *   `engineStatus: initialized` with an experiment `Running`. An engine that
 *   completes or stops first, or does not get there within `injectTimeout`,
 *   fails the open; the engine is stopped and deleted again.
 * - `close` merge-patches `spec.engineState: stop` (the documented abort),
 *   waits for `engineStatus: stopped` (or `completed`, or the engine gone),
 *   then deletes the engine so nothing of ours is left (its ChaosResult stays
 *   for inspection). A 404 anywhere means already gone: success.
 */
import { z } from 'zod';
import { AbortedError, InjectorError } from '../lib/errors.ts';
import { durationMs } from '../spec/fields.ts';
import { closeWithRetry, type CloseRetryPolicy } from './close.ts';
import {
  connectionOf,
  kubeClientPool,
  type CustomResource,
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

const KIND = 'litmus';
const RESOURCE: CustomResource = { group: 'litmuschaos.io', version: 'v1alpha1', plural: 'chaosengines' };
const DURATION_ENV = 'TOTAL_CHAOS_DURATION';

const DEFAULT_INJECT_TIMEOUT_MS = 120_000;
const DEFAULT_RECOVER_TIMEOUT_MS = 120_000;
const DEFAULT_POLL_MS = 2_000;
const DEFAULT_CLEANUP_POLICY: Partial<CloseRetryPolicy> = { attempts: 3, baseMs: 200, maxMs: 1_000 };

const positiveDuration = durationMs.refine((ms) => ms > 0, 'must be greater than 0');

const envVarSchema = z.object({ name: z.string().min(1), value: z.string().optional() }).loose();

const experimentSchema = z
  .object({
    name: z.string().min(1),
    spec: z
      .object({
        components: z.object({ env: z.array(envVarSchema).optional() }).loose().optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

const engineSpecSchema = z
  .object({
    experiments: z.array(experimentSchema).min(1, 'needs at least one experiment'),
  })
  .catchall(z.json())
  .superRefine((spec, ctx) => {
    if ('engineState' in spec) ctx.addIssue({ code: 'custom', path: ['engineState'], message: 'is set by steadystate (active on open, stop on close); remove it here' });
    spec.experiments.forEach((exp, i) => {
      const env = exp.spec?.components?.env ?? [];
      const at = env.findIndex((e) => e.name === DURATION_ENV);
      if (at >= 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['experiments', i, 'spec', 'components', 'env', at],
          message: `${DURATION_ENV} is set from fault.duration (the window deadline); remove it here`,
        });
      }
    });
  });

export const litmusParamsSchema = z.strictObject({
  ...kubeConnectionShape,
  namespace: z.string().regex(DNS_LABEL_RE, 'must be a Kubernetes namespace name'),
  /** The ChaosEngine spec as Litmus documents it (appinfo, chaosServiceAccount, experiments, …). */
  spec: engineSpecSchema,
  /** How long open waits for a running experiment. Default 120 s (runner and experiment pods must start). */
  injectTimeout: positiveDuration.optional(),
  /** How long one close waits for `engineStatus: stopped`. Default 120 s. */
  recoverTimeout: positiveDuration.optional(),
});

export type LitmusParams = z.output<typeof litmusParamsSchema>;

const handleSchema = z.object({
  injector: z.literal(KIND),
  kubeconfig: z.string().optional(),
  context: z.string().optional(),
  namespace: z.string().min(1),
  name: z.string().min(1),
  runId: z.string(),
  recoverTimeoutMs: z.number().positive(),
});
type LitmusHandle = z.output<typeof handleSchema>;

export interface LitmusDeps extends InjectorDeps, KubeDeps {
  /** Between status reads while waiting. Default 2 s. */
  pollIntervalMs?: number;
  /** Retry policy of the cleanup after a failed open. */
  cleanupPolicy?: Partial<CloseRetryPolicy>;
}

interface EngineStatus {
  engineStatus?: string;
  experiments: { name?: string; status?: string }[];
}

function engineStatusOf(obj: KubeObject | undefined): EngineStatus {
  const status = (obj?.status ?? {}) as { engineStatus?: unknown; experiments?: unknown };
  const experiments = Array.isArray(status.experiments)
    ? status.experiments.map((e: unknown) => {
        const x = (e ?? {}) as { name?: unknown; status?: unknown };
        return { ...(typeof x.name === 'string' ? { name: x.name } : {}), ...(typeof x.status === 'string' ? { status: x.status } : {}) };
      })
    : [];
  return { ...(typeof status.engineStatus === 'string' ? { engineStatus: status.engineStatus } : {}), experiments };
}

function describeEngine(s: EngineStatus): string {
  const exps = s.experiments.map((e) => `${e.name ?? '?'}: ${e.status ?? '?'}`).join(', ');
  return `engineStatus ${s.engineStatus ?? '(none yet)'}${exps ? `; experiments ${exps}` : ''}`;
}

const isRunning = (s: EngineStatus): boolean => s.engineStatus === 'initialized' && s.experiments.some((e) => /^running$/i.test(e.status ?? ''));
const isOver = (s: EngineStatus): boolean => s.engineStatus === 'stopped' || s.engineStatus === 'completed';

function parseHandle(handle: InjectorHandle): LitmusHandle {
  const parsed = handleSchema.safeParse(handle);
  if (!parsed.success) {
    throw new InjectorError(`not a litmus handle: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, {
      retryable: false,
      code: 'invalid_handle',
    });
  }
  return parsed.data;
}

const ref = (h: { namespace: string; name: string }): string => `chaosengine ${h.namespace}/${h.name}`;

/** Each experiment gets TOTAL_CHAOS_DURATION, so the fault ends by the deadline on Litmus's side too. */
function withDuration(spec: LitmusParams['spec'], seconds: number): Record<string, unknown> {
  return {
    ...spec,
    experiments: spec.experiments.map((exp) => ({
      ...exp,
      spec: {
        ...exp.spec,
        components: {
          ...exp.spec?.components,
          env: [...(exp.spec?.components?.env ?? []), { name: DURATION_ENV, value: String(seconds) }],
        },
      },
    })),
  };
}

export function createLitmusInjector(params: LitmusParams, deps: LitmusDeps = {}): Injector {
  const pollIntervalMs = deps.pollIntervalMs ?? DEFAULT_POLL_MS;
  const injectTimeoutMs = params.injectTimeout ?? DEFAULT_INJECT_TIMEOUT_MS;
  const recoverTimeoutMs = params.recoverTimeout ?? DEFAULT_RECOVER_TIMEOUT_MS;
  const cleanupPolicy = { ...DEFAULT_CLEANUP_POLICY, ...deps.cleanupPolicy };
  const clientFor = kubeClientPool(deps);

  const handleFor = (name: string, runId: string): LitmusHandle => ({
    injector: KIND,
    ...connectionOf(params),
    namespace: params.namespace,
    name,
    runId,
    recoverTimeoutMs,
  });

  async function cleanup(handle: LitmusHandle): Promise<string> {
    try {
      await closeWithRetry(injector, handle, cleanupPolicy);
      return `${ref(handle)} was stopped and deleted again`;
    } catch (err) {
      return `stopping ${ref(handle)} failed too (${err instanceof Error ? err.message : String(err)}); the orphan sweep will remove it`;
    }
  }

  const injector: Injector = {
    kind: KIND,

    async open(ctx: OpenContext): Promise<InjectorHandle> {
      const what = `${KIND} open`;
      const seconds = secondsUntil(ctx.deadline, what);
      const name = objectNameFor(ctx.runId);
      const handle = handleFor(name, ctx.runId);
      const client = clientFor(params);
      const body = {
        apiVersion: `${RESOURCE.group}/${RESOURCE.version}`,
        kind: 'ChaosEngine',
        metadata: { name, namespace: params.namespace, ...ownershipMetadata(ctx.runId, ctx.experiment) },
        spec: { ...withDuration(params.spec, seconds), engineState: 'active' },
      };

      try {
        const created = await client.create(RESOURCE, params.namespace, body, what, ctx.signal);
        if ('exists' in created) {
          const existing = await client.get(RESOURCE, params.namespace, name, what, ctx.signal);
          if (!existing) throw new InjectorError(`${what}: ${ref(handle)} existed a moment ago and is gone now; try again`, { retryable: true, code: 'injector_conflict' });
          if (runIdOf(existing) !== ctx.runId) {
            throw new InjectorError(`${what}: ${ref(handle)} already exists and does not belong to run ${ctx.runId}`, { retryable: false, code: 'injector_conflict' });
          }
        }
      } catch (err) {
        if (err instanceof AbortedError || (err instanceof InjectorError && err.retryable && err.code !== 'injector_conflict')) await cleanup(handle);
        throw err;
      }

      const waitMs = Math.min(injectTimeoutMs, Math.max(0, ctx.deadline.getTime() - Date.now()));
      let last: EngineStatus = { experiments: [] };
      let outcome;
      try {
        outcome = await pollUntil({
          read: (signal) => client.get(RESOURCE, params.namespace, name, what, signal),
          judge: (obj) => {
            if (obj === undefined) return { done: false, failed: 'the engine was deleted before its experiment ran' };
            last = engineStatusOf(obj);
            if (isRunning(last)) return { done: true };
            if (isOver(last)) return { done: false, failed: `the engine ended before its experiment ran (${describeEngine(last)})` };
            return { done: false, detail: describeEngine(last) };
          },
          timeoutMs: waitMs,
          intervalMs: pollIntervalMs,
          signal: ctx.signal,
        });
      } catch (err) {
        const cleaned = await cleanup(handle);
        if (err instanceof InjectorError) throw new InjectorError(`${err.message}; ${cleaned}`, { retryable: false, code: err.code, cause: err });
        throw err;
      }
      if (outcome.outcome !== 'done') {
        const why = outcome.outcome === 'failed' ? outcome.reason : `no experiment running within ${waitMs} ms (${describeEngine(last)})`;
        const cleaned = await cleanup(handle);
        throw new InjectorError(`${what}: ${ref(handle)}: ${why}; ${cleaned}`, { retryable: false, code: 'injector_not_injected' });
      }
      return handle;
    },

    // One attempt: closeWithRetry (./close.ts) owns the retry policy.
    async close(raw: InjectorHandle, signal?: AbortSignal): Promise<void> {
      const h = parseHandle(raw);
      const what = `${KIND} close`;
      const client = clientFor(h);
      const patched = await client.mergePatch(RESOURCE, h.namespace, h.name, { spec: { engineState: 'stop' } }, what, signal);
      if (patched === undefined) return;
      let last: EngineStatus = engineStatusOf(patched);
      const outcome = await pollUntil({
        read: (s) => client.get(RESOURCE, h.namespace, h.name, what, s),
        judge: (obj) => {
          if (obj === undefined) return { done: true };
          last = engineStatusOf(obj);
          return isOver(last) ? { done: true } : { done: false, detail: describeEngine(last) };
        },
        timeoutMs: h.recoverTimeoutMs,
        intervalMs: pollIntervalMs,
        signal,
      });
      if (outcome.outcome !== 'done') {
        throw new InjectorError(`${what}: ${ref(h)} not stopped ${h.recoverTimeoutMs} ms after engineState: stop (${describeEngine(last)})`, {
          retryable: true,
          code: 'injector_not_recovered',
        });
      }
      // Stopped: remove the engine too, so no object of ours outlives the window.
      await client.delete(RESOURCE, h.namespace, h.name, what, signal);
    },

    async status(raw: InjectorHandle, signal?: AbortSignal): Promise<InjectorStatus> {
      const h = parseHandle(raw);
      let obj: KubeObject | undefined;
      try {
        obj = await clientFor(h).get(RESOURCE, h.namespace, h.name, `${KIND} status`, signal);
      } catch (err) {
        if (err instanceof AbortedError) throw err;
        return { state: 'unknown', detail: err instanceof Error ? err.message : String(err) };
      }
      if (obj === undefined) return { state: 'closed', detail: `${ref(h)} not found` };
      const s = engineStatusOf(obj);
      if (isOver(s)) return { state: 'closed', detail: describeEngine(s) };
      if (isRunning(s)) return { state: 'active', detail: describeEngine(s) };
      return { state: 'unknown', detail: describeEngine(s) };
    },

    async check(signal?: AbortSignal): Promise<void> {
      await clientFor(params).list(RESOURCE, params.namespace, undefined, `${KIND} check`, signal, 1);
    },

    async listOwned(signal?: AbortSignal): Promise<OwnedFault[]> {
      const items = await clientFor(params).list(RESOURCE, params.namespace, OWNED_SELECTOR, `${KIND} list`, signal);
      const owned: OwnedFault[] = [];
      for (const obj of items) {
        const runId = runIdOf(obj);
        const name = obj.metadata?.name;
        if (runId === undefined || name === undefined) continue;
        const handle = handleFor(name, runId);
        owned.push({ runId, ref: ref(handle), handle });
      }
      return owned;
    },
  };
  return injector;
}

export const litmusInjector: InjectorFactory<LitmusParams> = {
  kind: KIND,
  paramsSchema: litmusParamsSchema,
  create(params: LitmusParams, deps: LitmusDeps = {}): Injector {
    return createLitmusInjector(params, deps);
  },
};
