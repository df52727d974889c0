/**
 * Continuous verification: start each scheduled experiment on its cron,
 * inside its allowed window, never on top of itself, once per tick across all
 * replicas.
 *
 * node-cron only wakes us up; every decision is made in `tick(experiment,
 * slot)` from the slot, the stored spec and the store, with the clock
 * injected — which is what the tests drive. For one tick:
 *   1. Late: handled more than `lateToleranceMs` after its slot (the process
 *      was stopped, suspended or starved) → dropped, nothing written. node-cron
 *      itself runs at most the latest missed slot, so missed ticks are never
 *      replayed in a burst.
 *   2. The latest spec still has an enabled schedule, else nothing to do.
 *   3. The window (schedule-window.ts): a run that would start, or hold its
 *      fault, outside the allowed hours or days or on a blackout date →
 *      skipped with that reason.
 *   4. Overlap: a run of this experiment still active → skipped, naming it.
 *   5. The lease: the decision is recorded with an INSERT keyed by
 *      (experiment, slot) in `schedule_ticks`; only the replica whose insert
 *      lands acts, the others stop here. Keyed by the slot, not by when a
 *      replica woke, so clock skew between replicas cannot split a tick.
 *   6. Start (idempotency key `schedule:<slot>`, a second guard), and record
 *      the run id — or why it could not start (halt-all, a busy target, the
 *      run limit).
 * A crash between 5 and 6 loses that tick: at most once, by design — a
 * second fault is worse than a missing one.
 *
 * Specs change through the API, so the set of cron tasks is refreshed from
 * the store every `refreshMs`.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createTask, type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { ACTIVE_STATES } from '../engine/types.ts';
import { AppError, describeError } from '../lib/errors.ts';
import type { Experiment } from '../spec/schema.ts';
import type { ExperimentRepository, RunRepository } from '../store/types.ts';
import type { RunStarter } from './deploy-hooks.ts';
import type { ScheduleSpec } from './schedule-schema.ts';
import { runVerdict } from './schedule-window.ts';
import type { TriggerRepository } from './trigger-store.ts';

export type TickResult =
  | { outcome: 'started'; runId: string }
  | { outcome: 'skipped'; reason: string }
  | { outcome: 'failed'; reason: string }
  /** Another replica decided this tick. */
  | { outcome: 'not-elected' }
  /** Dropped without a record (late, or the experiment is no longer scheduled). */
  | { outcome: 'dropped'; reason: string };

export interface SchedulerDeps {
  experiments: Pick<ExperimentRepository, 'list' | 'get'>;
  runs: Pick<RunRepository, 'list'>;
  starter: RunStarter;
  triggers: Pick<TriggerRepository, 'claimTick' | 'finishTick' | 'pruneTicks' | 'pruneDeliveries'>;
  logger: Logger;
  /** Names this replica in the tick record. Default host:pid:random. */
  replica?: string;
  now?: () => number;
  /** A tick handled later than this after its slot is dropped. Default 60 s. */
  lateToleranceMs?: number;
  /** How often the cron tasks are re-read from the stored specs. Default 30 s. */
  refreshMs?: number;
}

interface Entry {
  key: string;
  task: ScheduledTask;
}

const TICK_RETENTION_MS = 30 * 86_400_000;
const DELIVERY_RETENTION_MS = 7 * 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

export class Scheduler {
  readonly replica: string;
  private readonly now: () => number;
  private readonly lateToleranceMs: number;
  private readonly tasks = new Map<string, Entry>();
  private readonly inflight = new Set<Promise<unknown>>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private lastPrune = 0;
  private stopped = false;

  constructor(private readonly deps: SchedulerDeps) {
    this.replica = deps.replica ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.now = deps.now ?? Date.now;
    this.lateToleranceMs = deps.lateToleranceMs ?? 60_000;
  }

  /** Create the cron tasks and keep them in step with the stored specs. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.refresh();
    const every = this.deps.refreshMs ?? 30_000;
    this.refreshTimer = setInterval(() => {
      this.track(this.refresh().catch((err: unknown) => this.deps.logger.warn({ err }, 'scheduler: refreshing the schedules failed')));
    }, every);
    this.refreshTimer.unref();
  }

  /** Stop every task, then wait for ticks in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.refreshTimer);
    for (const [name, entry] of this.tasks) {
      await entry.task.destroy();
      this.tasks.delete(name);
    }
    await Promise.allSettled([...this.inflight]);
  }

  /** Re-read the specs: add, replace (cron or zone changed) and remove tasks. */
  async refresh(): Promise<void> {
    if (this.stopped) return;
    const wanted = new Map<string, ScheduleSpec>();
    for (const version of await this.deps.experiments.list()) {
      const schedule = scheduleOf(version.spec);
      if (schedule?.enabled) wanted.set(version.name, schedule);
    }
    for (const [name, entry] of this.tasks) {
      const schedule = wanted.get(name);
      if (!schedule || keyOf(schedule) !== entry.key) {
        await entry.task.destroy();
        this.tasks.delete(name);
      }
    }
    for (const [name, schedule] of wanted) {
      if (this.tasks.has(name) || this.stopped) continue;
      const task = createTask(schedule.cron, (context) => this.onCron(name, context.date), {
        name: `steadystate:${name}`,
        timezone: schedule.timezone,
        noOverlap: true,
        missedExecutionTolerance: this.lateToleranceMs,
        logger: this.cronLogger(name),
      });
      task.on('execution:missed', (context) => {
        this.deps.logger.warn({ experiment: name, slot: context.date.toISOString() }, 'scheduler: missed a tick (not replayed)');
      });
      await task.start();
      this.tasks.set(name, { key: keyOf(schedule), task });
    }
    await this.prune();
  }

