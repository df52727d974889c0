/**
 * A bounded load generator for tests and the demo: requests at a steady rate,
 * each from one of `users` simulated users (their id in the sticky header, so
 * the fault proxy's hash spreads them over the groups), counted by status.
 *
 * Bounded on every axis so a mistake cannot turn it into a flood: loopback
 * targets only, a rate cap, a time cap, a request cap and a cap on requests in
 * flight (beyond it a tick is dropped and counted, not queued); `untilStopped`
 * trades the time and request caps for its abort signal (the playground). Request
 * failures are counted, never thrown (only a throwing `onResult` is rethrown).
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface LoadPath {
  path: string;
  /** Default GET. */
  method?: string;
  /** Relative share of requests; > 0. */
  weight: number;
}

export interface LoadResult {
  path: string;
  method: string;
  user: string;
  /** HTTP status, or `error` when no response came (refused, reset, timeout). */
  status: number | 'error';
  ms: number;
}

export interface LoadOptions {
  /** Base URL on loopback, e.g. the proxy's listenUrl. */
  url: string;
  paths: LoadPath[];
  /** Requests started per second, at most MAX_RATE. */
  ratePerSecond: number;
  /** Stop after this long (capped at MAX_DURATION_MS). At least one of durationMs and signal. */
  durationMs?: number;
  /** Stop when aborted. In-flight requests still finish (each within timeoutMs). */
  signal?: AbortSignal;
  /**
   * Run until `signal` aborts, past MAX_DURATION_MS and MAX_REQUESTS (the playground's steady
   * load). Still bounded by the rate cap and maxInFlight; needs `signal`, excludes durationMs.
   */
  untilStopped?: boolean;
  /** Header carrying the user id, e.g. x-user-id. Without it no id is sent. */
  stickyHeader?: string;
  /**
   * Number of distinct user ids (`user-0` … `user-{users-1}`), picked uniformly per request.
   * The proxy hashes users into groups, so each group's share of users (and of traffic)
   * wanders from its nominal share by about √(p(1−p)/users): with 1 000 users at 50/50,
   * 513 vs 487, a 5 % gap that a raw-rate comparison (checkouts/s) reads as an effect.
   * Use ≥ 10 000 users when an A/A run must compare raw rates between groups.
   */
  users: number;
  /** Per-request timeout. Default 5 s. */
  timeoutMs?: number;
  /** Stop after this many requests. Default and cap: MAX_REQUESTS. */
  maxRequests?: number;
  /** Requests in flight at most; a tick beyond it is dropped. Default 256. */
  maxInFlight?: number;
  /** Called for every finished request (tests use it to split results by user). */
  onResult?: (r: LoadResult) => void;
}

export interface LoadSummary {
  /** Requests started. */
  sent: number;
  /** Responses by status code (as a string), plus `error` for requests that got none. */
  byStatus: Record<string, number>;
  errors: number;
  /** Ticks skipped because maxInFlight requests were still running. */
  dropped: number;
  elapsedMs: number;
}

export const MAX_RATE = 2_000;
export const MAX_DURATION_MS = 10 * 60_000;
export const MAX_REQUESTS = 200_000;

export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export async function runLoad(opts: LoadOptions): Promise<LoadSummary> {
  if (!isLoopbackUrl(opts.url)) throw new Error(`runLoad: ${opts.url} is not a loopback URL`);
  if (!(opts.ratePerSecond > 0 && opts.ratePerSecond <= MAX_RATE)) throw new Error(`runLoad: ratePerSecond must be in (0, ${MAX_RATE}]`);
  if (opts.durationMs === undefined && opts.signal === undefined) throw new Error('runLoad: give durationMs or signal');
  if (!(Number.isInteger(opts.users) && opts.users >= 1)) throw new Error('runLoad: users must be a positive integer');
  if (opts.paths.length === 0 || opts.paths.some((p) => !(p.weight > 0))) throw new Error('runLoad: paths need positive weights');

  if (opts.untilStopped && (opts.signal === undefined || opts.durationMs !== undefined || opts.maxRequests !== undefined)) {
    throw new Error('runLoad: untilStopped needs signal and excludes durationMs and maxRequests');
  }
  const durationMs = opts.untilStopped ? Number.POSITIVE_INFINITY : Math.min(opts.durationMs ?? MAX_DURATION_MS, MAX_DURATION_MS);
  const maxRequests = opts.untilStopped ? Number.POSITIVE_INFINITY : Math.min(opts.maxRequests ?? MAX_REQUESTS, MAX_REQUESTS);
  const maxInFlight = opts.maxInFlight ?? 256;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const base = opts.url.replace(/\/+$/, '');
  const intervalMs = 1000 / opts.ratePerSecond;
  const totalWeight = opts.paths.reduce((s, p) => s + p.weight, 0);

  const summary: LoadSummary = { sent: 0, byStatus: {}, errors: 0, dropped: 0, elapsedMs: 0 };
  const inFlight = new Set<Promise<void>>();
  let callbackError: { err: unknown } | undefined;
  const count = (key: string): void => {
    summary.byStatus[key] = (summary.byStatus[key] ?? 0) + 1;
  };

  const pickPath = (): LoadPath => {
    let r = Math.random() * totalWeight;
    for (const p of opts.paths) {
      r -= p.weight;
      if (r < 0) return p;
    }
    return opts.paths[opts.paths.length - 1] as LoadPath;
  };

  const one = async (target: LoadPath): Promise<void> => {
    const method = (target.method ?? 'GET').toUpperCase();
    const user = `user-${Math.floor(Math.random() * opts.users)}`;
    const headers: Record<string, string> = {};
    if (opts.stickyHeader) headers[opts.stickyHeader] = user;
    const started = performance.now();
    let status: number | 'error';
    try {
      const res = await fetch(`${base}${target.path}`, { method, headers, signal: AbortSignal.timeout(timeoutMs) });
      // Read the body: the time includes it, and the connection goes back to the pool.
      await res.arrayBuffer();
      status = res.status;
    } catch {
      status = 'error';
      summary.errors++;
    }
    count(String(status));
    try {
      opts.onResult?.({ path: target.path, method, user, status, ms: performance.now() - started });
    } catch (err) {
      // The caller's bug (e.g. a failed assertion), not a load error: kept and rethrown at the end.
      callbackError ??= { err };
    }
  };

  const start = performance.now();
  const end = start + durationMs;
  // Bounded by maxRequests, or (untilStopped) by the signal: every pass either waits for the next tick or breaks on abort.
  for (let i = 0; i < maxRequests; i++) {
    // Absolute schedule: tick i is due at start + i·interval, so timer lateness does not add up to a lower rate.
    const due = start + i * intervalMs;
    if (due >= end || opts.signal?.aborted) break;
    const wait = due - performance.now();
    if (wait > 0) {
      try {
        await sleep(wait, undefined, opts.signal ? { signal: opts.signal } : undefined);
      } catch {
        break; // aborted
      }
    }
    if (inFlight.size >= maxInFlight) {
      summary.dropped++;
      continue;
    }
    summary.sent++;
    const p = one(pickPath()).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  summary.elapsedMs = performance.now() - start;
  if (callbackError) throw callbackError.err;
  return summary;
}
