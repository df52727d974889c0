/**
 * Runs inside the service: starts them (after the halt-all switch, the
 * concurrency cap and the per-target lock agree), drives each through the run
 * engine with every event and sample persisted, aborts them, halts them all,
 * and takes over runs a previous process or a dead replica left active:
 * continues them to a verdict where it can (takeover.ts, ADR 015), otherwise
 * closes their fault windows from the persisted handles and marks them aborted.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { executeRun, newRunId, type ResumePoint } from '../engine/run-engine.ts';
import { ACTIVE_STATES, type RunRecord } from '../engine/types.ts';
import { createInjector } from '../injectors/registry.ts';
import type { Injector } from '../injectors/types.ts';
import { AbortedError, AppError, describeError, LeaseLostError, ValidationError } from '../lib/errors.ts';
import { createMetricSource } from '../metric-sources/registry.ts';
import type { MetricSource } from '../metric-sources/types.ts';
import { NOOP_TELEMETRY, type Telemetry } from '../observability/telemetry.ts';
import type { Experiment } from '../spec/schema.ts';
import type { StoredRun, Store } from '../store/types.ts';
import { notifyListeners, type RunListener } from './run-listeners.ts';
import { loadRunRecord, snapshot } from './run-views.ts';
import { buildRunHooks } from './run-hooks.ts';
import { policyIssues, securityPolicyOf, targetOf, type PolicyConfig } from './spec-checks.ts';
import { RunWriter } from './run-writer.ts';
import { StartSlots } from './start-slots.ts';
import { closeLeftover, planTakeover, type TakeoverDeps } from './takeover.ts';

export class HaltAllActiveError extends AppError {
  constructor() {
    super('halt-all is active: no run may start until an admin clears it (DELETE /api/v1/halt-all)', {
      code: 'halt_all_active',
      httpStatus: 409,
    });
  }
}

/** The concurrency cap, checked atomically with the insert (the store's CapacityError). */
export { CapacityError as TooManyRunsError } from '../store/errors.ts';

interface ActiveRun {
  controller: AbortController;
  done: Promise<RunRecord>;
  /** Another replica holds the lease now: nothing this process still does for the run is recorded. */
  lost: boolean;
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
   * another replica (continued, or its window closed and the run aborted). Default 10 s.
   */
  leaseMs?: number;
  /** Metrics and spans for every run this service drives (src/observability). Default: none. */
  telemetry?: Telemetry;
  /** Runs in their start-up (preflight up to the window's open) at once; the others wait `pending`. Default 8. */
  startConcurrency?: number;
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
  private readonly startSlots: StartSlots;
  /** Samples and guardrail evaluations, written for all runs at once (run-writer.ts). */
  private readonly writer: RunWriter;

