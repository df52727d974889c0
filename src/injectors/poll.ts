/**
 * Bounded waiting while a backend acts, shared by the injectors (Kubernetes,
 * AWS FIS, Gremlin, Toxiproxy): a per-request timeout that does not outlive
 * its request, polling until done / failed / timed out, and the seconds left
 * to a window's deadline.
 */
import { AbortedError, InjectorError } from '../lib/errors.ts';
import { sleep } from '../lib/retry.ts';

/**
 * A per-request timeout joined with the caller's signal. Unlike
 * AbortSignal.timeout, its timer is cleared when the request is over: a
 * client that leaves a listener on the signal (the AWS SDK does) would
 * otherwise hold the process open until the timer fires.
 */
export function requestSignal(timeoutMs: number, signal?: AbortSignal): { signal: AbortSignal; timedOut: () => boolean; done: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('timeout')), timeoutMs);
  return {
    signal: signal ? AbortSignal.any([controller.signal, signal]) : controller.signal,
    timedOut: () => controller.signal.aborted,
    done: () => clearTimeout(timer),
  };
}

export type PollJudgement = { done: true } | { done: false; failed?: string; detail?: string };

export type PollOutcome<T> =
  | { outcome: 'done'; value: T }
  | { outcome: 'failed'; reason: string; value: T }
  | { outcome: 'timeout'; detail: string };

export interface PollOptions<T> {
  read: (signal?: AbortSignal) => Promise<T>;
  judge: (value: T) => PollJudgement;
  timeoutMs: number;
  intervalMs: number;
  signal?: AbortSignal | undefined;
}

/**
 * Read until `judge` says done or failed, or `timeoutMs` passes. Retryable
 * read errors (a 503, a dropped connection) are waited out like a "not yet";
 * fatal ones (auth, not found) and aborts end the wait at once by throwing.
 */
export async function pollUntil<T>(opts: PollOptions<T>): Promise<PollOutcome<T>> {
  const until = Date.now() + opts.timeoutMs;
  let detail: string | undefined;
  for (;;) {
    try {
      const value = await opts.read(opts.signal);
      const j = opts.judge(value);
      if (j.done) return { outcome: 'done', value };
      if (j.failed !== undefined) return { outcome: 'failed', reason: j.failed, value };
      detail = j.detail ?? 'not yet';
    } catch (err) {
      if (err instanceof AbortedError || !(err instanceof InjectorError) || !err.retryable) throw err;
      detail = `last read failed: ${err.message}`;
    }
    if (Date.now() >= until) return { outcome: 'timeout', detail: detail ?? 'no answer yet' };
    await sleep(Math.min(opts.intervalMs, Math.max(0, until - Date.now())), opts.signal);
  }
}

/** Seconds left until the deadline, rounded up; throws (fatal) when none are left. */
export function secondsUntil(deadline: Date, what: string, now: number = Date.now()): number {
  const ms = deadline.getTime() - now;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new InjectorError(`${what}: the window's deadline (${Number.isFinite(deadline.getTime()) ? deadline.toISOString() : 'invalid'}) has already passed`, {
      retryable: false,
      code: 'injector_deadline',
    });
  }
  return Math.max(1, Math.ceil(ms / 1000));
}
