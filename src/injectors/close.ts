/**
 * The one place a fault window's close is retried. Adapters make a single
 * attempt and mark their errors retryable or fatal; this loop owns the policy
 * (bounded attempts, exponential backoff with full jitter), so the engine, the
 * crash reconciler and tests all close the same way and retries never
 * multiply across layers.
 */
import { retry, type RetryOptions } from '../lib/retry.ts';
import type { Injector, InjectorHandle } from './types.ts';

export type CloseRetryPolicy = Omit<RetryOptions, 'isRetryable'>;

export const DEFAULT_CLOSE_POLICY: CloseRetryPolicy = { attempts: 6, baseMs: 200, maxMs: 5_000 };

/**
 * Close `handle`, retrying retryable failures. The signal, if any, only bounds
 * the waiting between attempts; callers on a halt path pass none, because an
 * aborted run must still close its fault.
 */
export async function closeWithRetry(
  injector: Injector,
  handle: InjectorHandle,
  policy: Partial<CloseRetryPolicy> = {},
): Promise<void> {
  const p = { ...DEFAULT_CLOSE_POLICY, ...policy };
  await retry(() => injector.close(handle, p.signal), p);
}
