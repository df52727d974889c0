/**
 * The guardrails of one run: one look at every polled guardrail (threshold,
 * SLO burn rate) and at every KPI comparison, the per-guardrail memory between
 * looks (`for: N`, the no-data grace, the sequential tests), the observations
 * that draw the guardrail charts, and the evidence a halt carries.
 *
 * A replica that takes a run over rebuilds that memory from the metric
 * source's history of the window (`replay`), so it halts on what the first
 * owner would have halted on: the data lives in Prometheus or Datadog, not in
 * the process that died.
 */
import type { MetricSource } from '../metric-sources/types.ts';
import type { Experiment, SloGuardrail, ThresholdGuardrail } from '../spec/schema.ts';
import {
  burnRateWindows,
  decide,
  evaluateSlo,
  evaluateThreshold,
  lookBudgetMs,
  noDataGraceLooks,
  type GuardrailCounters,
  type GuardrailOutcome,
} from './guardrails.ts';
import { replayPolledGuardrail } from './guardrail-replay.ts';
import { KpiGuardrails } from './kpi-guardrails.ts';
import type { CollectedSeries, GuardrailObservation, HaltInfo, RunRecord } from './types.ts';

type Spec = Experiment['spec'];
type Polled = ThresholdGuardrail | SloGuardrail;

export interface MonitorDeps {
  source: MetricSource;
  now: () => number;
  /** The guardrail queries with their variables filled in (the experiment group). */
  render: (query: string) => string;
  /** A guardrail without data this look (recorded in the run's timeline). */
  onNoData: (guardrail: string, reason: string) => Promise<void>;
}

export class GuardrailMonitor {
  private readonly counters = new Map<string, GuardrailCounters>();
  private unsaved: GuardrailObservation[] = [];
  /** The KPI-comparison guardrails' sequential tests (kpi-guardrails.ts). */
  readonly kpi: KpiGuardrails;

  constructor(
    private readonly spec: Spec,
    private readonly run: RunRecord,
    private readonly deps: MonitorDeps,
  ) {
    this.kpi = new KpiGuardrails(spec);
  }

  private polled(): Polled[] {
    return this.spec.guardrails.filter((g): g is Polled => g.kind !== 'compare');
  }

  /** One look at every polled guardrail; `once` (preflight) halts on a single breach and keeps no memory. */
  async evaluate(once: boolean, signal: AbortSignal): Promise<HaltInfo | undefined> {
    const { spec } = this;
    const polled = this.polled();
    if (polled.length === 0) return undefined;
    const nowMs = this.deps.now();
    // A look waits at most lookBudgetMs for its answers, so a hung source cannot stall the monitor.
    const timeout = AbortSignal.timeout(lookBudgetMs(spec.analysis.interval));
    const ctx = { source: this.deps.source, nowMs, stepMs: spec.source.step, signal: AbortSignal.any([signal, timeout]) };
    const outcomes = await Promise.all(
      polled.map((g) =>
        g.kind === 'slo'
          ? evaluateSlo(ctx, g, burnRateWindows(g, spec.fault.duration, spec.source.step), this.deps.render)
          : evaluateThreshold(ctx, g, this.deps.render(g.query)),
      ),
    );
    for (const [i, outcome] of outcomes.entries()) {
      const g = polled[i] as Polled;
      const reason = once
        ? outcome.kind === 'breach'
          ? outcome.reason
          : undefined
        : decide(this.countersOf(g.name), outcome, { for: g.for, onNoData: spec.onNoData, noDataLooks: this.noDataLooks() });
      this.observe(g.name, nowMs, outcome.kind === 'no-data' ? null : outcome.value, outcome.kind === 'breach');
      if (reason) return this.polledHalt(g, reason, outcome);
      if (outcome.kind === 'no-data' && !once) await this.deps.onNoData(g.name, outcome.reason);
    }
    return undefined;
  }

  /**
   * Rebuild the polled guardrails' memory from the source's history of
   * [fromMs, toMs] (a takeover): every look the first owner made, replayed at
   * the same interval. A breach the history already shows for `for` looks
   * halts now. Missing history is not replayed as missing data: the next live
   * look decides about that.
   */
  async replay(fromMs: number, toMs: number, signal: AbortSignal): Promise<{ halt?: HaltInfo; looks: number }> {
    let looks = 0;
    for (const g of this.polled()) {
      const outcomes = await replayPolledGuardrail(
        { source: this.deps.source, stepMs: this.spec.source.step, intervalMs: this.spec.analysis.interval, faultDurationMs: this.spec.fault.duration, signal },
        g,
        fromMs,
        toMs,
        this.deps.render,
      );
      const counters = this.countersOf(g.name);
      for (const outcome of outcomes) {
        looks += 1;
        this.observe(g.name, outcome.at, outcome.value, outcome.kind === 'breach');
        const reason = decide(counters, outcome, { for: g.for, onNoData: 'ignore', noDataLooks: this.noDataLooks() });
        if (reason) return { halt: this.polledHalt(g, `${reason} (found in the window's history when the run was taken over)`, outcome), looks };
      }
    }
    return { looks };
  }

  private polledHalt(g: Polled, reason: string, outcome: GuardrailOutcome): HaltInfo {
    const threshold: NonNullable<HaltInfo['threshold']> = {};
    if (g.kind === 'threshold') {
      if (g.max !== undefined) threshold.max = g.max;
      if (g.min !== undefined) threshold.min = g.min;
    } else threshold.burnRate = g.burnRate;
    return this.haltInfo(g.name, outcome.kind === 'no-data' ? 'no-data' : g.kind, reason, outcome, threshold);
  }

  /**
   * KPI comparison guardrails (kpi-guardrails.ts): feed the new paired steps, halt on the first rejection.
   * `guardrailSeries`: what the collector gathered for the guardrails alone (a shorter window).
   */
  evaluateCompares(added: boolean, guardrailSeries: readonly CollectedSeries[] = []): HaltInfo | undefined {
    for (const look of this.kpi.feed([...this.run.series, ...guardrailSeries])) {
      if (look.looks > 0 || added) this.observe(look.guardrail, this.deps.now(), look.estimate, look.halt !== undefined);
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

  /** Evaluations made since the last call, for the observer (RunObserver.onGuardrailEvaluations). */
  takeUnsaved(): GuardrailObservation[] {
    const batch = this.unsaved;
    this.unsaved = [];
    return batch;
  }

  private observe(guardrail: string, at: number, value: number | null, breached: boolean): void {
    const observation = { guardrail, at, value, breached };
    this.run.guardrails.push(observation);
    this.unsaved.push(observation);
  }

  /** The evidence of a halt: what breached, the value, the threshold, and what the guardrail saw just before. */
  private haltInfo(
    guardrail: string,
    kind: NonNullable<HaltInfo['kind']>,
    reason: string,
    outcome: GuardrailOutcome | undefined,
    threshold: NonNullable<HaltInfo['threshold']>,
  ): HaltInfo {
    const info: HaltInfo = { guardrail, kind, reason, at: new Date(this.deps.now()).toISOString(), threshold };
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
}
