/**
 * Bounded retries with exponential backoff and full jitter.
 *
 * Full jitter (delay drawn uniformly from [0, cap)) rather than a fixed
 * exponential delay: when many runs try to close faults against the same
 * struggling backend at once, fixed delays make them retry in lockstep and
 * hit it again together; spreading them out is what lets it recover.
 * See "Exponential Backoff And Jitter", AWS Architecture Blog, 2015.
 *
 * Randomness and sleeping are injectable so tests can check the schedule
 * exactly without waiting for it.
 */
import { AbortedError } from './errors.ts';

export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface RetryOptions {
  /** Total number of calls, the first included (≥ 1). */
  attempts: number;
  /** Cap of the first delay; each later cap doubles. */
  baseMs: number;
  /** No cap grows beyond this. */
  maxMs: number;
  signal?: AbortSignal;
  /** Whether another attempt may help. Default: the error says `retryable: true` (AppError). */
  isRetryable?: (err: unknown) => boolean;
  /** Called before each wait, with the error and the 1-based number of the attempt that failed. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Uniform in [0, 1). Default Math.random. */
  random?: () => number;
  sleep?: SleepFn;
}

/** The knobs an adapter lets its caller tune (the rest it decides itself). */
export type RetryTuning = Partial<Pick<RetryOptions, 'baseMs' | 'maxMs' | 'onRetry' | 'random' | 'sleep'>>;

/** Default `isRetryable`: duck-typed so errors from any layer can opt in. */
export function isRetryableError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { retryable?: unknown }).retryable === true;
}

/**
 * The wait after failed attempt `attempt` (1-based): uniform in
 * [0, min(maxMs, baseMs × 2^(attempt − 1))).
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  // Clamp the exponent so 2^n stays finite for absurd attempt counts.
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 52));
  return Math.floor(random() * cap);
}

/**
 * Call `fn` until it resolves, it throws an error that is not retryable, the
 * signal aborts, or `attempts` calls have failed. The last error is rethrown
 * as is, so its class and `retryable` flag reach the caller unchanged; an
 * abort becomes AbortedError with the last error (if any) as its cause.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const { attempts, baseMs, maxMs, signal } = opts;
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError(`attempts must be an integer ≥ 1, got ${attempts}`);
  if (!(baseMs >= 0) || !(maxMs >= 0)) throw new RangeError('baseMs and maxMs must be ≥ 0');
  const isRetryable = opts.isRetryable ?? isRetryableError;
  const random = opts.random ?? Math.random;
  const doSleep = opts.sleep ?? sleep;

  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (signal?.aborted) throw new AbortedError('aborted before retrying', lastError);
    try {
      return await fn(attempt);
    } catch (err) {
      lastError = err;
      if (err instanceof AbortedError) throw err;
      // An abort during the call usually surfaces as some other error; the abort is what matters.
      if (signal?.aborted) throw new AbortedError('aborted', err);
      if (attempt === attempts || !isRetryable(err)) throw err;
      const delayMs = backoffDelay(attempt, baseMs, maxMs, random);
      opts.onRetry?.(err, attempt, delayMs);
      await doSleep(delayMs, signal);
    }
  }
  // Unreachable: the loop either returns or throws on its last attempt.
  throw lastError;
}

/** Resolve after `ms`; reject with AbortedError as soon as `signal` aborts (and clear the timer). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError('aborted while waiting', signal.reason));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError('aborted while waiting', signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
