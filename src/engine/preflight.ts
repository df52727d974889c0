/**
 * Before a fault: the source and the injector answer, every steady-state
 * metric has data (one series per group), no guardrail is already breached;
 * and the KPI-comparison guardrails learn their noise from the history before
 * the window, so nothing in the window waits for a burn-in.
 */
import type { Logger } from 'pino';
import type { Injector } from '../injectors/types.ts';
import { describeError } from '../lib/errors.ts';
import type { JsonObject } from '../lib/json.ts';
import type { MetricSource, TimeRange } from '../metric-sources/types.ts';
import type { Experiment } from '../spec/schema.ts';
import type { GuardrailMonitor } from './guardrail-monitor.ts';
import type { BothGroups, GroupQueries } from './group-queries.ts';

/** Thrown when preflight or baseline finds the system unfit for a fault: the run ends `aborted`, nothing injected. */
export class NotStarted extends Error {}

export const GROUPS = ['control', 'experiment'] as const;

export interface PreflightContext {
  spec: Experiment['spec'];
  source: MetricSource;
  injector: Injector;
  monitor: GuardrailMonitor;
  signal: AbortSignal;
  log: Logger;
  now: () => number;
  range: (startMs: number, endMs: number) => TimeRange;
  /** The steady-state queries, both groups at once (group-queries.ts). */
  queries: GroupQueries;
  emit: (type: string, message: string, data?: JsonObject) => Promise<void>;
  abortError: () => Error;
}

export async function preflight(ctx: PreflightContext): Promise<void> {
  const { spec } = ctx;
  try {
    await ctx.source.check(ctx.signal);
    await ctx.injector.check(ctx.signal);
  } catch (err) {
    throw new NotStarted(`preflight: ${describeError(err)}`, { cause: err });
  }
  const end = ctx.now();
  const range = ctx.range(end - Math.max(5 * spec.source.step, 10_000), end);
  for (const metric of spec.steadyState) {
    let answers: BothGroups;
    try {
      answers = await ctx.queries.both(metric, range, ctx.signal);
    } catch (err) {
      throw new NotStarted(`preflight: metric "${metric.name}": ${describeError(err)}`, { cause: err });
    }
    for (const group of GROUPS) {
      const { query, seriesCount } = answers[group];
      if (seriesCount > 1) {
        throw new NotStarted(`preflight: metric "${metric.name}" returned ${seriesCount} series for group ${group}; aggregate it to one (e.g. sum(...))`);
      }
      if (seriesCount === 0) throw new NotStarted(`preflight: metric "${metric.name}" has no data for group ${group} (${query})`);
    }
    const plan = ctx.queries.plan(metric);
    await ctx.emit(
      'collection.planned',
      plan.ok
        ? `metric "${metric.name}": one query by (${plan.grouped.label}) per look for both groups`
        : `metric "${metric.name}": one query per group per look (${plan.reason})`,
      { metric: metric.name, grouped: plan.ok, ...(plan.ok ? { query: plan.grouped.query } : { reason: plan.reason }) },
    );
  }
  // A guardrail already breached means the system is not in steady state: do not inject.
  const breach = await ctx.monitor.evaluate(true, ctx.signal);
  if (breach) throw new NotStarted(`preflight: guardrail "${breach.guardrail}" already breached: ${breach.reason}`);
  await armKpiGuardrails(ctx, ctx.now());
  await ctx.emit('preflight.ok', 'source, injector and steady state look healthy');
}

/**
 * Learn each KPI guardrail's noise from its metric's history before `endMs`
 * (now, or the window's open time for a run taken over), and keep that
 * history for the verdict.
 */
export async function armKpiGuardrails(ctx: Omit<PreflightContext, 'injector'>, endMs: number): Promise<void> {
  const armed = await ctx.monitor.kpi.armFromSource(
    async (metric, lookbackMs) => {
      const answers = await ctx.queries.both(metric, ctx.range(endMs - lookbackMs, endMs), ctx.signal);
      return { control: answers.control.samples, experiment: answers.experiment.samples };
    },
    (err) => {
      if (ctx.signal.aborted) throw ctx.abortError();
      ctx.log.debug({ err }, 'history query failed; the guardrail learns its noise in the window');
    },
  );
  for (const a of armed) {
    const data = { guardrail: a.guardrail, noise: a.noise, steps: a.steps, ...(a.query ? { query: a.query, windowSteps: a.windowSteps ?? 1 } : {}) };
    await ctx.emit('guardrail.armed', `guardrail "${a.guardrail}": ${a.how}`, data);
  }
}
