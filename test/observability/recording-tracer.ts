/**
 * A minimal OpenTelemetry tracer provider and context manager, registered
 * through `@opentelemetry/api` only, for tests that must see spans without the
 * SDK installed: spans are recorded in memory with their parent, and the
 * context follows async calls through AsyncLocalStorage as the SDK's does.
 */
import { randomBytes } from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  context,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type AttributeValue,
  type Context,
  type ContextManager,
  type Exception,
  type Link,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type TimeInput,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';

export class AsyncLocalContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const fn = target as (...args: unknown[]) => unknown;
    return ((...args: unknown[]) => this.with(ctx, () => fn(...args))) as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.storage.disable();
    return this;
  }
}

export class RecordedSpan implements Span {
  readonly attributes: Attributes = {};
  readonly events: { name: string; attributes?: Attributes }[] = [];
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  ended = false;
  private readonly ctx: SpanContext;

  constructor(
    public name: string,
    readonly parentSpanId: string | undefined,
    traceId: string,
  ) {
    this.ctx = { traceId, spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.SAMPLED };
  }
  spanContext(): SpanContext {
    return this.ctx;
  }
  setAttribute(key: string, value: AttributeValue): this {
    this.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }
  addEvent(name: string, attributes?: Attributes | TimeInput): this {
    this.events.push(typeof attributes === 'object' && !(attributes instanceof Date) && !Array.isArray(attributes) ? { name, attributes } : { name });
    return this;
  }
  addLink(_link: Link): this {
    return this;
  }
  addLinks(_links: Link[]): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }
  updateName(name: string): this {
    this.name = name;
    return this;
  }
  end(): void {
    this.ended = true;
  }
  isRecording(): boolean {
    return !this.ended;
  }
  recordException(exception: Exception): void {
    this.events.push({ name: 'exception', attributes: { message: typeof exception === 'string' ? exception : (exception.message ?? '') } });
  }
}

export class RecordingTracer implements Tracer, TracerProvider {
  readonly spans: RecordedSpan[] = [];

  getTracer(): Tracer {
    return this;
  }

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    const parent = options.root ? undefined : trace.getSpanContext(ctx);
    const span = new RecordedSpan(name, parent?.spanId, parent?.traceId ?? randomBytes(16).toString('hex'));
    if (options.attributes) span.setAttributes(options.attributes);
    this.spans.push(span);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: unknown[]): ReturnType<F> {
    const fn = rest.pop() as F;
    const [options, ctx] = rest as [SpanOptions | undefined, Context | undefined];
    const parent = ctx ?? context.active();
    const span = this.startSpan(name, options, parent);
    return context.with(trace.setSpan(parent, span), () => fn(span)) as ReturnType<F>;
  }

  named(name: string): RecordedSpan[] {
    return this.spans.filter((s) => s.name === name);
  }
}

/** Register both globally; returns the tracer and a function that unregisters them. */
export function installRecordingTracer(): { tracer: RecordingTracer; uninstall: () => void } {
  const tracer = new RecordingTracer();
  const manager = new AsyncLocalContextManager();
  if (!context.setGlobalContextManager(manager)) throw new Error('a context manager is already registered');
  if (!trace.setGlobalTracerProvider(tracer)) throw new Error('a tracer provider is already registered');
  return {
    tracer,
    uninstall: () => {
      trace.disable();
      context.disable();
    },
  };
}
