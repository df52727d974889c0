/**
 * The run engine: the one owner of a run's state. It drives a run through
 * preflight → baseline → injecting → recovering → analyzing → a terminal
 * state, records every transition as an event, and guarantees one thing above
 * all: a fault window it opened is closed on every exit path — verdict, halt,
 * error, Ctrl-C. (The injector side also holds the deadline, for the exits
 * this process does not survive.)
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { closeWithRetry } from '../injectors/close.ts';
import type { Injector, InjectorHandle } from '../injectors/types.ts';
import { AbortedError, describeError, NoDataError } from '../lib/errors.ts';
import type { JsonObject } from '../lib/json.ts';
import { sleep } from '../lib/retry.ts';
import type { MetricSource, Sample } from '../metric-sources/types.ts';
import type { Experiment, Guardrail, SteadyStateMetric } from '../spec/schema.ts';
import { renderQuery, type TemplateVariable } from '../spec/template.ts';
import { judgeMetric, overallVerdict, type MetricVerdict } from '../stats/verdict.ts';
import { decide, evaluateGuardrail, type GuardrailCounters } from './guardrails.ts';
import type { Group, HaltInfo, RunEvent, RunRecord, RunState } from './types.ts';

export interface RunDeps {
  source: MetricSource;
  injector: Injector;
  logger: Logger;
  /** Called after every event, e.g. to print progress or persist. */
  onEvent?: (event: RunEvent, run: Readonly<RunRecord>) => void;
  now?: () => number;
}

export interface RunOptions {
  runId?: string;
  /** Aborting it (Ctrl-C, API abort) closes the window and ends the run `aborted`. */
  signal?: AbortSignal;
}

