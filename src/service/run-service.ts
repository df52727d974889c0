/**
 * Runs inside the service: starts them (after the halt-all switch, the
 * concurrency cap and the per-target lock agree), drives each through the run
 * engine with every event and sample persisted, aborts them, halts them all,
 * and — on start — reconciles runs a previous process left active: closes
 * their fault windows from the persisted handles and marks them aborted.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { executeRun, newRunId } from '../engine/run-engine.ts';
import { ACTIVE_STATES, type RunEvent, type RunRecord } from '../engine/types.ts';
import { closeWithRetry } from '../injectors/close.ts';
import { createInjector, injectorRegistry } from '../injectors/registry.ts';
import type { InjectorHandle } from '../injectors/types.ts';
import { AbortedError, AppError, describeError, ValidationError } from '../lib/errors.ts';
import { createMetricSource } from '../metric-sources/registry.ts';
import { NOOP_TELEMETRY, type Telemetry } from '../observability/telemetry.ts';
import type { Experiment } from '../spec/schema.ts';
import type { StoredRun, Store } from '../store/types.ts';
import { policyIssues, securityPolicyOf, targetOf, type PolicyConfig } from './spec-checks.ts';

export class HaltAllActiveError extends AppError {
  constructor() {
    super('halt-all is active: no run may start until an admin clears it (DELETE /api/v1/halt-all)', {
      code: 'halt_all_active',
      httpStatus: 409,
    });
  }
}

export class TooManyRunsError extends AppError {
  constructor(limit: number) {
    super(`the service already runs ${limit} experiments, its limit (STEADYSTATE_MAX_CONCURRENT_RUNS)`, {
      code: 'too_many_runs',
      httpStatus: 429,
      retryable: true,
    });
  }
}

interface ActiveRun {
  controller: AbortController;
  done: Promise<RunRecord>;
}

/**
 * Something that wants to hear about runs (Slack, metrics, webhooks back to a
 * pipeline). Listeners are called after the event is persisted, are never
 * awaited, and their failures are logged and dropped: a slow or dead listener
 * must never delay a halt or a close.
 */
export interface RunListener {
  readonly name: string;
  onEvent(event: RunEvent, run: Readonly<RunRecord>, context: { experiment: Experiment }): void | Promise<void>;
}

export interface StartRunOptions {
  actor: string;
  idempotencyKey?: string;
}

export interface RunServiceOptions {
  /** This replica's name in run leases. Default: host, pid and a random suffix. */
  instanceId?: string;
  /**
   * A run whose owner has not renewed its lease for this long is taken over by
   * another replica (its window closed, the run aborted). Default 10 s.
   */
  leaseMs?: number;
  /** Metrics and spans for every run this service drives (src/observability). Default: none. */
  telemetry?: Telemetry;
}

export class RunService {
  private readonly active = new Map<string, ActiveRun>();
  private stopping = false;
  private readonly listeners: RunListener[] = [];
  readonly instanceId: string;
  readonly leaseMs: number;
  private timers: NodeJS.Timeout[] = [];
  private readonly telemetry: Telemetry;
  private scanning = false;

  constructor(
    private readonly store: Store,
    private readonly config: PolicyConfig,
    private readonly logger: Logger,
    options: RunServiceOptions = {},
  ) {
    this.instanceId = options.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.telemetry = options.telemetry ?? NOOP_TELEMETRY;
  }

  /**
   * Leases, for several replicas on one PostgreSQL: renew ours every third of
   * the lease, and every third of the lease take over runs whose owner went
   * quiet. A replica that finds its own lease taken stops driving that run.
   */
  startBackground(): void {
    if (this.timers.length > 0) return;
    const every = Math.max(500, Math.floor(this.leaseMs / 3));
    const beat = setInterval(() => void this.renewLeases(), every);
    const scan = setInterval(() => void this.takeOverStale(), every);
    beat.unref();
    scan.unref();
    this.timers = [beat, scan];
  }