  constructor(
    private readonly store: Store,
    private readonly config: PolicyConfig,
    private readonly logger: Logger,
    options: RunServiceOptions = {},
  ) {
    this.instanceId = options.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.telemetry = options.telemetry ?? NOOP_TELEMETRY;
    this.startSlots = new StartSlots(options.startConcurrency ?? 8);
    this.writer = new RunWriter(store.runs, logger);
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
          // Its window and its end are the new owner's now (it may be continuing it): leave both alone.
          this.logger.error({ runId: id, instance: this.instanceId }, 'lease lost: another replica took this run over');
          run.lost = true;
          this.writer.drop(id);
          run.controller.abort(new LeaseLostError('lease lost to another replica'));
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

  /** Start the latest version of an experiment. Returns the run row (existing one for a repeated idempotency key). */
  async start(name: string, opts: StartRunOptions): Promise<{ run: StoredRun; created: boolean }> {
    return this.startSlots.answer(() => this.startNow(name, opts));
  }

  /** See StartSlots.hold: a start request counts from its arrival. */
  holdStartUps(): () => void {
    return this.startSlots.hold();
  }

  private async startNow(name: string, opts: StartRunOptions): Promise<{ run: StoredRun; created: boolean }> {
    if (this.stopping) throw new AppError('the service is shutting down', { code: 'shutting_down', httpStatus: 503, retryable: true });
    // Asked together (one wait on the database, not two); the halt-all switch is judged after the retry check.
    const [stored, halt] = await Promise.all([this.store.experiments.get(name), this.store.settings.haltAll()]);
    if (!stored) throw new AppError(`experiment "${name}" not found`, { code: 'not_found', httpStatus: 404 });
    if (opts.idempotencyKey) {
      // A retried start returns the run it created, before any check that could now refuse it.
      const existing = await this.store.runs.findByIdempotencyKey(name, opts.idempotencyKey);
      if (existing) return { run: existing, created: false };
    }
    if (halt.active) throw new HaltAllActiveError();
    const experiment = stored.spec;
    const issues = policyIssues(experiment, this.config);
    if (issues.length > 0) {
      throw new ValidationError(issues, `experiment "${name}" is not allowed by this service's policy: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    }
    // One transaction: the cap and the target lock are checked where the run is inserted,
    // and the run is leased to this replica before anything else can see it.
    const { run, created } = await this.store.runs.create({
      id: newRunId(),
      experiment: name,
      version: stored.version,
      target: targetOf(experiment),
      actor: opts.actor,
      owner: this.instanceId,
      maxActive: this.config.limits.maxConcurrentRuns,
      ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
    });
    // Answered now, `pending`: preflight and the window go on in the background.
    if (created) this.launch(run.id, experiment, opts.actor);
    return { run, created };
  }

  private injectorFor(experiment: Experiment, labels: { runId: string; experiment: string }): Injector {
    const policy = securityPolicyOf(this.config);
    return this.telemetry.instrumentInjector(createInjector(experiment.spec.fault.injector, experiment.spec.fault.params, { policy }), labels);
  }

  private launch(runId: string, experiment: Experiment, actor: string, resume?: ResumePoint): void {
    const controller = new AbortController();
    // `done` is set below, in this same tick, before anything can read the entry.
    const entry = { controller, lost: false } as ActiveRun;
    const log = this.logger.child({ runId });
    const labels = { runId, experiment: experiment.metadata.name };
    const policy = securityPolicyOf(this.config);
    // A run taken over has an open window to watch now: it does not queue.
    let release: () => void = () => undefined;
    // Made once the run has its slot: a burst's answers do not pay for its runs' clients.
    let source: MetricSource | undefined;
    const done = (resume ? Promise.resolve(release) : this.startSlots.acquire(controller.signal))
      .then((r) => {
        release = r;
        source = this.telemetry.instrumentSource(createMetricSource(experiment.spec.source, { policy }), labels);
        return executeRun(
          experiment,
          {
            source,
            injector: this.injectorFor(experiment, labels),
            telemetry: this.telemetry,
            logger: log,
            hooks: buildRunHooks(experiment, { policy, ...(this.config.annotations ? { annotations: this.config.annotations } : {}) }),
            onEvent: async (event, run) => {
              if (event.type === 'window.opened') release();
              if (entry.lost) return;
              // The data that led to the event is stored before the event.
              await this.writer.flush(runId);
              await this.store.runs.appendEvent(runId, event);
              await this.store.runs.update(runId, snapshot(run));
              notifyListeners(this.listeners, this.logger, event, run, experiment);
            },
            onSamples: async (chunk) => {
              if (entry.lost) return;
              await this.writer.samples(runId, chunk);
            },
            onGuardrailEvaluations: async (observations) => {
              if (entry.lost) return;
              await this.writer.evaluations(runId, observations);
            },
          },
          { runId, actor, signal: controller.signal, ...(resume ? { resume } : {}) },
        );
      })
      .catch(async (err: unknown) => {
        // executeRun records its own failures; this is the last line of defence.
        log.error({ err }, 'run engine failed');
        if (entry.lost) throw err;
        await this.store.runs
          .update(runId, { state: 'errored', reason: `engine failure: ${describeError(err)}`, endedAt: new Date().toISOString() })
          .catch(() => undefined);
        throw err;
      })
      .finally(() => {
        release();
        this.active.delete(runId);
        void source?.close?.();
      });
    done.catch(() => undefined);
    entry.done = done;
    this.active.set(runId, entry);
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
    await this.writer.close();
    return { closed: all.length - this.active.size, leftover: this.active.size };
  }

  /**
   * Runs left active by a replica that is gone. A run counts as left behind
   * when this replica can claim its lease: nobody holds it, or its holder has
   * been silent for `staleAfterMs`. With PGlite only one process can open the
   * store, so at start every active run is left behind (staleAfterMs 0).
   * Each is continued to a verdict where its state and its fault's state are
   * known (takeover.ts); otherwise its window is closed and it ends aborted,
   * its events and samples kept as they were.
   */
  async reconcile(opts: { staleAfterMs: number } = { staleAfterMs: 0 }): Promise<{ resumed: string[]; reconciled: string[]; failures: string[] }> {
    const resumed: string[] = [];
    const reconciled: string[] = [];
    const failures: string[] = [];
    const deps: TakeoverDeps = {
      store: this.store,
      injectorFor: (experiment, row) => this.injectorFor(experiment, { runId: row.id, experiment: row.experiment }),
      refused: (experiment) => {
        const issues = policyIssues(experiment, this.config);
        return issues.length > 0 ? issues.map((i) => `${i.path}: ${i.message}`).join('; ') : undefined;
      },
    };
    for (const row of await this.store.runs.listActive()) {
      if (this.active.has(row.id) || this.stopping) continue;
      const previousOwner = row.owner;
      const claimed = await this.store.runs.claim(row.id, this.instanceId, opts.staleAfterMs);
      if (!claimed) continue;
      const log = this.logger.child({ runId: row.id });
      const who = previousOwner && previousOwner !== this.instanceId ? `taken over by ${this.instanceId} from ${previousOwner}, whose lease expired` : `reconciled by ${this.instanceId}`;
      try {
        const plan = await planTakeover(claimed, deps);
        if (plan.kind === 'resume') {
          const record = await loadRunRecord(this.store, claimed, { series: false });
          this.launch(row.id, plan.experiment, this.instanceId, { run: record, previousOwner, injectorStatus: plan.injectorStatus });
          log.warn({ previousOwner, state: row.state }, 'continuing a run left by another process');
          resumed.push(row.id);
          continue;
        }
        const note = await closeLeftover(claimed, deps);
        const reason = `service restarted or replica lost while the run was ${row.state} (${who}); not continued: ${plan.why}; ${note}`;
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
    return { resumed, reconciled, failures };
  }
}

/** The persisted part of a run record (events and samples are appended separately). */
