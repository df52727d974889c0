/**
 * Orphan sweep: faults of ours that a backend still holds although no active
 * run owns them — left by a steadystate that died mid-window, a close that ran
 * out of retries, an open whose cleanup failed. The service calls
 * `sweepOrphans` on start and every few minutes.
 *
 * Each adapter that can list its own objects (`listOwned`: by label, tag or
 * name prefix) is asked for them; anything whose run id is not active is
 * closed through closeWithRetry, exactly as the run would have closed it, and
 * reported. Adapters without `listOwned` are reported as not sweepable (their
 * faults carry a backend-side expiry instead).
 *
 * The set of active runs is read after listing, right before removing: a run
 * that opened its fault while the listing ran is then already known. The
 * caller must mark a run active before it calls `open` (the engine records
 * `window.opening` first), or a sweep could take a fault being opened for an
 * orphan.
 */
import { AbortedError, describeError } from '../lib/errors.ts';
import { closeWithRetry, type CloseRetryPolicy } from './close.ts';
import { toxiproxyServer } from './toxiproxy.ts';
import type { Injector, InjectorDeps, OwnedFault } from './types.ts';

/** The slice of a logger the sweep uses (pino's Logger fits). */
export interface SweepLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export type ActiveRunIds = Iterable<string> | (() => Iterable<string> | Promise<Iterable<string>>);

export interface SweepOptions {
  adapters: readonly Injector[];
  /** Run ids that may still own faults, or a function returning them (read once per sweep, after listing). */
  activeRunIds: ActiveRunIds;
  logger?: SweepLogger;
  /** Retry policy for each removal. Default: closeWithRetry's. */
  closePolicy?: Partial<CloseRetryPolicy>;
  signal?: AbortSignal;
}

export interface SweptFault {
  kind: string;
  runId: string;
  ref: string;
}

export interface SweepReport {
  /** Orphans removed in this sweep. */
  removed: SweptFault[];
  /** Ours, and owned by an active run: left alone. */
  kept: SweptFault[];
  /** Orphans whose removal failed; the next sweep tries again. */
  failed: (SweptFault & { error: string })[];
  /** Adapters whose listing failed. */
  listFailed: { kind: string; error: string }[];
  /** Kinds of the adapters that cannot list their faults. */
  notSweepable: string[];
}

async function activeSet(active: ActiveRunIds): Promise<ReadonlySet<string>> {
  const ids = typeof active === 'function' ? await active() : active;
  return new Set(ids);
}

export async function sweepOrphans(opts: SweepOptions): Promise<SweepReport> {
  const report: SweepReport = { removed: [], kept: [], failed: [], listFailed: [], notSweepable: [] };
  const found: { adapter: Injector; fault: OwnedFault }[] = [];
  const seen = new Set<string>();

  for (const adapter of opts.adapters) {
    if (!adapter.listOwned) {
      if (!report.notSweepable.includes(adapter.kind)) report.notSweepable.push(adapter.kind);
      continue;
    }
    let owned: OwnedFault[];
    try {
      owned = await adapter.listOwned(opts.signal);
    } catch (err) {
      if (err instanceof AbortedError) throw err;
      report.listFailed.push({ kind: adapter.kind, error: describeError(err) });
      opts.logger?.warn({ kind: adapter.kind, err: describeError(err) }, 'orphan sweep: listing failed');
      continue;
    }
    for (const fault of owned) {
      // Two adapters on the same backend (e.g. two experiments in one namespace) list the same objects.
      const key = `${adapter.kind}|${JSON.stringify(fault.handle)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      found.push({ adapter, fault });
    }
  }

  const active = await activeSet(opts.activeRunIds);
  for (const { adapter, fault } of found) {
    const item: SweptFault = { kind: adapter.kind, runId: fault.runId, ref: fault.ref };
    if (active.has(fault.runId)) {
      report.kept.push(item);
      continue;
    }
    try {
      await closeWithRetry(adapter, fault.handle, { ...opts.closePolicy, ...(opts.signal ? { signal: opts.signal } : {}) });
      report.removed.push(item);
      opts.logger?.info({ ...item }, 'orphan sweep: removed a fault no active run owns');
    } catch (err) {
      if (err instanceof AbortedError) throw err;
      report.failed.push({ ...item, error: describeError(err) });
      opts.logger?.warn({ ...item, err: describeError(err) }, 'orphan sweep: could not remove an orphaned fault');
    }
  }
  return report;
}

export interface ReapToxicsOptions extends Omit<SweepOptions, 'adapters'> {
  /** Toxiproxy's admin API, e.g. http://127.0.0.1:8474. */
  url: string;
  deps?: InjectorDeps;
}

/**
 * The Toxiproxy reaper: Toxiproxy has no expiry, so any toxic named with our
 * prefix whose run is not active is removed (on every proxy of the server).
 */
export function reapToxics(opts: ReapToxicsOptions): Promise<SweepReport> {
  const { url, deps, ...rest } = opts;
  return sweepOrphans({ ...rest, adapters: [toxiproxyServer(url, deps)] });
}
