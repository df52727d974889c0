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
 * leaves enough behind for another one to close the fault — or to continue
 * the run (`opts.resume`, ADR 015): a run taken over mid-window is watched to
 * its original deadline and judged, its guardrails' memory rebuilt from the
 * metric source's history of the window.
 */
import type { Logger } from 'pino';
import { redact } from '../lib/redact.ts';
import { AbortedError, describeError, LeaseLostError } from '../lib/errors.ts';
import type { JsonObject } from '../lib/json.ts';
import { sleep } from '../lib/retry.ts';
import type { Sample, TimeRange } from '../metric-sources/types.ts';
import { NOOP_TELEMETRY, type Telemetry } from '../observability/telemetry.ts';
import type { Experiment } from '../spec/schema.ts';
import { renderQuery, templateVars, type TemplateVariable } from '../spec/template.ts';
import { judgeFamily } from '../stats/verdict.ts';
import { combineWithAlerts } from '../alerts/combine.ts';
import { GroupQueries } from './group-queries.ts';
import { GuardrailMonitor } from './guardrail-monitor.ts';
import { judgeCollected } from './kpi-guardrails.ts';
import { LadderDriver } from './ladder-driver.ts';
import { GROUPS, NotStarted, preflight, type PreflightContext } from './preflight.ts';
import { takeOver } from './take-over.ts';
import { newRunId, type RunDeps, type RunOptions } from './run-options.ts';
import { RunHooks } from './run-hooks.ts';
import type { Group, HaltInfo, RunEvent, RunRecord, RunState } from './types.ts';
import { SampleCollector } from './sample-collector.ts';
import { WindowCloser } from './window-close.ts';

