/**
 * An Injector decorator: the same port, with every call counted, timed and
 * traced (`steadystate.injector.<operation>` spans carrying the run id and
 * experiment). Each attempt of a retried close is one call, so retries show.
 * The handle never goes on a span: it may name internal hosts.
 */
import type { Injector, InjectorHandle, InjectorStatus, OpenContext, OwnedFault } from '../injectors/types.ts';
import type { Instrumentation } from './instrumented-source.ts';
import { errorReason } from './metrics.ts';
import { ATTR, inSpan } from './tracing.ts';

export class InstrumentedInjector implements Injector {
  /** Present exactly when the wrapped adapter has it: the orphan sweep checks for it. */
  readonly listOwned?: (signal?: AbortSignal) => Promise<OwnedFault[]>;
  /** Present exactly when the wrapped adapter has it: a fault ladder needs it (ADR 022). */
  readonly update?: (handle: InjectorHandle, params: unknown, signal?: AbortSignal) => Promise<void>;

  constructor(
    private readonly inner: Injector,
    private readonly inst: Instrumentation,
  ) {
    if (inner.listOwned) this.listOwned = (signal) => this.call('list_owned', () => inner.listOwned!(signal));
    if (inner.update) this.update = (handle, params, signal) => this.call('update', () => inner.update!(handle, params, signal));
  }

  get kind(): string {
    return this.inner.kind;
  }

  open(ctx: OpenContext): Promise<InjectorHandle> {
    return this.call('open', () => this.inner.open(ctx));
  }

  close(handle: InjectorHandle, signal?: AbortSignal): Promise<void> {
    return this.call('close', () => this.inner.close(handle, signal));
  }

  status(handle: InjectorHandle, signal?: AbortSignal): Promise<InjectorStatus> {
    return this.call('status', () => this.inner.status(handle, signal));
  }

  check(signal?: AbortSignal): Promise<void> {
    return this.call('check', () => this.inner.check(signal));
  }

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const { metrics, tracer, run } = this.inst;
    const labels = { injector: this.inner.kind, operation };
    metrics.injectorCalls.inc(labels);
    const stop = metrics.injectorDuration.startTimer(labels);
    const attributes = {
      [ATTR.runId]: run.runId,
      [ATTR.experiment]: run.experiment,
      [ATTR.injectorKind]: this.inner.kind,
      [ATTR.operation]: operation,
    };
    try {
      return await inSpan(tracer, `steadystate.injector.${operation}`, attributes, this.inst.parent?.(), fn, (err) => ({
        error: true,
        reason: errorReason(err),
      }));
    } catch (err) {
      metrics.injectorErrors.inc({ ...labels, reason: errorReason(err) });
      throw err;
    } finally {
      stop();
    }
  }
}
