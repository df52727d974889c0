/**
 * Spans through `@opentelemetry/api` only. Until an SDK registers a tracer
 * provider (./otel-sdk.ts, switched on by OTEL_* variables) every tracer is
 * the API's no-op: spans are non-recording singletons and `context.with`
 * just calls the function, so tracing costs next to nothing when off.
 */
import { context, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';

export const TRACER_NAME = 'steadystate';

/** Attribute keys, one place, so dashboards and tests agree. */
export const ATTR = {
  runId: 'steadystate.run.id',
  experiment: 'steadystate.experiment',
  runState: 'steadystate.run.state',
  runVerdict: 'steadystate.run.verdict',
  phase: 'steadystate.run.phase',
  sourceKind: 'steadystate.source.kind',
  sourceQuery: 'steadystate.source.query',
  injectorKind: 'steadystate.injector.kind',
  operation: 'steadystate.operation',
  errorReason: 'steadystate.error.reason',
  haltGuardrail: 'steadystate.halt.guardrail',
  haltKind: 'steadystate.halt.kind',
  windowClosedBy: 'steadystate.window.closed_by',
} as const;

/** A ProxyTracer: it follows whatever provider is registered, before or after this call. */
export function getTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Run `fn` in a new span (child of `parent`, else of the active context) made
 * active for its duration. A thrown error is recorded on the span and
 * rethrown; `classify` may mark an expected failure (no data) as not an error.
 */
export async function inSpan<T>(
  tracer: Tracer,
  name: string,
  attributes: Attributes,
  parent: Context | undefined,
  fn: (span: Span) => Promise<T>,
  classify: (err: unknown) => { error: boolean; reason: string } = () => ({ error: true, reason: 'error' }),
): Promise<T> {
  const ctx = parent ?? context.active();
  const span = tracer.startSpan(name, { attributes }, ctx);
  try {
    return await context.with(trace.setSpan(ctx, span), () => fn(span));
  } catch (err) {
    const { error, reason } = classify(err);
    span.setAttribute(ATTR.errorReason, reason);
    if (error) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    }
    throw err;
  } finally {
    span.end();
  }
}
