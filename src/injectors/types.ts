/**
 * The injector port: opens and closes a fault window through a backend.
 *
 * Contract every adapter keeps:
 * - `open` passes the window's deadline to the backend wherever the backend can
 *   enforce it, so the fault ends even if steadystate dies.
 * - the handle is plain JSON: it is persisted and may be closed by another
 *   process after a crash, so it must hold everything `close` needs.
 * - `close` is idempotent: closing an already closed or vanished fault succeeds.
 */
import type { z } from 'zod';
import type { JsonObject } from '../lib/json.ts';
import type { SecurityPolicy } from '../security/policy.ts';

export interface OpenContext {
  runId: string;
  experiment: string;
  /** The hard end of the window. */
  deadline: Date;
  signal?: AbortSignal;
}

/** Plain-JSON record of an open fault. `injector` names the adapter kind. */
export type InjectorHandle = JsonObject & { injector: string };

export interface InjectorStatus {
  /** `active`: the fault is in effect; `closed`: it is gone; `unknown`: the backend could not tell. */
  state: 'active' | 'closed' | 'unknown';
  detail?: string;
}

export interface Injector {
  readonly kind: string;
  open(ctx: OpenContext): Promise<InjectorHandle>;
  close(handle: InjectorHandle, signal?: AbortSignal): Promise<void>;
  status(handle: InjectorHandle, signal?: AbortSignal): Promise<InjectorStatus>;
  /**
   * Fault ladders (ADR 022): change the open fault to `params` (a step's full,
   * validated params) without closing it; the handle and the deadline stay.
   * Present only on adapters whose factory has `ladder`.
   */
  update?(handle: InjectorHandle, params: unknown, signal?: AbortSignal): Promise<void>;
  /** Cheap health check for preflight: the backend answers and we may use it. */
  check(signal?: AbortSignal): Promise<void>;
  /**
   * Optional, for the orphan sweep (./sweep.ts): every fault of ours the
   * backend still holds, found by our label, tag or name prefix. Adapters whose
   * backend cannot be searched that way leave it out.
   */
  listOwned?(signal?: AbortSignal): Promise<OwnedFault[]>;
}

/** A fault the backend holds that carries our mark, read back for the orphan sweep. */
export interface OwnedFault {
  /** The run that opened it, as recorded on the backend object. */
  runId: string;
  /** What it is, for reports and logs: e.g. `networkchaos chaos/steadystate-run-1`. */
  ref: string;
  /** A handle `close` accepts, so the sweep removes it exactly as the run would have. */
  handle: InjectorHandle;
}

export interface InjectorFactory<P = unknown> {
  readonly kind: string;
  /** Schema of `spec.fault.params` for this kind. */
  readonly paramsSchema: z.ZodType<P>;
  create(params: P, deps: InjectorDeps): Injector;
  /**
   * What a run with these params locks (at most one active run per target),
   * e.g. the proxy's admin URL. Default: the kind and the exact params.
   */
  targetOf?(params: P): string;
  /** The share of traffic (0..1) the fault affects, where the params say; for the service's cap. */
  trafficShare?(params: P): number | undefined;
  /**
   * The handle of a window opened for `runId` whose `open` answer was lost
   * (a crash between the call and recording its handle), when the adapter can
   * derive it; lets the reconciler close such a window instead of waiting for
   * the backend's deadline. `opening` is what the run recorded before the
   * call (its experiment and the deadline the open was given), for adapters
   * whose handle depends on them.
   */
  handleFor?(params: P, runId: string, opening?: { experiment: string; deadline?: string }): InjectorHandle | undefined;
  /**
   * Present when the adapter can change an open fault in place
   * (`Injector.update`), which `fault.steps` needs. `stepProblem` says why a
   * later step cannot follow the first in the same window (another target,
   * another toxic type), or undefined.
   */
  ladder?: { stepProblem?(first: P, step: P): string | undefined };
}

export interface InjectorDeps {
  /** Default per-request timeout in ms. */
  timeoutMs?: number;
  /** The operator's policy: outbound hosts, secret references, programs. Default: DEFAULT_POLICY. */
  policy?: SecurityPolicy;
}