/** Sortable, unique, safe in file names and URLs. */
export function newRunId(now = Date.now()): string {
  return `run-${new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

/** Thrown when preflight or baseline finds the system unfit for a fault. */
class NotStarted extends Error {}

export async function executeRun(experiment: Experiment, deps: RunDeps, opts: RunOptions = {}): Promise<RunRecord> {
  const now = deps.now ?? Date.now;
  const signal = opts.signal ?? new AbortController().signal;
  const spec = experiment.spec;
  const run: RunRecord = {
    id: opts.runId ?? newRunId(now()),
    experiment: experiment.metadata.name,
    state: 'pending',
    verdict: null,
    reason: '',
    startedAt: new Date(now()).toISOString(),
    endedAt: null,
    metrics: [],
    series: [],
    guardrails: [],
    events: [],
  };
  const log = deps.logger.child({ runId: run.id, experiment: run.experiment });

  const emit = (type: string, message: string, data?: JsonObject): void => {
    const event: RunEvent = { at: new Date(now()).toISOString(), type, message };
    if (data) event.data = data;
    run.events.push(event);
    log.info({ event: type, ...data }, message);
    deps.onEvent?.(event, run);
  };
  const transition = (state: RunState, message: string): void => {
    run.state = state;
    emit(`state.${state}`, message);
  };

  const vars = (group: Group | undefined): Partial<Record<TemplateVariable, string>> => ({
    group: group ? spec.groups[group] : spec.groups.experiment,
    experiment: experiment.metadata.name,
    ...(experiment.metadata.service ? { service: experiment.metadata.service } : {}),
    ...(experiment.metadata.environment ? { environment: experiment.metadata.environment } : {}),
  });

  let handle: InjectorHandle | undefined;
  let halt: HaltInfo | undefined;
  let closeFailure: Error | undefined;
  const abortError = (): AbortedError =>
    signal.reason instanceof AbortedError ? signal.reason : new AbortedError('run aborted');

  try {
    transition('preflight', 'checking the source, the injector and the steady state');
    await preflight();

    if (spec.analysis.baseline > 0) {
      transition('baseline', `watching both groups for ${spec.analysis.baseline / 1000}s before injecting`);
      const breach = await monitor(now() + spec.analysis.baseline);
      if (breach) throw new NotStarted(`guardrail "${breach.guardrail}" breached during baseline: ${breach.reason}`);
    }

    transition('injecting', `opening the fault window (${spec.fault.injector}, ${spec.fault.duration / 1000}s)`);
    const deadline = new Date(now() + spec.fault.duration);
    // Intent first, so a crash between here and the next event is recoverable.
    emit('window.opening', 'opening fault window', { injector: spec.fault.injector, deadline: deadline.toISOString() });
    handle = await deps.injector.open({ runId: run.id, experiment: run.experiment, deadline, signal });
    run.window = { openedAt: new Date(now()).toISOString(), deadline: deadline.toISOString(), handle };
    emit('window.opened', 'fault window open', { handle, deadline: deadline.toISOString() });

    halt = await monitor(deadline.getTime());
    await closeWindow(halt ? 'halt' : 'deadline');

    if (halt) {
      run.halt = halt;
      emit('run.halted', `halted by guardrail "${halt.guardrail}": ${halt.reason}`, { guardrail: halt.guardrail, reason: halt.reason, value: halt.value ?? null });
    }

    transition('recovering', 'window closed; waiting for the last samples to land');
    await sleep(spec.analysis.settle ?? 2 * spec.source.step, signal);

    transition('analyzing', 'comparing control and experiment');
    await analyze();

    if (halt) {
      run.verdict = 'fail';
      finish('halted', `halted by guardrail "${halt.guardrail}": ${halt.reason}`);
    } else {
      const overall = overallVerdict(run.metrics);
      run.verdict = overall.verdict;
      finish(overall.verdict === 'pass' ? 'passed' : overall.verdict === 'fail' ? 'failed' : 'inconclusive', overall.reason);
    }
  } catch (err) {
    await closeWindow(signal.aborted ? 'abort' : 'error').catch(() => undefined);
    if (closeFailure !== undefined) {
      finish('errored', `CRITICAL: the fault window could not be closed: ${describeError(closeFailure)}`);
    } else if (signal.aborted || err instanceof AbortedError) {
      finish('aborted', describeError(signal.aborted ? abortError() : err));
    } else if (err instanceof NotStarted) {
      finish('aborted', err.message);
    } else {
      log.error({ err }, 'run errored');
      finish('errored', describeError(err));
    }
  }
  return run;

  function finish(state: RunState, reason: string): void {
    run.reason = reason;
    run.endedAt = new Date(now()).toISOString();
    transition(state, reason);
  }

  async function preflight(): Promise<void> {
    try {
      await deps.source.check(signal);
      await deps.injector.check(signal);
    } catch (err) {
      throw new NotStarted(`preflight: ${describeError(err)}`, { cause: err });
    }
    const end = now();
    const range = { start: new Date(end - Math.max(5 * spec.source.step, 10_000)), end: new Date(end), stepMs: spec.source.step };
    for (const metric of spec.steadyState) {
      for (const group of ['control', 'experiment'] as const) {
        const query = renderQuery(metric.query, vars(group));
        try {
          const result = await deps.source.queryRange(query, range, signal);
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
    const breach = await evaluateAll(new Map(), true);
    if (breach) throw new NotStarted(`preflight: guardrail "${breach.guardrail}" already breached: ${breach.reason}`);
    emit('preflight.ok', 'source, injector and steady state look healthy');
  }

  /**
   * Evaluate guardrails every interval until `untilMs`, never overlapping
   * itself; return the first halt. Late ticks are not replayed in a burst.
   */
  async function monitor(untilMs: number): Promise<HaltInfo | undefined> {
    const counters = new Map<string, GuardrailCounters>();
    let next = now();
    for (let tick = 0; tick < 1_000_000; tick++) {
      if (signal.aborted) throw abortError();
      if (now() >= untilMs) return undefined;
      const breach = await evaluateAll(counters, false);
      if (signal.aborted) throw abortError();
      if (breach) return breach;
      next = Math.max(next + spec.analysis.interval, now());
      const wait = Math.min(next, untilMs) - now();
      if (wait > 0) await sleep(wait, signal).catch(() => undefined);
    }
    return undefined;
  }

  async function evaluateAll(counters: Map<string, GuardrailCounters>, once: boolean): Promise<HaltInfo | undefined> {
    if (spec.guardrails.length === 0) return undefined;
    const at = now();
    // Query timeouts stay inside the interval, so a hung source cannot stall the monitor.
    const timeout = AbortSignal.timeout(Math.max(500, Math.floor(spec.analysis.interval * 0.8)));
    const evalSignal = AbortSignal.any([signal, timeout]);
    const outcomes = await Promise.all(
      spec.guardrails.map((g) =>
        evaluateGuardrail(deps.source, g, renderQuery(g.query, vars(undefined)), at, spec.source.step, evalSignal),
      ),
    );
    for (const [i, outcome] of outcomes.entries()) {
      const g = spec.guardrails[i] as Guardrail;
      const c = counters.get(g.name) ?? { breaches: 0, noData: 0 };
      counters.set(g.name, c);
      run.guardrails.push({
        guardrail: g.name,
        at,
        value: outcome.kind === 'no-data' ? null : outcome.value,
        breached: outcome.kind === 'breach',
      });
      // Preflight decides on a single look: a breach now is a breach.
      const reason = once
        ? outcome.kind === 'breach'
          ? outcome.reason
          : undefined
        : decide(c, outcome, g, spec.onNoData);
      if (outcome.kind === 'no-data' && !once) {
        emit('guardrail.no_data', `guardrail "${g.name}": ${outcome.reason}`, { guardrail: g.name });
      }
      if (reason) {
        const info: HaltInfo = { guardrail: g.name, reason, at: new Date(now()).toISOString() };
        if (outcome.kind !== 'no-data') info.value = outcome.value;
        const threshold: { max?: number; min?: number } = {};
        if (g.max !== undefined) threshold.max = g.max;
        if (g.min !== undefined) threshold.min = g.min;
        info.threshold = threshold;
        return info;
      }
    }
    return undefined;
  }

  async function closeWindow(by: 'deadline' | 'halt' | 'abort' | 'error'): Promise<void> {
    if (!handle || !run.window || run.window.closedAt) return;
    if (closeFailure !== undefined) throw closeFailure;
    const h = handle;
    emit('window.closing', `closing fault window (${by})`, { by });
    try {
      // Deliberately not tied to the run's signal: an aborted run must still close.
      await closeWithRetry(deps.injector, h, {
        onRetry: (err, attempt, delayMs) =>
          emit('window.close_retry', `close failed (attempt ${attempt}): ${describeError(err)}; retrying in ${delayMs}ms`),
      });
    } catch (err) {
      closeFailure = err instanceof Error ? err : new Error(String(err));
      emit('window.close_failed', `CRITICAL: could not close the fault window: ${describeError(err)}`, { critical: true });
      log.fatal({ err, handle: h }, 'fault window could not be closed');
      throw err;
    }
    run.window.closedAt = new Date(now()).toISOString();
    run.window.closedBy = by;
    emit('window.closed', `fault window closed (${by})`, { by });
  }

  async function analyze(): Promise<void> {
    const window = run.window;
    if (!window) return;
    const start = new Date(window.openedAt);
    const end = new Date(window.closedAt ?? now());
    for (const metric of spec.steadyState) {
      const samples: Partial<Record<Group, Sample[]>> = {};
      let missing: string | undefined;
      for (const group of ['control', 'experiment'] as const) {
        const query = renderQuery(metric.query, vars(group));
        try {
          const result = await deps.source.queryRange(query, { start, end, stepMs: spec.source.step }, signal);
          if (result.series.length !== 1) {
            throw new Error(`metric "${metric.name}" returned ${result.series.length} series for group ${group}; aggregate it to one`);
          }
          const points = result.series[0]?.samples ?? [];
          samples[group] = points;
          run.series.push({ metric: metric.name, group, query, samples: points });
        } catch (err) {
          if (!(err instanceof NoDataError)) throw err;
          samples[group] = [];
          run.series.push({ metric: metric.name, group, query, samples: [] });
          missing = `no data for group ${group}`;
        }
      }
      const verdict = judge(metric, samples.control ?? [], samples.experiment ?? []);
      if (missing && verdict.verdict !== 'fail') verdict.reason = `${missing}; ${verdict.reason}`;
      run.metrics.push(verdict);
      emit('metric.judged', `${metric.name}: ${verdict.verdict} — ${verdict.reason}`, {
        metric: metric.name,
        verdict: verdict.verdict,
        pValue: verdict.pValue,
        effect: verdict.effect,
      });
    }
  }

  function judge(metric: SteadyStateMetric, control: Sample[], experimentSamples: Sample[]): MetricVerdict {
    return judgeMetric({
      name: metric.name,
      control: control.map((s) => s.v),
      experiment: experimentSamples.map((s) => s.v),
      direction: metric.direction,
      tolerance: metric.tolerance,
      alpha: spec.analysis.alpha,
      minSamples: metric.minSamples ?? spec.analysis.minSamples,
    });
  }
}

