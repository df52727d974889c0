/**
 * Annotations: marks on the dashboards and event streams teams already watch
 * (Grafana, Datadog) when a fault window opens and closes and when a ladder
 * step begins. One small port, one file per provider. Posting is best effort:
 * bounded by a timeout, never on the halt path, a failure logged (redacted)
 * and recorded on the run's timeline, never failing the run.
 */
import { AppError } from '../lib/errors.ts';

export interface Annotation {
  /** What happened: `window.opened`, `window.closed`, `step.started`. */
  kind: string;
  runId: string;
  experiment: string;
  service?: string;
  environment?: string;
  /** ms */
  time: number;
  /** ms; a region (the window, a step) when given. */
  timeEnd?: number;
  title: string;
  text: string;
  /** `steadystate`, `experiment:<name>`, `run:<id>`, `service:…`, `env:…`, `event:<kind>`. */
  tags: string[];
  /** info, or warning when a guardrail halted the run. */
  severity: 'info' | 'warning';
}

export interface Annotator {
  readonly name: string;
  post(annotation: Annotation, signal: AbortSignal): Promise<void>;
}

export class AnnotationError extends AppError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { code: 'annotation_failed', httpStatus: 502, retryable: true, ...opts });
  }
}
