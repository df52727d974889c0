/**
 * What the proxy's primary and its workers say to each other over cluster
 * IPC. Plain JSON. The primary owns the fault windows; workers hold a copy
 * and never decide anything about a window on their own except to drop it
 * (deadline passed, lease lapsed, primary gone).
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { WindowWire } from './fault-windows.ts';
import type { ResolvedProxyOptions } from './proxy-options.ts';

/** Environment variable carrying a worker's configuration (JSON of WorkerConfig). */
export const WORKER_CONFIG_ENV = 'STEADYSTATE_PROXY_WORKER';

/** How long a worker trusts its copy of the window without hearing from the primary. */
export const LEASE_MS = 5_000;
/** How often the primary renews the lease: several renewals fit in one lease. */
export const LEASE_RENEW_MS = 1_000;

export type WorkerConfig = Pick<ResolvedProxyOptions, 'listen' | 'upstream' | 'controlPercent' | 'experimentPercent' | 'stickyHeader' | 'routes'>;

export type PrimaryMessage =
  /** The window in effect (null: none), numbered; the worker answers `applied` with the same seq. */
  | { t: 'window'; seq: number; window: WindowWire | null; leaseMs: number }
  /** Lease renewal: the window stays trusted for another leaseMs. */
  | { t: 'lease'; leaseMs: number }
  | { t: 'metrics'; id: number }
  /** Stop accepting, finish in-flight requests, exit. */
  | { t: 'shutdown' };

export type WorkerMessage =
  /** Sent once the worker listens for messages: the primary answers with the current window. */
  | { t: 'hello' }
  | { t: 'listening'; port: number }
  | { t: 'applied'; seq: number }
  | { t: 'metrics'; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}

export function isPrimaryMessage(m: unknown): m is PrimaryMessage {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
