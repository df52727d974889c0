/**
 * The run engine: the one owner of a run's state. It drives a run through
 * preflight → baseline → injecting → recovering → analyzing → a terminal
 * state, records every transition as an event, and guarantees one thing above
 * all: a fault window it opened is closed on every exit path — verdict, halt,
 * error, Ctrl-C. (The injector side also holds the deadline, for the exits
 * this process does not survive.)
 *
 * Persistence is the observer's job, but the engine waits for it where crash
 * safety depends on it: the intent to open is recorded before the injector is
 * called, and the handle right after, so a process that dies at any point
 * leaves enough behind for another one to close the fault.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { closeWithRetry } from '../injectors/close.ts';
import type { Injector, InjectorHandle } from '../injectors/types.ts';
import { redact } from '../lib/redact.ts';
import { AbortedError, describeError, NoDataError } from '../lib/errors.ts';
import type { JsonObject } from '../lib/json.ts';
import { sleep } from '../lib/retry.ts';
import type { MetricSource, Sample, TimeRange } from '../metric-sources/types.ts';
import { NOOP_TELEMETRY, type Telemetry } from '../observability/telemetry.ts';
import type { Experiment, SloGuardrail, ThresholdGuardrail } from '../spec/schema.ts';
import { renderQuery, type TemplateVariable } from '../spec/template.ts';
import { judgeFamily } from '../stats/verdict.ts';
import {
  burnRateWindows,
  decide,
  evaluateSlo,
  evaluateThreshold,
  noDataGraceLooks,
  type GuardrailCounters,
  type GuardrailOutcome,
} from './guardrails.ts';
import { judgeCollected, KpiGuardrails } from './kpi-guardrails.ts';
import type { CollectedSeries, Group, GuardrailObservation, HaltInfo, RunEvent, RunRecord, RunState } from './types.ts';

/**
 * Where a run's progress goes. Both hooks are awaited: the engine does not go
 * on until they resolve, and if one throws the run ends `errored` (after
 * closing its window) rather than carry on unrecorded.
 */
export interface RunObserver {
  onEvent?(event: RunEvent, run: Readonly<RunRecord>): Promise<void> | void;
  /** New samples of one metric and group (appended, never rewritten). */
  onSamples?(chunk: CollectedSeries, run: Readonly<RunRecord>): Promise<void> | void;
  /**
   * Guardrail evaluations made since the last call: after each monitor tick
   * and before each event, never between a breach and the window's close.
   * Best effort, unlike the others: a failure is logged and the run goes on
   * (a report short of a few points beats a run ended over them).
   */
  onGuardrailEvaluations?(observations: GuardrailObservation[], run: Readonly<RunRecord>): Promise<void> | void;
}

export interface RunDeps extends RunObserver {
  source: MetricSource;
  injector: Injector;
  logger: Logger;
  now?: () => number;
  /** Metrics and spans about the run (src/observability); nothing when absent. */
  telemetry?: Telemetry;
}

export interface RunOptions {
  runId?: string;
  /** Who started the run (token name, `cli`, `webhook:github`…), recorded in its first event. */
  actor?: string;
  /** Aborting it (Ctrl-C, API abort) closes the window and ends the run `aborted`. */
  signal?: AbortSignal;
}

