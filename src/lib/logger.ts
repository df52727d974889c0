/**
 * Structured JSON logs (pino) on stderr, so stdout stays free for `--json`.
 * Every line passes through the one redaction (src/lib/redact.ts) as a second
 * line of defence; the first is not logging secrets.
 *
 * Correlation: the run engine logs through a child carrying `runId` and
 * `experiment`; when a span is active (OpenTelemetry on, see
 * src/observability/otel-sdk.ts) every line also gets `trace_id` and
 * `span_id`, the field names OpenTelemetry's log data model and most log
 * backends use to link a line to its trace.
 */
import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger } from 'pino';
import { redact, redactText } from './redact.ts';

/** One serialised JSON line in, the same line redacted out. */
export function redactLogLine(line: string): string {
  try {
    return `${JSON.stringify(redact(JSON.parse(line) as unknown))}\n`;
  } catch {
    return redactText(line);
  }
}

/**
 * The active span's ids, or nothing. With tracing off the API's context is
 * always the empty root, so this is one lookup that finds no span.
 */
export function traceFields(): { trace_id?: string; span_id?: string; trace_flags?: string } {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId, trace_flags: `0${sc.traceFlags.toString(16)}`.slice(-2) };
}

export function createLogger(opts: { level?: string; name?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'steadystate',
      level: opts.level ?? process.env.STEADYSTATE_LOG_LEVEL ?? 'info',
      mixin: traceFields,
      hooks: {
        // Every line, whole and at any depth, through the one redaction (src/lib/redact.ts),
        // after pino's and fastify's serializers have run. pino's own `redact` paths are
        // fixed and shallow: a header map a few levels down slipped past them.
        streamWrite: redactLogLine,
      },
    },
    opts.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}
