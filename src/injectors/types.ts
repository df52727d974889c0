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
  /** Cheap health check for preflight: the backend answers and we may use it. */
  check(signal?: AbortSignal): Promise<void>;
}

export interface InjectorFactory<P = unknown> {
  readonly kind: string;
  /** Schema of `spec.fault.params` for this kind. */
  readonly paramsSchema: z.ZodType<P>;
  create(params: P, deps: InjectorDeps): Injector;
}

export interface InjectorDeps {
  /** Default per-request timeout in ms. */
  timeoutMs?: number;
}
