/**
 * A MetricSource decorator: the same port, with every call counted, timed and
 * traced (`steadystate.source.<operation>` spans carrying the run id and
 * experiment). The wrapped adapter is untouched and knows nothing of it.
 */
import type { Context, Tracer } from '@opentelemetry/api';
import type { MetricSource, QueryResult, TimeRange } from '../metric-sources/types.ts';
import { errorReason, type ServiceMetrics } from './metrics.ts';
import type { RunLabels } from './telemetry.ts';
import { ATTR, inSpan } from './tracing.ts';

export interface Instrumentation {
  metrics: ServiceMetrics;
  tracer: Tracer;
  run: RunLabels;
  /** The span new spans hang under (the run's current phase), when there is one. */
  parent?: () => Context | undefined;
}

/** No data is an answer, not a failure of the source: counted, but not an error on the span. */
const classify = (err: unknown) => {
  const reason = errorReason(err);
  return { error: reason !== 'no_data', reason };
};

export class InstrumentedSource implements MetricSource {
  /** Present exactly when the wrapped source has it; passed through unmeasured (it releases local resources). */
  readonly close?: () => Promise<void>;

  constructor(
    private readonly inner: MetricSource,
    private readonly inst: Instrumentation,
  ) {
    if (inner.close) this.close = () => inner.close!();
  }

  get kind(): string {
    return this.inner.kind;
  }

  get evaluatesEveryStep(): boolean | undefined {
    return this.inner.evaluatesEveryStep;
  }

  queryRange(query: string, range: TimeRange, signal?: AbortSignal): Promise<QueryResult> {
    return this.call('query_range', { [ATTR.sourceQuery]: query }, () => this.inner.queryRange(query, range, signal));
  }

  check(signal?: AbortSignal): Promise<void> {
    return this.call('check', {}, () => this.inner.check(signal));
  }

  private async call<T>(operation: string, extra: Record<string, string>, fn: () => Promise<T>): Promise<T> {
    const { metrics, tracer, run } = this.inst;
    const labels = { source: this.inner.kind, operation };
    metrics.sourceRequests.inc(labels);
    const stop = metrics.sourceDuration.startTimer(labels);
    const attributes = {
      [ATTR.runId]: run.runId,
      [ATTR.experiment]: run.experiment,
      [ATTR.sourceKind]: this.inner.kind,
      [ATTR.operation]: operation,
      ...extra,
    };
    try {
      return await inSpan(tracer, `steadystate.source.${operation}`, attributes, this.inst.parent?.(), fn, classify);
    } catch (err) {
      metrics.sourceErrors.inc({ ...labels, reason: errorReason(err) });
      throw err;
    } finally {
      stop();
    }
  }
}