  private stopBackground(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private async renewLeases(): Promise<void> {
    for (const [id, run] of this.active) {
      try {
        if (!(await this.store.runs.heartbeat(id, this.instanceId))) {
          // Another replica decided we were dead and took the run: stop driving it at once.
          this.logger.error({ runId: id, instance: this.instanceId }, 'lease lost: another replica took this run over');
          run.controller.abort(new AbortedError('lease lost to another replica'));
        }
      } catch (err) {
        this.logger.warn({ err, runId: id }, 'could not renew the lease');
      }
    }
  }

  private async takeOverStale(): Promise<void> {
    if (this.scanning || this.stopping) return;
    this.scanning = true;
    try {
      await this.reconcile({ staleAfterMs: this.leaseMs });
    } catch (err) {
      this.logger.warn({ err }, 'lease scan failed');
    } finally {
      this.scanning = false;
    }
  }

  addListener(listener: RunListener): void {
    this.listeners.push(listener);
  }

  private notify(event: RunEvent, run: Readonly<RunRecord>, experiment: Experiment): void {
    for (const listener of this.listeners) {
      try {
        Promise.resolve(listener.onEvent(event, run, { experiment })).catch((err: unknown) =>
          this.logger.warn({ err, listener: listener.name, runId: run.id }, 'run listener failed'),
        );
      } catch (err) {
        this.logger.warn({ err, listener: listener.name, runId: run.id }, 'run listener failed');
      }
    }
  }

  /** Start the latest version of an experiment. Returns the run row (existing one for a repeated idempotency key). */
  async start(name: string, opts: StartRunOptions): Promise<{ run: StoredRun; created: boolean }> {
    if (this.stopping) throw new AppError('the service is shutting down', { code: 'shutting_down', httpStatus: 503, retryable: true });
    const stored = await this.store.experiments.get(name);
    if (!stored) throw new AppError(`experiment "${name}" not found`, { code: 'not_found', httpStatus: 404 });
    if (opts.idempotencyKey) {
      // A retried start returns the run it created, before any check that could now refuse it.
      const existing = (await this.store.runs.list({ experiment: name, limit: 500 })).find((r) => r.idempotencyKey === opts.idempotencyKey);
      if (existing) return { run: existing, created: false };
    }
    if ((await this.store.settings.haltAll()).active) throw new HaltAllActiveError();
    if ((await this.store.runs.countActive()) >= this.config.limits.maxConcurrentRuns) {
      throw new TooManyRunsError(this.config.limits.maxConcurrentRuns);
    }
    const experiment = stored.spec;
    const issues = policyIssues(experiment, this.config);
    if (issues.length > 0) {
      throw new ValidationError(issues, `experiment "${name}" is not allowed by this service's policy: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    }
    const id = newRunId();
    const { run, created } = await this.store.runs.create({
      id,
      experiment: name,
      version: stored.version,
      target: targetOf(experiment),
      actor: opts.actor,
      ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
    });
    if (created) {
      // Lease it before the engine writes anything, so no other replica takes it over.
      const claimed = await this.store.runs.claim(run.id, this.instanceId, this.leaseMs);
      if (!claimed) throw new AppError(`run ${run.id} was claimed by another replica`, { code: 'lease_conflict', httpStatus: 409 });
      this.launch(run.id, experiment, opts.actor);
    }
    return { run, created };
  }

  private launch(runId: string, experiment: Experiment, actor: string): void {
    const controller = new AbortController();
    const log = this.logger.child({ runId });
    const labels = { runId, experiment: experiment.metadata.name };
    const policy = securityPolicyOf(this.config);
    const source = this.telemetry.instrumentSource(createMetricSource(experiment.spec.source, { policy }), labels);
    const done = executeRun(
      experiment,
      {
        source,
        injector: this.telemetry.instrumentInjector(createInjector(experiment.spec.fault.injector, experiment.spec.fault.params, { policy }), labels),
        telemetry: this.telemetry,
        logger: log,
        onEvent: async (event, run) => {
          await this.store.runs.appendEvent(runId, event);
          await this.store.runs.update(runId, snapshot(run));
          this.notify(event, run, experiment);
        },
        onSamples: async (chunk) => {
          await this.store.runs.appendSamples(runId, chunk);
        },
        onGuardrailEvaluations: async (observations) => {
          await this.store.runs.appendGuardrailEvaluations(runId, observations);
        },
      },
      { runId, actor, signal: controller.signal },
    )
      .catch(async (err: unknown) => {
        // executeRun records its own failures; this is the last line of defence.
        log.error({ err }, 'run engine failed');
        await this.store.runs
          .update(runId, { state: 'errored', reason: `engine failure: ${describeError(err)}`, endedAt: new Date().toISOString() })
          .catch(() => undefined);
        throw err;
      })
      .finally(() => {
        this.active.delete(runId);
        void source.close?.();
      });
    done.catch(() => undefined);
    this.active.set(runId, { controller, done });
  }

  /**
   * Abort one run; the engine closes its window. The reason, when given, is
   * recorded with the request and becomes part of the run's reason. Resolves
   * when the run has ended (bounded by the caller).
   */
  async abort(runId: string, actor: string, reason?: string): Promise<StoredRun> {
    const row = await this.store.runs.get(runId);
    if (!row) throw new AppError(`run "${runId}" not found`, { code: 'not_found', httpStatus: 404 });
    const active = this.active.get(runId);
    if (!active) {
      if ((ACTIVE_STATES as readonly string[]).includes(row.state)) {
        throw new AppError(`run "${runId}" is active but not driven by this process`, { code: 'not_owner', httpStatus: 409 });
      }
      return row;
    }
    const why = reason ? `: ${reason}` : '';
    await this.store.runs.appendEvent(runId, {
      at: new Date().toISOString(),
      type: 'run.abort_requested',
      message: `abort requested by ${actor}${why}`,
      data: { actor, reason: reason ?? null },
    });
    active.controller.abort(new AbortedError(`aborted by ${actor}${why}`));
    await active.done.catch(() => undefined);
    return (await this.store.runs.get(runId)) ?? row;
  }

  /**
   * Close every open window now and block new starts until an admin clears
   * the switch. The reason is kept with the switch and on every run it ends.
   */
  async haltAll(actor: string, reason?: string): Promise<{ halted: string[] }> {
    await this.store.settings.setHaltAll(actor, reason);
    const why = reason ? `: ${reason}` : '';
    const ids = [...this.active.keys()];
    const done = ids.flatMap((id) => {
      const run = this.active.get(id);
      return run ? [run.done] : [];
    });
    for (const id of ids) {
      await this.store.runs
        .appendEvent(id, { at: new Date().toISOString(), type: 'run.halt_all', message: `halt-all by ${actor}${why}`, data: { actor, reason: reason ?? null } })
        .catch(() => undefined);
      this.active.get(id)?.controller.abort(new AbortedError(`halt-all by ${actor}${why}`));
    }
    await Promise.allSettled(done);
    return { halted: ids };
  }

  activeRunIds(): string[] {
    return [...this.active.keys()];
  }

  /** Wait for a run driven here to end (tests, `wait`). */
  async settled(runId: string): Promise<void> {
    await this.active.get(runId)?.done.catch(() => undefined);
  }

  /**
   * SIGTERM/SIGINT: abort every run (each closes its window), bounded by
   * `graceMs`. Runs still going after that are left to the next start's
   * reconciler and to the injector-side deadlines.
   */
  async shutdown(graceMs: number): Promise<{ closed: number; leftover: number }> {
    this.stopping = true;
    this.stopBackground();
    const all = [...this.active.entries()];
    for (const [, run] of all) run.controller.abort(new AbortedError('service shutting down'));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
    await Promise.race([Promise.allSettled(all.map(([, r]) => r.done)), timeout]);
    clearTimeout(timer);
    return { closed: all.length - this.active.size, leftover: this.active.size };
  }

  /**
   * Runs left active by a replica that is gone get their fault window closed
   * (from the persisted handle, or one the adapter can derive from the run id
   * when the crash came between open and recording it) and are marked aborted;
   * their events and samples stay as they were. A run counts as left behind
   * when this replica can claim its lease: nobody holds it, or its holder has
   * been silent for `staleAfterMs`. With PGlite only one process can open the
   * store, so at start every active run is left behind (staleAfterMs 0).
   */
  async reconcile(opts: { staleAfterMs: number } = { staleAfterMs: 0 }): Promise<{ reconciled: string[]; failures: string[] }> {
    const reconciled: string[] = [];
    const failures: string[] = [];
    for (const row of await this.store.runs.listActive()) {
      if (this.active.has(row.id)) continue;
      const previousOwner = row.owner;
      const claimed = await this.store.runs.claim(row.id, this.instanceId, opts.staleAfterMs);
      if (!claimed) continue;
      const log = this.logger.child({ runId: row.id });
      try {
        const note = await this.closeLeftover(claimed);
        const who = previousOwner && previousOwner !== this.instanceId ? `taken over by ${this.instanceId} from ${previousOwner}, whose lease expired` : `reconciled by ${this.instanceId}`;
        const reason = `service restarted or replica lost while the run was ${row.state} (${who}); ${note}`;
        await this.store.runs.appendEvent(row.id, { at: new Date().toISOString(), type: 'run.reconciled', message: reason, data: { previousOwner, owner: this.instanceId } });
        await this.store.runs.update(row.id, { state: 'aborted', reason, endedAt: new Date().toISOString() });
        await this.store.runs.appendEvent(row.id, { at: new Date().toISOString(), type: 'state.aborted', message: reason });
        reconciled.push(row.id);
      } catch (err) {
        log.fatal({ err }, 'could not reconcile a run left active');
        failures.push(row.id);
        await this.store.runs
          .appendEvent(row.id, {
            at: new Date().toISOString(),
            type: 'window.close_failed',
            message: `CRITICAL: reconciler could not close the fault window: ${describeError(err)}`,
            data: { critical: true },
          })
          .catch(() => undefined);
      }
    }
    return { reconciled, failures };
  }

  private async closeLeftover(row: StoredRun): Promise<string> {
    const window = row.window;
    const version = await this.store.experiments.getVersion(row.experiment, row.version);
    const experiment = version?.spec;
    if (window?.closedAt) return 'its fault window had already been closed';
    let handle: InjectorHandle | undefined = window?.handle;
    const events = await this.store.runs.events(row.id);
    const openingRecorded = events.some((e) => e.type === 'window.opening');
    if (!handle && openingRecorded && experiment) {
      const factory = injectorRegistry.get(experiment.spec.fault.injector);
      handle = factory?.handleFor?.(experiment.spec.fault.params, row.id);
      if (!handle) return 'an open was in flight and left no handle; the injector-side deadline ends that fault';
    }
    if (!handle) return 'no fault window had been opened';
    if (!experiment) throw new Error(`spec version ${row.version} of "${row.experiment}" is missing; cannot build the injector`);
    const injector = this.telemetry.instrumentInjector(createInjector(experiment.spec.fault.injector, experiment.spec.fault.params, { policy: securityPolicyOf(this.config) }), {
      runId: row.id,
      experiment: row.experiment,
    });
    await closeWithRetry(injector, handle);
    await this.store.runs.update(row.id, { window: { ...(window ?? { openedAt: row.startedAt, deadline: row.startedAt }), handle, closedAt: new Date().toISOString(), closedBy: 'error' } });
    return 'its fault window was closed by the reconciler';
  }
}

/** The persisted part of a run record (events and samples are appended separately). */
function snapshot(run: Readonly<RunRecord>) {
  return {
    state: run.state,
    startedAt: run.startedAt,
    verdict: run.verdict,
    reason: run.reason,
    endedAt: run.endedAt,
    ...(run.window ? { window: run.window } : {}),
    ...(run.halt ? { halt: run.halt } : {}),
    metrics: run.metrics,
  };
}
