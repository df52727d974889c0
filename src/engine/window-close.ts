/**
 * Closing a run's fault window: the close goes out first, with the shared
 * retry policy (../injectors/close.ts); what happened is recorded after, so
 * recording never stands between a halt and the injector. A close that fails
 * for good is remembered: the run ends `halt_failed`, whatever else happened.
 */
import type { Logger } from 'pino';
import { closeWithRetry } from '../injectors/close.ts';
import type { Injector } from '../injectors/types.ts';
import { describeError } from '../lib/errors.ts';
import type { JsonObject } from '../lib/json.ts';
import type { Telemetry } from '../observability/telemetry.ts';
import type { FaultWindow, RunEvent, RunRecord } from './types.ts';

export type CloseReason = NonNullable<FaultWindow['closedBy']>;

export interface WindowCloseDeps {
  injector: Injector;
  telemetry: Telemetry;
  log: Logger;
  now: () => number;
  /** Record an event (timeline, log, observer). */
  emit: (type: string, message: string, data?: JsonObject) => Promise<void>;
  /** Record an event built earlier, without logging it again. */
  record: (event: RunEvent) => Promise<void>;
}

export class WindowCloser {
  failure: Error | undefined;
  failedDuring: CloseReason | undefined;

  constructor(
    private readonly run: RunRecord,
    private readonly deps: WindowCloseDeps,
  ) {}

  /** Close the run's window if it is open; throws (and remembers) when it cannot be closed. */
  async close(by: CloseReason): Promise<void> {
    const { run, deps } = this;
    const handle = run.window?.handle;
    if (!handle || !run.window || run.window.closedAt) return;
    if (this.failure) throw this.failure;
    const closingAt = new Date(deps.now()).toISOString();
    const retries: RunEvent[] = [{ at: closingAt, type: 'window.closing', message: `closing fault window (${by})`, data: { by } }];
    try {
      // Deliberately not tied to the run's signal: an aborted run must still close.
      await closeWithRetry(deps.injector, handle, {
        onRetry: (err, attempt, delayMs) => {
          retries.push({
            at: new Date(deps.now()).toISOString(),
            type: 'window.close_retry',
            message: `close failed (attempt ${attempt}): ${describeError(err)}; retrying in ${delayMs}ms`,
          });
        },
      });
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
      this.failedDuring = by;
      deps.telemetry.closeFailed(run, by);
      deps.log.fatal({ err, handle }, 'fault window could not be closed');
      for (const event of retries) await deps.record(event);
      await deps.emit('window.close_failed', `CRITICAL: could not close the fault window: ${describeError(err)}`, { critical: true });
      throw this.failure;
    }
    // Retries are recorded after the close returns: the close loop itself must not wait on the store.
    for (const event of retries) await deps.record(event);
    run.window.closedAt = new Date(deps.now()).toISOString();
    run.window.closedBy = by;
    deps.telemetry.windowClosed(run, by);
    await deps.emit('window.closed', `fault window closed (${by})`, { by });
  }
}