/** Sortable, unique, safe in file names and URLs. */
export function newRunId(now = Date.now()): string {
  return `run-${new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

/** Thrown when preflight or baseline finds the system unfit for a fault. */
class NotStarted extends Error {}

const GROUPS = ['control', 'experiment'] as const;

export async function executeRun(experiment: Experiment, deps: RunDeps, opts: RunOptions = {}): Promise<RunRecord> {
  const execution = new RunExecution(experiment, deps, opts);
  return (deps.telemetry ?? NOOP_TELEMETRY).traceRun(execution.run, () => execution.execute());
}

class RunExecution {
  private readonly spec: Experiment['spec'];
  private readonly now: () => number;
  private readonly signal: AbortSignal;
  private readonly log: Logger;
  private readonly telemetry: Telemetry;
  readonly run: RunRecord;
  private handle: InjectorHandle | undefined;
  private closeFailure: Error | undefined;
  private closeFailedDuring: 'deadline' | 'halt' | 'abort' | 'error' | undefined;
  /** Per metric and group, the timestamp of the last sample already collected. */
  private readonly collectedUntil = new Map<string, number>();
  private readonly counters = new Map<string, GuardrailCounters>();
  /** The KPI-comparison guardrails' sequential tests (kpi-guardrails.ts). */
  private readonly kpi: KpiGuardrails;
  /** Evaluations not yet handed to the observer. */
  private unsaved: GuardrailObservation[] = [];

  constructor(
    private readonly experiment: Experiment,
    private readonly deps: RunDeps,
    private readonly opts: RunOptions,
  ) {
    this.spec = experiment.spec;
    this.kpi = new KpiGuardrails(experiment.spec);
    this.now = deps.now ?? Date.now;
    this.signal = opts.signal ?? new AbortController().signal;
    this.telemetry = deps.telemetry ?? NOOP_TELEMETRY;
    this.run = {
      id: opts.runId ?? newRunId(this.now()),
      experiment: experiment.metadata.name,
      state: 'pending',
      verdict: null,
      reason: '',
      startedAt: new Date(this.now()).toISOString(),
      endedAt: null,
      metrics: [],
      series: [],
      guardrails: [],
      events: [],
    };
    this.log = deps.logger.child({ runId: this.run.id, experiment: this.run.experiment });
  }

  async execute(): Promise<RunRecord> {
    const { spec, run } = this;
    let halt: HaltInfo | undefined;
    try {
      await this.emit('run.started', `run started by ${this.opts.actor ?? 'unknown'}`, { actor: this.opts.actor ?? null });
      await this.transition('preflight', 'checking the source, the injector and the steady state');
      await this.preflight();

      if (spec.analysis.baseline > 0) {
        await this.transition('baseline', `watching both groups for ${spec.analysis.baseline / 1000}s before injecting`);
        const breach = await this.monitor(this.now() + spec.analysis.baseline, false);
        if (breach) throw new NotStarted(`guardrail "${breach.guardrail}" breached during baseline: ${breach.reason}`);
      }

      await this.transition('injecting', `opening the fault window (${spec.fault.injector}, ${spec.fault.duration / 1000}s)`);
      const deadline = new Date(this.now() + spec.fault.duration);
      // Intent first, so a crash between here and the next event is recoverable.
      await this.emit('window.opening', 'opening fault window', { injector: spec.fault.injector, deadline: deadline.toISOString() });
      this.handle = await this.deps.injector.open({ runId: run.id, experiment: run.experiment, deadline, signal: this.signal });
      run.window = { openedAt: new Date(this.now()).toISOString(), deadline: deadline.toISOString(), handle: this.handle };
      this.telemetry.windowOpened(run);
      // The handle may hold credentials (a webhook's literal headers): events and logs get it redacted.
      await this.emit('window.opened', 'fault window open', { handle: redact(this.handle), deadline: deadline.toISOString() });

      halt = await this.monitor(deadline.getTime(), true);
      await this.closeWindow(halt ? 'halt' : 'deadline');

      if (halt) {
        run.halt = halt;
        this.telemetry.halted(run, halt);
        await this.emit('run.halted', `halted by guardrail "${halt.guardrail}": ${halt.reason}`, {
          guardrail: halt.guardrail,
          reason: halt.reason,
          value: halt.value ?? null,
        });
      }

      await this.transition('recovering', 'window closed; waiting for the last samples to land');
      await sleep(spec.analysis.settle ?? 2 * spec.source.step, this.signal);

      await this.transition('analyzing', 'comparing control and experiment');
      try {
        await this.analyze();
      } catch (err) {
        // A halted run is halted whatever the analysis says; its numbers are only explanation.
        if (!halt || this.signal.aborted) throw err;
        await this.emit('analysis.failed', `analysis after the halt failed: ${describeError(err)}`);
      }

      if (halt) {
        run.verdict = 'fail';
        await this.finish('halted', `halted by guardrail "${halt.guardrail}": ${halt.reason}`);
      } else {
        // Holm across every metric's checks: the stored per-metric verdicts agree with the overall one.
        const overall = judgeFamily(run.metrics, { method: 'holm' });
        run.metrics = overall.metrics;
        run.verdict = overall.verdict;
        await this.finish(overall.verdict === 'pass' ? 'passed' : overall.verdict === 'fail' ? 'failed' : 'inconclusive', overall.reason);
      }
    } catch (err) {
      await this.closeWindow(this.signal.aborted ? 'abort' : 'error').catch(() => undefined);
      const reason = this.closeFailure
        ? `CRITICAL: the fault window could not be closed (${this.closeFailedDuring ?? 'close'}): ${describeError(this.closeFailure)}; the fault may still be active until the injector-side deadline`
        : this.signal.aborted || err instanceof AbortedError
          ? describeError(this.signal.aborted ? this.abortError() : err)
          : describeError(err);
      // A fault we could not remove is the one outcome worse than any verdict.
      const state: RunState = this.closeFailure
        ? 'halt_failed'
        : this.signal.aborted || err instanceof AbortedError || err instanceof NotStarted
          ? 'aborted'
          : 'errored';
      if (state === 'errored') this.log.error({ err }, 'run errored');
      if (this.closeFailure && halt) run.halt = halt;
      // Recording the end must not throw past here: the caller needs the record.
      await this.finish(state, reason).catch((e: unknown) => this.log.error({ err: e }, 'could not record the end of the run'));
    }
    return run;
  }

  private abortError(): AbortedError {
    return this.signal.reason instanceof AbortedError ? this.signal.reason : new AbortedError('run aborted');
  }

  private async emit(type: string, message: string, data?: JsonObject): Promise<void> {
    const event: RunEvent = { at: new Date(this.now()).toISOString(), type, message };
    if (data) event.data = data;
    // Evaluations first: a reader who sees the event (a halt, the end) sees what led to it.
    await this.saveEvaluations();
    this.run.events.push(event);
    this.log.info({ event: type, ...data }, message);
    await this.deps.onEvent?.(event, this.run);
  }

  private async transition(state: RunState, message: string): Promise<void> {
    this.run.state = state;
    this.telemetry.phaseChanged(this.run, state);
    await this.emit(`state.${state}`, message);
  }

  private async finish(state: RunState, reason: string): Promise<void> {
    this.run.reason = reason;
    this.run.endedAt = new Date(this.now()).toISOString();
    await this.transition(state, reason);
  }

  private vars(group: Group | undefined): Partial<Record<TemplateVariable, string>> {
    const { metadata } = this.experiment;
    return {
      // Guardrails watch the experiment group: that is where the fault is.
      group: this.spec.groups[group ?? 'experiment'],
      experiment: metadata.name,
      ...(metadata.service ? { service: metadata.service } : {}),
      ...(metadata.environment ? { environment: metadata.environment } : {}),
    };
  }

  /**
   * A range aligned to whole steps, so that every query of a run evaluates at
   * the same instants and incremental chunks line up with the final query.
   */
  private range(startMs: number, endMs: number): TimeRange {
    const step = this.spec.source.step;
    return { start: new Date(Math.ceil(startMs / step) * step), end: new Date(Math.floor(endMs / step) * step), stepMs: step };
  }

  private async preflight(): Promise<void> {
    const { spec, deps } = this;
    try {
      await deps.source.check(this.signal);
      await deps.injector.check(this.signal);
    } catch (err) {
      throw new NotStarted(`preflight: ${describeError(err)}`, { cause: err });
    }
    const end = this.now();
    const range = this.range(end - Math.max(5 * spec.source.step, 10_000), end);
    for (const metric of spec.steadyState) {
      for (const group of GROUPS) {
        const query = renderQuery(metric.query, this.vars(group));
        try {
          const result = await deps.source.queryRange(query, range, this.signal);
          if (result.series.length > 1) {
            throw new NotStarted(
              `preflight: metric "${metric.name}" returned ${result.series.length} series for group ${group}; aggregate it to one (e.g. sum(...))`,
            );
          }
        } catch (err) {
          if (err instanceof NotStarted) throw err;
          if (err instanceof NoDataError) {
            throw new NotStarted(`preflight: metric "${metric.name}" has no data for group ${group} (${query})`);
          }
          throw new NotStarted(`preflight: metric "${metric.name}": ${describeError(err)}`, { cause: err });
        }
      }
    }
    // A guardrail already breached means the system is not in steady state: do not inject.
    const breach = await this.evaluateGuardrails(true);
    if (breach) throw new NotStarted(`preflight: guardrail "${breach.guardrail}" already breached: ${breach.reason}`);
    await this.armKpiGuardrails();
    await this.emit('preflight.ok', 'source, injector and steady state look healthy');
  }

  /** Learn each KPI guardrail's noise from its metric's history before the window (no burn-in in the window). */
  private async armKpiGuardrails(): Promise<void> {
    const end = this.now();
    const armed = await this.kpi.armFromSource(async (metric, group, lookbackMs) => {
      const result = await this.deps.source.queryRange(renderQuery(metric.query, this.vars(group)), this.range(end - lookbackMs, end), this.signal);
      return result.series.length === 1 ? (result.series[0]?.samples ?? []) : [];
    }, (err) => {
      if (this.signal.aborted) throw this.abortError();
      this.log.debug({ err }, 'history query failed; the guardrail learns its noise in the window');
    });
    for (const a of armed) await this.emit('guardrail.armed', `guardrail "${a.guardrail}": ${a.how}`, { guardrail: a.guardrail, noise: a.noise, steps: a.steps });
  }

  /**
   * Evaluate guardrails every interval until `untilMs`, never overlapping
   * itself; return the first halt. Late ticks are not replayed in a burst.
   * During the window, each tick also collects the new steady-state samples
   * and feeds them to the KPI-comparison guardrails' sequential tests.
   */
  private async monitor(untilMs: number, collect: boolean): Promise<HaltInfo | undefined> {
    const interval = this.spec.analysis.interval;
    let next = this.now();
    let due = next; // the tick's schedule before catching up, so an overrun shows as lag
    // Bounded: a window of at most LIMITS.maxFaultDurationMs at ≥ 1 s intervals.
    for (let tick = 0; tick < 100_000; tick++) {
      if (this.signal.aborted) throw this.abortError();
      if (this.now() >= untilMs) return undefined;
      const tickStart = this.now();
      const breach = await this.evaluateGuardrails(false);
      this.telemetry.guardrailsEvaluated(this.run, { durationMs: this.now() - tickStart, lagMs: tickStart - due });
      if (this.signal.aborted) throw this.abortError();
      if (breach) return breach;
      if (collect) {
        const added = await this.collectIncrement();
        const compareBreach = await this.evaluateCompares(added);
        if (compareBreach) return compareBreach;
      }
      await this.saveEvaluations();
      due = next + interval;
      next = Math.max(due, this.now());
      const wait = Math.min(next, untilMs) - this.now();
      if (wait > 0) await sleep(wait, this.signal).catch(() => undefined);
    }
    return undefined;
  }

  private async evaluateGuardrails(once: boolean): Promise<HaltInfo | undefined> {
    const { spec } = this;
    const polled = spec.guardrails.filter((g): g is ThresholdGuardrail | SloGuardrail => g.kind !== 'compare');
    if (polled.length === 0) return undefined;
    const nowMs = this.now();
    // Query timeouts stay inside the interval, so a hung source cannot stall the monitor.
    const timeout = AbortSignal.timeout(Math.max(500, Math.floor(spec.analysis.interval * 0.8)));
    const ctx = { source: this.deps.source, nowMs, stepMs: spec.source.step, signal: AbortSignal.any([this.signal, timeout]) };
    const render = (q: string): string => renderQuery(q, this.vars(undefined));
    const outcomes = await Promise.all(
      polled.map((g) =>
        g.kind === 'slo'
          ? evaluateSlo(ctx, g, burnRateWindows(g, spec.fault.duration, spec.source.step), render)
          : evaluateThreshold(ctx, g, render(g.query)),
      ),
    );
    for (const [i, outcome] of outcomes.entries()) {
      const g = polled[i] as ThresholdGuardrail | SloGuardrail;
      const reason = once
        ? outcome.kind === 'breach'
          ? outcome.reason
          : undefined
        : decide(this.countersOf(g.name), outcome, { for: g.for, onNoData: spec.onNoData, noDataLooks: this.noDataLooks() });
      this.observe(g.name, nowMs, outcome.kind === 'no-data' ? null : outcome.value, outcome.kind === 'breach');
      if (reason) {
        const threshold: NonNullable<HaltInfo['threshold']> = {};
        if (g.kind === 'threshold') {
          if (g.max !== undefined) threshold.max = g.max;
          if (g.min !== undefined) threshold.min = g.min;
        } else threshold.burnRate = g.burnRate;
        return this.haltInfo(g.name, outcome.kind === 'no-data' ? 'no-data' : g.kind, reason, outcome, threshold);
      }
      if (outcome.kind === 'no-data' && !once) {
        await this.emit('guardrail.no_data', `guardrail "${g.name}": ${outcome.reason}`, { guardrail: g.name });
      }
    }
    return undefined;
  }

  private countersOf(name: string): GuardrailCounters {
    let c = this.counters.get(name);
    if (!c) {
      c = { breaches: 0, noData: 0 };
      this.counters.set(name, c);
    }
    return c;
  }

  private noDataLooks(): number {
    return noDataGraceLooks(this.spec.analysis.noDataGrace, this.spec.analysis.interval);
  }

  private observe(guardrail: string, at: number, value: number | null, breached: boolean): void {
    const observation = { guardrail, at, value, breached };
    this.run.guardrails.push(observation);
    this.unsaved.push(observation);
  }

  private async saveEvaluations(): Promise<void> {
    if (this.unsaved.length === 0 || !this.deps.onGuardrailEvaluations) return;
    const batch = this.unsaved;
    this.unsaved = [];
    try {
      await this.deps.onGuardrailEvaluations(batch, this.run);
    } catch (err) {
      this.log.warn({ err, evaluations: batch.length }, 'could not record guardrail evaluations');
    }
  }

  /** The evidence of a halt: what breached, the value, the threshold, and what the guardrail saw just before. */
  private haltInfo(
    guardrail: string,
    kind: NonNullable<HaltInfo['kind']>,
    reason: string,
    outcome: GuardrailOutcome | undefined,
    threshold: NonNullable<HaltInfo['threshold']>,
  ): HaltInfo {
    const info: HaltInfo = { guardrail, kind, reason, at: new Date(this.now()).toISOString(), threshold };
    if (outcome && outcome.kind !== 'no-data') {
      info.value = outcome.value;
      info.observedAt = outcome.at;
    }
    info.recent = this.run.guardrails
      .filter((o) => o.guardrail === guardrail)
      .slice(-10)
      .map((o) => ({ at: o.at, value: o.value }));
    return info;
  }

  /** KPI comparison guardrails (kpi-guardrails.ts): feed the new paired steps, halt on the first rejection. */
  private async evaluateCompares(added: boolean): Promise<HaltInfo | undefined> {
    for (const look of this.kpi.feed(this.run.series)) {
      if (look.looks > 0 || added) this.observe(look.guardrail, this.now(), look.estimate, look.halt !== undefined);
      if (look.halt) {
        const info = this.haltInfo(look.guardrail, 'compare', look.halt.reason, undefined, { alpha: look.halt.alpha });
        if (look.halt.estimate !== null) info.value = look.halt.estimate;
        return info;
      }
      // No new paired step for a while is missing data, like any other guardrail.
      const counters = this.countersOf(look.guardrail);
      if (look.looks === 0) {
        // At least three ticks: one incremental fetch that timed out under load is not missing data.
        const reason = decide(counters, { kind: 'no-data', reason: 'no new samples of the metric for both groups' }, {
          for: 1,
          onNoData: this.spec.onNoData,
          noDataLooks: Math.max(3, this.noDataLooks()),
        });
        if (reason) return this.haltInfo(look.guardrail, 'no-data', reason, undefined, {});
      } else {
        counters.noData = 0;
      }
    }
    return undefined;
  }

  /**
   * Fetch the steady-state samples that arrived since the last tick and hand
   * them to the observer, so a run's data survives the process. Best effort:
   * the final query after the window is what the verdict uses.
   */
  private async collectIncrement(): Promise<boolean> {
    const window = this.run.window;
    if (!window) return false;
    let added = false;
    const step = this.spec.source.step;
    const timeout = AbortSignal.timeout(Math.max(500, Math.floor(this.spec.analysis.interval * 0.8)));
    const signal = AbortSignal.any([this.signal, timeout]);
    // All queries at once: one slow answer must not starve the others of the tick's budget.
    const chunks = await Promise.all(
      this.spec.steadyState.flatMap((metric) =>
        GROUPS.map(async (group) => {
          const from = (this.collectedUntil.get(`${metric.name}\u0000${group}`) ?? Date.parse(window.openedAt) - step) + step;
          const range = this.range(from, this.now());
          if (range.end.getTime() < range.start.getTime()) return null;
          const query = renderQuery(metric.query, this.vars(group));
          try {
            const result = await this.deps.source.queryRange(query, range, signal);
            return { metric: metric.name, group, query, samples: result.series.length === 1 ? (result.series[0]?.samples ?? []) : [] };
          } catch (err) {
            // A missed chunk is fine: the final query after the window fills it.
            this.log.debug({ err, metric: metric.name, group }, 'incremental sample query failed');
            return null;
          }
        }),
      ),
    );
    if (this.signal.aborted) throw this.abortError();
    for (const chunk of chunks) {
      if (chunk && (await this.addSamples(chunk.metric, chunk.group, chunk.query, chunk.samples)) > 0) added = true;
    }
    return added;
  }

  /** Append samples newer than what was collected for (metric, group). */
  private async addSamples(metric: string, group: Group, query: string, samples: Sample[]): Promise<number> {
    const key = `${metric}\u0000${group}`;
    const until = this.collectedUntil.get(key) ?? -Infinity;
    const fresh = samples.filter((s) => s.t > until);
    if (fresh.length === 0) return 0;
    this.collectedUntil.set(key, fresh[fresh.length - 1]?.t ?? until);
    let series = this.run.series.find((s) => s.metric === metric && s.group === group);
    if (!series) {
      series = { metric, group, query, samples: [] };
      this.run.series.push(series);
    }
    series.samples.push(...fresh);
    await this.deps.onSamples?.({ metric, group, query, samples: fresh }, this.run);
    return fresh.length;
  }

  private async closeWindow(by: 'deadline' | 'halt' | 'abort' | 'error'): Promise<void> {
    const { run } = this;
    if (!this.handle || !run.window || run.window.closedAt) return;
    if (this.closeFailure) throw this.closeFailure;
    const handle = this.handle;
    // The close goes out first; recording it must not stand between a halt and
    // the injector (the handle is already stored, so nothing is lost).
    const closingAt = new Date(this.now()).toISOString();
    const retries: RunEvent[] = [{ at: closingAt, type: 'window.closing', message: `closing fault window (${by})`, data: { by } }];
    try {
      // Deliberately not tied to the run's signal: an aborted run must still close.
      await closeWithRetry(this.deps.injector, handle, {
        onRetry: (err, attempt, delayMs) => {
          retries.push({
            at: new Date(this.now()).toISOString(),
            type: 'window.close_retry',
            message: `close failed (attempt ${attempt}): ${describeError(err)}; retrying in ${delayMs}ms`,
          });
        },
      });
    } catch (err) {
      this.closeFailure = err instanceof Error ? err : new Error(String(err));
      this.closeFailedDuring = by;
      this.telemetry.closeFailed(run, by);
      this.log.fatal({ err, handle }, 'fault window could not be closed');
      await this.recordRetries(retries);
      await this.emit('window.close_failed', `CRITICAL: could not close the fault window: ${describeError(err)}`, { critical: true });
      throw this.closeFailure;
    }
    await this.recordRetries(retries);
    run.window.closedAt = new Date(this.now()).toISOString();
    run.window.closedBy = by;
    this.telemetry.windowClosed(run, by);
    await this.emit('window.closed', `fault window closed (${by})`, { by });
  }

  /** Retries are recorded after the close returns: the close loop itself must not wait on the store. */
  private async recordRetries(retries: RunEvent[]): Promise<void> {
    for (const event of retries) {
      this.run.events.push(event);
      await this.deps.onEvent?.(event, this.run);
    }
  }

  private async analyze(): Promise<void> {
    const { run, spec } = this;
    const window = run.window;
    if (!window) return;
    const range = this.range(Date.parse(window.openedAt), Date.parse(window.closedAt ?? new Date(this.now()).toISOString()));
    for (const metric of spec.steadyState) {
      const samples: Partial<Record<Group, Sample[]>> = {};
      let missing: string | undefined;
      for (const group of GROUPS) {
        const query = renderQuery(metric.query, this.vars(group));
        try {
          const result = await this.deps.source.queryRange(query, range, this.signal);
          if (result.series.length !== 1) {
            throw new Error(`metric "${metric.name}" returned ${result.series.length} series for group ${group}; aggregate it to one`);
          }
          samples[group] = result.series[0]?.samples ?? [];
        } catch (err) {
          if (!(err instanceof NoDataError)) throw err;
          samples[group] = [];
          missing = `no data for group ${group}`;
        }
        // Keep what the verdict used: the final query, plus any samples the
        // increments had not seen yet go to the observer.
        await this.addSamples(metric.name, group, query, samples[group] ?? []);
        const kept = run.series.find((s) => s.metric === metric.name && s.group === group);
        if (kept) kept.samples = [...(samples[group] ?? [])];
        else run.series.push({ metric: metric.name, group, query, samples: [...(samples[group] ?? [])] });
      }
      const verdict = judgeCollected(spec, metric, samples.control ?? [], samples.experiment ?? [], this.kpi.history.get(metric.name));
      if (missing) verdict.note = verdict.note ? `${missing}; ${verdict.note}` : missing;
      run.metrics.push(verdict);
    }
    // One Holm family for the run, computed once: the events, the stored verdicts and the headline agree.
    run.metrics = judgeFamily(run.metrics, { method: 'holm' }).metrics;
    for (const verdict of run.metrics) {
      await this.emit('metric.judged', `${verdict.name}: ${verdict.verdict} — ${verdict.reason}`, {
        metric: verdict.name,
        verdict: verdict.verdict,
        pValue: verdict.pValue,
        effect: verdict.effect,
      });
    }
  }

}