export { newRunId, type ResumePoint, type RunDeps, type RunObserver, type RunOptions } from './run-options.ts';

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
  private readonly collector: SampleCollector;
  /** A fault ladder's climb (spec.fault.steps, ADR 022); undefined for a single setting. */
  private readonly ladder: LadderDriver | undefined;
  private readonly hooks: RunHooks;
  private readonly guardrails: GuardrailMonitor;
  private readonly closer: WindowCloser;
  /** Steady-state queries, one per look for both groups where the query allows (group-queries.ts). */
  private readonly queries: GroupQueries;

  constructor(
    private readonly experiment: Experiment,
    private readonly deps: RunDeps,
    private readonly opts: RunOptions,
  ) {
    this.spec = experiment.spec;
    this.queries = new GroupQueries(experiment.spec, deps.source, (group) => this.vars(group));
    this.now = deps.now ?? Date.now;
    this.signal = opts.signal ?? new AbortController().signal;
    this.telemetry = deps.telemetry ?? NOOP_TELEMETRY;
    this.run = opts.resume
      ? // Samples and guardrail looks are read again from the source: the data lives there, not in the dead process.
        { ...opts.resume.run, series: [], guardrails: [], metrics: [], events: [...opts.resume.run.events] }
      : {
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
    const hookContext = { run: this.run, emit: this.emit.bind(this), log: this.log, now: this.now, signal: this.signal };
    this.hooks = new RunHooks(deps.hooks ?? [], hookContext);
    this.guardrails = new GuardrailMonitor(this.spec, this.run, {
      source: deps.source,
      now: this.now,
      render: (q) => renderQuery(q, this.vars(undefined)),
      onNoData: (guardrail, reason) => this.emit('guardrail.no_data', `guardrail "${guardrail}": ${reason}`, { guardrail }),
    });
    this.collector = new SampleCollector({
      spec: this.spec,
      run: this.run,
      queries: this.queries,
      signal: this.signal,
      log: this.log,
      now: this.now,
      range: (a, b) => this.range(a, b),
      onSamples: (chunk, run) => deps.onSamples?.(chunk, run),
      abortError: () => this.abortError(),
      guardrailFeeds: () => this.guardrails.kpi.feeds(),
      readEachLook: () => this.guardrails.kpi.readEachLook(),
    });
    this.ladder = this.spec.fault.steps
      ? new LadderDriver({
          spec: this.spec,
          run: this.run,
          injector: deps.injector,
          signal: this.signal,
          now: this.now,
          emit: (type, message, data) => this.emit(type, message, data),
          monitor: (until) => this.monitor(until, true),
          collect: async () => {
            await this.collector.increment(true);
            await this.collector.settled();
          },
          history: (metric) => this.guardrails.kpi.history.get(metric),
        })
      : undefined;
    this.closer = new WindowCloser(this.run, {
      injector: deps.injector,
      telemetry: this.telemetry,
      log: this.log,
      now: this.now,
      emit: (type, message, data) => this.emit(type, message, data),
      record: async (event) => {
        this.run.events.push(event);
        await this.deps.onEvent?.(event, this.run);
      },
    });
  }

  async execute(): Promise<RunRecord> {
    const { spec, run } = this;
    let halt: HaltInfo | undefined;
    try {
      const resume = this.opts.resume;
      if (resume) {
        halt = await takeOver({ ...this.context(), run: this.run, resume, actor: this.opts.actor, telemetry: this.telemetry });
      } else {
        await this.emit('run.started', `run started by ${this.opts.actor ?? 'unknown'}`, { actor: this.opts.actor ?? null });
        await this.transition('preflight', 'checking the source, the injector and the steady state');
        await preflight({ ...this.context(), injector: this.deps.injector });

        if (spec.analysis.baseline > 0) {
          await this.transition('baseline', `watching both groups for ${spec.analysis.baseline / 1000}s before injecting`);
          const breach = await this.monitor(this.now() + spec.analysis.baseline, false);
          if (breach) throw new NotStarted(`guardrail "${breach.guardrail}" breached during baseline: ${breach.reason}`);
        }
        await this.openWindow();
      }

      const window = run.window;
      if (window && !window.closedAt) {
        halt ??= this.ladder ? await this.ladder.climb() : await this.monitor(Date.parse(window.deadline), true);
        await this.closer.close(halt ? 'halt' : this.ladder?.record.stopped?.by === 'fail' ? 'ladder' : 'deadline');
        if (halt) {
          run.halt = halt;
          this.telemetry.halted(run, halt);
          await this.emit('run.halted', `halted by guardrail "${halt.guardrail}": ${halt.reason}`, {
            guardrail: halt.guardrail,
            reason: halt.reason,
            value: halt.value ?? null,
          });
        }
      }
      // A run taken over after its window closed by a halt keeps that halt.
      halt ??= run.halt;

      if (run.state !== 'analyzing') {
        await this.transition('recovering', 'window closed; waiting for the last samples to land');
        await sleep(spec.analysis.settle ?? 2 * spec.source.step, this.signal);
      }

      await this.transition('analyzing', 'comparing control and experiment');
      try {
        await this.analyze();
      } catch (err) {
        // A halted run is halted whatever the analysis says; its numbers are only explanation.
        if (!halt || this.signal.aborted) throw err;
        await this.emit('analysis.failed', `analysis after the halt failed: ${describeError(err)}`);
      }

      await this.settleHooks();
      if (halt) {
        run.verdict = 'fail';
        await this.finish('halted', `halted by guardrail "${halt.guardrail}": ${halt.reason}`);
      } else {
        // A ladder's verdict is its dose–response (ladder-driver.ts); otherwise Holm across every metric's checks.
        const overall = this.ladder ? await this.ladder.finish(run.series) : judgeFamily(run.metrics, { method: 'holm' });
        run.metrics = overall.metrics;
        const state = overall.verdict === 'pass' ? 'passed' : overall.verdict === 'fail' ? 'failed' : 'inconclusive';
        const outcome = combineWithAlerts({ state, verdict: overall.verdict, reason: overall.reason }, run.alerts);
        run.verdict = outcome.verdict;
        await this.finish(outcome.state, outcome.reason);
      }
    } catch (err) {
      if (this.signal.reason instanceof LeaseLostError) {
        // Another replica holds the run now and drives it from here: its window and its end are its own.
        this.log.warn({ reason: this.signal.reason.message }, 'stopped driving the run: its lease is held by another replica');
        return run;
      }
      await this.closer.close(this.signal.aborted ? 'abort' : 'error').catch(() => undefined);
      const { failure, failedDuring } = this.closer;
      const reason = failure
        ? `CRITICAL: the fault window could not be closed (${failedDuring ?? 'close'}): ${describeError(failure)}; the fault may still be active until the injector-side deadline`
        : this.signal.aborted || err instanceof AbortedError
          ? describeError(this.signal.aborted ? this.abortError() : err)
          : describeError(err);
      // A fault we could not remove is the one outcome worse than any verdict.
      const state: RunState = failure
        ? 'halt_failed'
        : this.signal.aborted || err instanceof AbortedError || err instanceof NotStarted
          ? 'aborted'
          : 'errored';
      if (state === 'errored') this.log.error({ err }, 'run errored');
      if (failure && halt) run.halt = halt;
      await this.settleHooks().catch((e: unknown) => this.log.warn({ err: e }, 'run hooks did not settle'));
      // Recording the end must not throw past here: the caller needs the record.
      await this.finish(state, reason).catch((e: unknown) => this.log.error({ err: e }, 'could not record the end of the run'));
    }
    return run;
  }

  private async openWindow(): Promise<void> {
    const { spec, run } = this;
    await this.transition('injecting', `opening the fault window (${spec.fault.injector}, ${spec.fault.duration / 1000}s)`);
    const deadline = new Date(this.now() + spec.fault.duration);
    // Intent first, so a crash between here and the next event is recoverable.
    await this.emit('window.opening', 'opening fault window', { injector: spec.fault.injector, deadline: deadline.toISOString() });
    const handle = await this.deps.injector.open({ runId: run.id, experiment: run.experiment, deadline, signal: this.signal });
    run.window = { openedAt: new Date(this.now()).toISOString(), deadline: deadline.toISOString(), handle };
    this.telemetry.windowOpened(run);
    // The handle may hold credentials (a webhook's literal headers): events and logs get it redacted.
    await this.emit('window.opened', 'fault window open', { handle: redact(handle), deadline: deadline.toISOString() });
  }

  private context(): Omit<PreflightContext, 'injector'> {
    return {
      spec: this.spec,
      source: this.deps.source,
      monitor: this.guardrails,
      signal: this.signal,
      log: this.log,
      now: this.now,
      range: (a, b) => this.range(a, b),
      queries: this.queries,
      emit: (type, message, data) => this.emit(type, message, data),
      abortError: () => this.abortError(),
    };
  }

  private async saveEvaluations(): Promise<void> {
    // Drained even without an observer (a CLI run): the batch would otherwise grow for the whole window.
    const batch = this.guardrails.takeUnsaved();
    if (batch.length === 0 || !this.deps.onGuardrailEvaluations) return;
    try {
      await this.deps.onGuardrailEvaluations(batch, this.run);
    } catch (err) {
      this.log.warn({ err, evaluations: batch.length }, 'could not record guardrail evaluations');
    }
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
    this.hooks.dispatch(event);
  }

  /** Let the run's hooks finish (bounded); the alerts verdict joins the run and its timeline. */
  private async settleHooks(): Promise<void> {
    const { alerts } = await this.hooks.settle();
    if (!alerts || this.run.alerts) return;
    this.run.alerts = alerts;
    await this.emit('alerts.judged', `alerts: ${alerts.verdict} — ${alerts.reason}`, { alerts: alerts as unknown as JsonObject });
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
    return templateVars(this.experiment, group);
  }

  /**
   * A range aligned to whole steps, so that every query of a run evaluates at
   * the same instants and incremental chunks line up with the final query.
   */
  private range(startMs: number, endMs: number): TimeRange {
    const step = this.spec.source.step;
    return { start: new Date(Math.ceil(startMs / step) * step), end: new Date(Math.floor(endMs / step) * step), stepMs: step };
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
      // The samples are fetched while the polled guardrails are: each gets the tick's whole budget.
      // A halt does not wait for it (analyze does).
      const collecting = collect ? this.collector.increment() : undefined;
      const breach = await this.guardrails.evaluate(false, this.signal);
      this.telemetry.guardrailsEvaluated(this.run, { durationMs: this.now() - tickStart, lagMs: tickStart - due });
      if (this.signal.aborted) throw this.abortError();
      if (breach) return breach;
      if (collecting) {
        const added = await collecting;
        const compareBreach = this.guardrails.evaluateCompares(added, this.collector.guardrailSeries);
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


  private async analyze(): Promise<void> {
    const { run, spec } = this;
    const window = run.window;
    if (!window) return;
    // A collection a halt left behind settles first, so it cannot add to the series under the verdict.
    await this.collector.settled();
    const range = this.range(Date.parse(window.openedAt), Date.parse(window.closedAt ?? new Date(this.now()).toISOString()));
    for (const metric of spec.steadyState) {
      const samples: Partial<Record<Group, Sample[]>> = {};
      let missing: string | undefined;
      const answers = await this.queries.both(metric, range, this.signal);
      for (const group of GROUPS) {
        const { query, seriesCount } = answers[group];
        if (seriesCount > 1) throw new Error(`metric "${metric.name}" returned ${seriesCount} series for group ${group}; aggregate it to one`);
        samples[group] = answers[group].samples;
        if (seriesCount === 0) missing = `no data for group ${group}`;
        // Keep what the verdict used: the final query, plus any samples the
        // increments had not seen yet go to the observer.
        await this.collector.add(metric.name, group, query, samples[group] ?? []);
        const kept = run.series.find((s) => s.metric === metric.name && s.group === group);
        if (kept) kept.samples = [...(samples[group] ?? [])];
        else run.series.push({ metric: metric.name, group, query, samples: [...(samples[group] ?? [])] });
      }
      // A ladder is judged per step (ladder-driver.ts): the whole window mixes levels.
      if (this.ladder) continue;
      const verdict = judgeCollected(spec, metric, samples.control ?? [], samples.experiment ?? [], this.guardrails.kpi.history.get(metric.name));
      if (missing) verdict.note = verdict.note ? `${missing}; ${verdict.note}` : missing;
      run.metrics.push(verdict);
    }
    if (this.ladder) {
      // A halted ladder is judged here: its numbers explain the halt.
      if (run.halt) run.metrics = (await this.ladder.finish(run.series)).metrics;
      return;
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
