/**
 * Climbing a fault ladder (spec.fault.steps, ADR 022) inside one fault window.
 *
 * The window opens at the first step (the injector is built from its params)
 * with the deadline of the whole ladder, so the injector side ends every step
 * if steadystate dies. Guardrails watch throughout. At the end of each step
 * but the last, the step is judged on its own samples — from one range window
 * after it began, so no sample mixes two levels, to a settle before now — and
 * the ladder stops climbing at the first step that fails (`stopAt: fail`) or
 * that a guardrail halts. Otherwise the injector changes the open fault in
 * place (`Injector.update`) and the next step begins. The last step run is
 * judged after the window closes, on the final samples.
 *
 * Each step is judged at alpha / k (Bonferroni over the k steps), so the
 * ladder's chance of naming a harmless level "harmed" stays within alpha
 * whatever the stopping; Holm across the metrics within a step.
 */
import { InjectorError } from '../lib/errors.ts';
import type { JsonObject } from '../lib/json.ts';
import type { Sample } from '../metric-sources/types.ts';
import { levelLabel } from '../spec/fault-ladder.ts';
import type { Experiment } from '../spec/schema.ts';
import { describeDoseResponse, stepVerdict, summarizeDoseResponse, type StepMetric } from '../stats/dose-response.ts';
import { judgeFamily, type MetricVerdict } from '../stats/verdict.ts';
import type { Injector } from '../injectors/types.ts';
import { judgeCollected, metricShapes } from './kpi-guardrails.ts';
import type { CollectedSeries, HaltInfo, LadderRecord, LadderStep, RunRecord } from './types.ts';

type Spec = Experiment['spec'];
type History = { control: Sample[]; experiment: Sample[] } | null | undefined;

export interface LadderDeps {
  spec: Spec;
  run: RunRecord;
  injector: Injector;
  signal: AbortSignal;
  now: () => number;
  emit: (type: string, message: string, data?: JsonObject) => Promise<void>;
  /** Guardrails (and sample collection) until the given time; a halt ends the climb. */
  monitor: (untilMs: number) => Promise<HaltInfo | undefined>;
  /** Collect the samples that arrived since the last tick. */
  collect: () => Promise<unknown>;
  history: (metric: string) => History;
}

export class LadderDriver {
  readonly record: LadderRecord;
  /** Full verdicts per judged step, for the run's `metrics` (the deciding step's). */
  private readonly verdicts = new Map<number, MetricVerdict[]>();
  private readonly shapes;

  constructor(private readonly deps: LadderDeps) {
    const steps = deps.spec.fault.steps ?? [];
    this.shapes = metricShapes(deps.spec);
    this.record = {
      stopAt: deps.spec.fault.stopAt ?? 'fail',
      alpha: deps.spec.analysis.alpha / Math.max(1, steps.length),
      steps: steps.map((s): LadderStep => ({
        index: s.index,
        params: s.level as JsonObject,
        label: levelLabel(s.level),
        plannedMs: s.duration,
        startedAt: null,
        endedAt: null,
        verdict: null,
        metrics: null,
      })),
    };
    deps.run.ladder = this.record;
  }

  private get data(): JsonObject {
    return { ladder: JSON.parse(JSON.stringify(this.record)) as JsonObject };
  }

  /**
   * Climb from the first step (already in effect: the window opened with its
   * params) to the last, or to the first that fails or halts. Returns the halt.
   */
  async climb(): Promise<HaltInfo | undefined> {
    const { run, spec } = this.deps;
    const window = run.window;
    const steps = spec.fault.steps ?? [];
    if (!window?.handle) return undefined;
    let endMs = Date.parse(window.openedAt);
    for (const step of steps) {
      const rec = this.record.steps[step.index] as LadderStep;
      endMs += step.duration;
      if (step.index === 0) rec.startedAt = window.openedAt;
      else {
        if (!this.deps.injector.update) throw new InjectorError(`the ${spec.fault.injector} injector cannot change an open fault`, { retryable: false });
        await this.deps.injector.update(window.handle, step.params, this.deps.signal);
        const at = new Date(this.deps.now()).toISOString();
        (this.record.steps[step.index - 1] as LadderStep).endedAt = at;
        rec.startedAt = at;
      }
      await this.deps.emit('ladder.step', `step ${step.index + 1} of ${steps.length}: ${rec.label} for ${step.duration / 1000}s`, { step: step.index, ...this.data });
      const last = step.index === steps.length - 1;
      const halt = await this.deps.monitor(last ? Date.parse(window.deadline) : endMs);
      if (halt) {
        this.record.stopped = { index: step.index, by: 'halt', reason: `guardrail "${halt.guardrail}": ${halt.reason}` };
        return halt;
      }
      if (last) return undefined;
      await this.deps.collect();
      const now = this.deps.now();
      const settle = spec.analysis.settle ?? 2 * spec.source.step;
      this.judge(step.index, now - settle, this.deps.run.series);
      await this.deps.emit('ladder.judged', `step ${step.index + 1} (${rec.label}): ${rec.verdict ?? 'not judged'}`, { step: step.index, ...this.data });
      if (rec.verdict === 'fail' && this.record.stopAt === 'fail') {
        const failed = (rec.metrics ?? []).filter((m) => m.verdict === 'fail').map((m) => m.name);
        this.record.stopped = { index: step.index, by: 'fail', reason: `step ${step.index + 1} (${rec.label}) failed: ${failed.join(', ')}` };
        await this.deps.emit('ladder.stopped', `the ladder stops climbing: ${this.record.stopped.reason}`, this.data);
        return undefined;
      }
    }
    return undefined;
  }

