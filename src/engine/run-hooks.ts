/**
 * Run hooks: work beside a run that must never hold it up — watching alerts,
 * posting annotations. A hook hears every event the run records (a window
 * opening or closing, a ladder step) and must return at once: its work runs
 * detached, so a slow alerts API or annotation endpoint can delay neither a
 * halt nor a close. Before the run's end is recorded, the engine lets each
 * hook settle (bounded), and takes what it adds to the run (the alerts verdict).
 */
import type { Logger } from 'pino';
import { describeError } from '../lib/errors.ts';
import type { JsonObject } from '../lib/json.ts';
import type { AlertsResult } from '../alerts/types.ts';
import type { RunEvent, RunRecord } from './types.ts';

export interface RunHookContext {
  run: Readonly<RunRecord>;
  /** Record an event on the run's timeline (e.g. an annotation that could not be posted). */
  emit(type: string, message: string, data?: JsonObject): Promise<void>;
  log: Logger;
  now(): number;
  /** The run's signal: aborted runs do not wait on hooks. */
  signal: AbortSignal;
}

export interface RunHook {
  readonly name: string;
  /** Called for every recorded event; must not block (start work, do not await it). */
  onEvent?(event: RunEvent, ctx: RunHookContext): void;
  /** Finish (bounded by the hook itself) before the run's end is recorded. */
  settle?(ctx: RunHookContext): Promise<{ alerts?: AlertsResult } | undefined>;
}

/** A last bound over any hook's own: a run must end. */
const SETTLE_CAP_MS = 20 * 60_000;

export class RunHooks {
  private settled: Promise<{ alerts?: AlertsResult }> | undefined;

  constructor(
    private readonly hooks: readonly RunHook[],
    private readonly ctx: RunHookContext,
  ) {}

  dispatch(event: RunEvent): void {
    if (this.settled) return;
    for (const hook of this.hooks) {
      try {
        hook.onEvent?.(event, this.ctx);
      } catch (err) {
        this.ctx.log.warn({ err, hook: hook.name }, 'run hook failed on an event');
      }
    }
  }

  /** Once per run: each hook's settle, concurrently, none able to fail the run. */
  settle(): Promise<{ alerts?: AlertsResult }> {
    this.settled ??= (async () => {
      const out: { alerts?: AlertsResult } = {};
      let timer: NodeJS.Timeout | undefined;
      const cap = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), SETTLE_CAP_MS);
        timer.unref();
      });
      const results = await Promise.all(
        this.hooks.map(async (hook) => {
          try {
            return await Promise.race([hook.settle?.(this.ctx), cap]);
          } catch (err) {
            this.ctx.log.warn({ err: describeError(err), hook: hook.name }, 'run hook failed to settle');
            return undefined;
          }
        }),
      );
      clearTimeout(timer);
      for (const r of results) if (r?.alerts) out.alerts = r.alerts;
      return out;
    })();
    return this.settled;
  }
}
