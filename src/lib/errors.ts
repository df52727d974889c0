/**
 * One error class per kind. Every error the product raises on purpose is an
 * AppError: it carries a stable `code`, the HTTP status an API would answer
 * with, and whether retrying the same call may succeed.
 */
export class AppError extends Error {
  readonly code: string;
  readonly httpStatus: number;
  readonly retryable: boolean;

  constructor(
    message: string,
    opts: { code: string; httpStatus?: number; retryable?: boolean; cause?: unknown },
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = opts.code;
    this.httpStatus = opts.httpStatus ?? 500;
    this.retryable = opts.retryable ?? false;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.code, message: this.message, retryable: this.retryable };
  }
}

/** One problem in user input, located by a dotted field path (and a line when known). */
export interface InputIssue {
  path: string;
  message: string;
  line?: number;
}

/** Bad user input: a spec, a flag, a request body. Never retryable. */
export class ValidationError extends AppError {
  readonly issues: InputIssue[];
  constructor(issues: InputIssue[], message?: string) {
    super(message ?? issues.map((i) => `${i.path}: ${i.message}`).join('; '), {
      code: 'invalid_input',
      httpStatus: 400,
    });
    this.issues = issues;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), errors: this.issues };
  }
}

/** Configuration read at start is wrong. */
export class ConfigError extends AppError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'invalid_config', httpStatus: 500, cause });
  }
}

/** A metric source failed (network, HTTP error, error envelope, timeout). */
export class SourceError extends AppError {
  constructor(
    message: string,
    opts: { code?: string; retryable: boolean; httpStatus?: number; cause?: unknown },
  ) {
    super(message, { code: opts.code ?? 'source_error', httpStatus: opts.httpStatus ?? 502, retryable: opts.retryable, cause: opts.cause });
  }
}

/**
 * A query answered, but with nothing to judge: an empty result, or only
 * NaN/±Inf points. This must lead to `inconclusive` or a fail-safe halt,
 * never to `passed`, and never be read as zero.
 */
export class NoDataError extends AppError {
  readonly query: string;
  constructor(query: string, reason: string) {
    super(`no data for query ${JSON.stringify(query)}: ${reason}`, { code: 'no_data', httpStatus: 422 });
    this.query = query;
  }
}

/** An injector backend failed to open, close or report a fault. */
export class InjectorError extends AppError {
  constructor(message: string, opts: { retryable: boolean; code?: string; cause?: unknown }) {
    super(message, { code: opts.code ?? 'injector_error', httpStatus: 502, retryable: opts.retryable, cause: opts.cause });
  }
}

/** The operation was cancelled (Ctrl-C, abort, shutdown). */
export class AbortedError extends AppError {
  constructor(message = 'aborted', cause?: unknown) {
    super(message, { code: 'aborted', httpStatus: 409, cause });
  }
}

/**
 * The run's lease is held by another replica now: stop driving it without
 * closing its window or recording its end, both of which are the new owner's
 * (it may be continuing the run, ADR 015).
 */
export class LeaseLostError extends AbortedError {}

/** Short description of any thrown value, for events and logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
