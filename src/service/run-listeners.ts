/**
 * Who hears about runs besides the store: Slack, metrics, webhooks back to a
 * pipeline. Listeners are called after the event is persisted, are never
 * awaited, and their failures are logged and dropped: a slow or dead listener
 * must never delay a halt or a close.
 */
import type { Logger } from 'pino';
import type { RunEvent, RunRecord } from '../engine/types.ts';
import type { Experiment } from '../spec/schema.ts';

export interface RunListener {
  readonly name: string;
  onEvent(event: RunEvent, run: Readonly<RunRecord>, context: { experiment: Experiment }): void | Promise<void>;
}

/** Tells every listener, without waiting for any; a failure is logged. */
export function notifyListeners(listeners: readonly RunListener[], logger: Logger, event: RunEvent, run: Readonly<RunRecord>, experiment: Experiment): void {
  for (const listener of listeners) {
    const failed = (err: unknown): void => logger.warn({ err, listener: listener.name, runId: run.id }, 'run listener failed');
    try {
      Promise.resolve(listener.onEvent(event, run, { experiment })).catch(failed);
    } catch (err) {
      failed(err);
    }
  }
}