  /**
   * After the window closed and the final samples are in: close the last
   * step's span, judge the steps not judged yet, and read the dose–response.
   * Returns the run's verdict, reason and metrics (the deciding step's).
   */
  async finish(series: readonly CollectedSeries[]): Promise<{ verdict: 'pass' | 'fail' | 'inconclusive'; reason: string; metrics: MetricVerdict[] }> {
    const { run } = this.deps;
    const closedAt = run.window?.closedAt ?? new Date(this.deps.now()).toISOString();
    for (const rec of this.record.steps) {
      if (rec.startedAt && !rec.endedAt) rec.endedAt = closedAt;
      if (rec.startedAt && rec.metrics === null) this.judge(rec.index, Date.parse(rec.endedAt ?? closedAt), series);
    }
    const dose = summarizeDoseResponse(this.record.steps.map((s) => ({ index: s.index, label: s.label, metrics: s.metrics })));
    this.record.doseResponse = dose;
    const run_ = this.record.steps.filter((s) => s.startedAt !== null);
    const sentence = describeDoseResponse(dose, run_.length, this.record.steps.length);
    const failed = run_.find((s) => s.verdict === 'fail');
    const deciding = failed ?? run_[run_.length - 1];
    const metrics = deciding ? (this.verdicts.get(deciding.index) ?? []) : [];
    const verdict = failed ? 'fail' : run_.length === this.record.steps.length && run_.every((s) => s.verdict === 'pass') ? 'pass' : 'inconclusive';
    await this.deps.emit('ladder.summary', `dose–response: ${sentence}`, this.data);
    return { verdict, reason: `fault ladder: ${sentence}`, metrics };
  }

  /** Judge one step on its samples up to `untilMs` (its end, or a settle before now). */
  private judge(index: number, untilMs: number, series: readonly CollectedSeries[]): void {
    const { spec } = this.deps;
    const rec = this.record.steps[index];
    if (!rec?.startedAt) return;
    const start = Date.parse(rec.startedAt);
    const to = Math.min(untilMs, Date.parse(rec.endedAt ?? new Date(untilMs).toISOString()));
    const stepSpec: Spec = { ...spec, analysis: { ...spec.analysis, alpha: this.record.alpha } };
    let earliest = Infinity;
    const raw = spec.steadyState.map((metric) => {
      // A sample at t covers (t − window, t]: only those wholly inside the step measure its level.
      const lead = Math.max(this.shapes.get(metric.name)?.windowMs ?? 0, spec.source.step);
      const from = start + lead;
      earliest = Math.min(earliest, from);
      const pick = (group: 'control' | 'experiment'): Sample[] =>
        (series.find((s) => s.metric === metric.name && s.group === group)?.samples ?? []).filter((s) => s.t >= from && s.t <= to);
      return judgeCollected(stepSpec, metric, pick('control'), pick('experiment'), this.deps.history(metric.name));
    });
    const judged = judgeFamily(raw, { method: 'holm' }).metrics;
    this.verdicts.set(index, judged);
    rec.metrics = judged.map(stepMetric);
    rec.verdict = stepVerdict(rec.metrics);
    rec.judged = { from: new Date(Math.min(earliest, to)).toISOString(), to: new Date(to).toISOString() };
  }
}

function stepMetric(m: MetricVerdict): StepMetric {
  return {
    name: m.name,
    verdict: m.verdict,
    reason: m.reason,
    effect: m.effect,
    relativeEffect: m.relativeEffect,
    ci: m.ci,
    relativeCi: m.relativeCi ?? null,
    pValue: m.pValue,
    allowed: m.allowed,
    toleranceKind: m.tolerance.kind,
    tolerance: m.tolerance.value,
    direction: m.direction ?? 'either',
    n: { control: m.control.n, experiment: m.experiment.n },
  };
}