  /** The experiments with a live task and their next tick. */
  describe(): { experiment: string; next: string | null }[] {
    return [...this.tasks.entries()]
      .map(([experiment, { task }]) => ({ experiment, next: task.getNextRun()?.toISOString() ?? null }))
      .sort((a, b) => a.experiment.localeCompare(b.experiment));
  }

  /** Decide one tick (see the file comment). Never throws for an expected refusal. */
  async tick(experimentName: string, slot: Date): Promise<TickResult> {
    const log = this.deps.logger.child({ experiment: experimentName, slot: slot.toISOString(), replica: this.replica });
    const lateBy = this.now() - slot.getTime();
    if (lateBy > this.lateToleranceMs) {
      const reason = `handled ${Math.round(lateBy / 1000)}s after its slot (tolerance ${this.lateToleranceMs / 1000}s); missed ticks are not replayed`;
      log.warn(reason);
      return { outcome: 'dropped', reason };
    }
    const stored = await this.deps.experiments.get(experimentName);
    const schedule = stored ? scheduleOf(stored.spec) : undefined;
    if (!stored || !schedule?.enabled) return { outcome: 'dropped', reason: 'the experiment is no longer scheduled' };

    const spec = stored.spec.spec;
    const span = (spec.analysis?.baseline ?? 0) + spec.fault.duration;
    let decision: { outcome: 'starting' } | { outcome: 'skipped'; reason: string };
    const window = runVerdict(schedule, slot.getTime(), span);
    if (!window.allowed) {
      decision = { outcome: 'skipped', reason: window.reason };
    } else {
      const [active] = await this.deps.runs.list({ experiment: experimentName, state: ACTIVE_STATES, limit: 1 });
      decision = active
        ? { outcome: 'skipped', reason: `run ${active.id} of this experiment is still ${active.state}; a schedule never overlaps itself` }
        : { outcome: 'starting' };
    }
    const claimed = await this.deps.triggers.claimTick({
      experiment: experimentName,
      slot,
      replica: this.replica,
      outcome: decision.outcome,
      reason: decision.outcome === 'skipped' ? decision.reason : '',
    });
    if (!claimed) return { outcome: 'not-elected' };
    if (decision.outcome === 'skipped') {
      log.info({ reason: decision.reason }, 'scheduler: tick skipped');
      return decision;
    }
    try {
      const { run } = await this.deps.starter.start(experimentName, {
        actor: 'scheduler',
        idempotencyKey: `schedule:${slot.toISOString()}`,
      });
      await this.deps.triggers.finishTick(experimentName, slot, this.replica, { outcome: 'started', reason: '', runId: run.id });
      log.info({ runId: run.id }, 'scheduler: run started');
      return { outcome: 'started', runId: run.id };
    } catch (err) {
      // A refusal the service explains (halt-all, a busy target, the run limit) is a skip; anything else a failure.
      const refused = err instanceof AppError && err.httpStatus < 500;
      const result = refused
        ? ({ outcome: 'skipped', reason: `the run could not start: ${describeError(err)}` } as const)
        : ({ outcome: 'failed', reason: `starting the run failed: ${describeError(err)}` } as const);
      await this.deps.triggers.finishTick(experimentName, slot, this.replica, result).catch((e: unknown) => log.error({ err: e }, 'scheduler: could not record the tick'));
      if (refused) log.info({ reason: result.reason }, 'scheduler: tick skipped');
      else log.error({ err }, 'scheduler: starting the run failed');
      return result;
    }
  }

  private onCron(name: string, slot: Date): Promise<void> {
    const p = this.tick(name, slot).then(
      () => undefined,
      (err: unknown) => this.deps.logger.error({ err, experiment: name }, 'scheduler: tick failed'),
    );
    this.track(p);
    return p;
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private async prune(): Promise<void> {
    const now = this.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    try {
      await this.deps.triggers.pruneTicks(TICK_RETENTION_MS);
      await this.deps.triggers.pruneDeliveries(DELIVERY_RETENTION_MS);
    } catch (err) {
      this.deps.logger.warn({ err }, 'scheduler: pruning old tick and delivery records failed');
    }
  }

  /** node-cron's own messages, into our log (it would print to the console otherwise). */
  private cronLogger(name: string) {
    const log = this.deps.logger.child({ experiment: name, component: 'node-cron' });
    return {
      info: (message: string) => log.debug(message),
      warn: (message: string) => log.debug(message),
      error: (message: string | Error, err?: Error) => log.error({ err: err ?? message }, 'node-cron error'),
      debug: (message: string | Error) => log.debug(String(message)),
    };
  }
}

function scheduleOf(experiment: Experiment): ScheduleSpec | undefined {
  return experiment.spec.schedule;
}

function keyOf(schedule: ScheduleSpec): string {
  return `${schedule.cron}\u0000${schedule.timezone}`;
}
