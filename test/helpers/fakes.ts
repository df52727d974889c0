/**
 * Fakes of our ports (not mocks of our functions): a metric source whose data
 * is a function of (query, time), and an injector that records what it was
 * asked and can be told to fail. For engine tests that must control time and
 * failures exactly; the real adapters have their own integration tests.
 */
import type { Injector, InjectorHandle, InjectorStatus, OpenContext } from '../../src/injectors/types.ts';
import { NoDataError, InjectorError, SourceError } from '../../src/lib/errors.ts';
import type { MetricSource, QueryResult, TimeRange } from '../../src/metric-sources/types.ts';

export type ValueFn = (query: string, tMs: number) => number | undefined | 'error';

export class FakeSource implements MetricSource {
  readonly kind = 'fake';
  readonly queries: string[] = [];
  constructor(public valueFn: ValueFn) {}

  async check(): Promise<void> {}

  async queryRange(query: string, range: TimeRange, signal?: AbortSignal): Promise<QueryResult> {
    signal?.throwIfAborted();
    this.queries.push(query);
    const samples = [];
    const first = Math.ceil(range.start.getTime() / range.stepMs) * range.stepMs;
    for (let t = first; t <= range.end.getTime(); t += range.stepMs) {
      const v = this.valueFn(query, t);
      if (v === 'error') throw new SourceError('fake source failure', { retryable: true });
      if (v !== undefined) samples.push({ t, v });
    }
    if (samples.length === 0) throw new NoDataError(query, 'empty result');
    return { series: [{ labels: {}, samples, nonFinite: 0 }], warnings: [] };
  }
}

export class FakeInjector implements Injector {
  readonly kind = 'fake';
  opened: OpenContext[] = [];
  closeCalls = 0;
  closed = false;
  /** Number of close calls that fail before one succeeds (Infinity: never). */
  closeFailures = 0;
  openError: Error | undefined;
  onOpen: (() => void) | undefined;
  /** A fault ladder's steps applied in place, in order (their full params). */
  updates: unknown[] = [];
  /** Fails the update with this index (0 = the first update, i.e. step 2). */
  updateErrorAt: number | undefined;

  async check(): Promise<void> {}

  async open(ctx: OpenContext): Promise<InjectorHandle> {
    if (this.openError) throw this.openError;
    this.opened.push(ctx);
    this.onOpen?.();
    return { injector: 'fake', id: ctx.runId };
  }

  async update(_handle: InjectorHandle, params: unknown): Promise<void> {
    if (this.closed) throw new InjectorError('update of a closed fault', { retryable: false });
    if (this.updates.length === this.updateErrorAt) throw new InjectorError('update refused', { retryable: false });
    this.updates.push(params);
  }

  async close(_handle: InjectorHandle): Promise<void> {
    this.closeCalls += 1;
    if (this.closeCalls <= this.closeFailures) {
      throw new InjectorError(`close failed (call ${this.closeCalls})`, { retryable: true });
    }
    this.closed = true;
  }

  async status(): Promise<InjectorStatus> {
    return { state: this.closed ? 'closed' : this.opened.length > 0 ? 'active' : 'unknown' };
  }
}
