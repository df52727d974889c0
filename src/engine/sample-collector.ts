/**
 * The steady-state samples of a run's window as they arrive: each tick of the
 * monitor fetches what is new since the last one (both groups, every metric at
 * once) and hands it to the observer, so a run's data survives the process
 * and the KPI guardrails see every new paired step. Best effort: the final
 * query after the window is what the verdict uses.
 */
import type { Logger } from 'pino';
import type { Sample, TimeRange } from '../metric-sources/types.ts';
import type { Experiment } from '../spec/schema.ts';
import type { GroupQueries } from './group-queries.ts';
import { lookBudgetMs } from './guardrails.ts';
import { GROUPS } from './preflight.ts';
import type { RunObserver } from './run-options.ts';
import type { CollectedSeries, Group, RunRecord } from './types.ts';

export interface CollectorDeps {
  spec: Experiment['spec'];
  run: RunRecord;
  queries: GroupQueries;
  signal: AbortSignal;
  log: Logger;
  now: () => number;
  /** A range aligned to whole steps (the engine's). */
  range: (startMs: number, endMs: number) => TimeRange;
  onSamples?: RunObserver['onSamples'];
  abortError: () => Error;
  /** Metrics only the KPI guardrails read (a shorter window, ADR 026): collected alike, kept in memory, not stored. */
  guardrailFeeds?: () => readonly Metric[];
  /**
   * Names of what a guardrail reads at every look (collected every tick); the rest is collected every
   * LIVE_COLLECT_MS for the live view and the store. Without it, everything every tick.
   */
  readEachLook?: () => ReadonlySet<string>;
}

/**
 * How often a metric no guardrail reads is collected during the window: it serves the live view and the
 * stored series (the verdict queries the whole window at its end), and asking it every second for every
 * run was a third of the service's queries in bench:calibrate (ADR 026).
 */
export const LIVE_COLLECT_MS = 5_000;

type Metric = Experiment['spec']['steadyState'][number];

export class SampleCollector {
  /** Per metric and group, the timestamp of the last sample already collected. */
  private readonly collectedUntil = new Map<string, number>();
  /**
   * The guardrail-only series (guardrailFeeds). Not part of the run: a replica
   * that takes the run over collects them again from the window's start.
   */
  readonly guardrailSeries: CollectedSeries[] = [];
  /** When each metric was last asked (for LIVE_COLLECT_MS). */
  private readonly askedAt = new Map<string, number>();
  /** The latest fetch, which a halt does not wait for. */
  private inflight: Promise<boolean> | undefined;

  constructor(private readonly deps: CollectorDeps) {}

  /**
   * Fetch what is new — of every metric when `all`, else of what a guardrail reads each look and what is due
   * for the live view; true when any group of any metric gained a sample. Rejects only on the run's abort.
   */
  increment(all = false): Promise<boolean> {
    const fetching = this.fetch(all);
    this.inflight = fetching.catch(() => false);
    return fetching;
  }

  /** Wait for a fetch a halt left behind, so it cannot add to the series under the verdict. */
  async settled(): Promise<void> {
    await this.inflight;
  }

  private async fetch(all: boolean): Promise<boolean> {
    const { spec, run, signal: runSignal } = this.deps;
    const window = run.window;
    if (!window) return false;
    let added = false;
    const step = spec.source.step;
    const timeout = AbortSignal.timeout(lookBudgetMs(spec.analysis.interval));
    const signal = AbortSignal.any([runSignal, timeout]);
    // All metrics at once: one slow answer must not starve the others of the tick's budget.
    const feeds = this.deps.guardrailFeeds?.() ?? [];
    const watched = all ? undefined : this.deps.readEachLook?.();
    const now = this.deps.now();
    const due = [...spec.steadyState, ...feeds].filter((m) => !watched || watched.has(m.name) || now - (this.askedAt.get(m.name) ?? -Infinity) >= LIVE_COLLECT_MS);
    const chunks = await Promise.all(
      due.map(async (metric) => {
        // From the older of the two groups' last samples: add() keeps only what each group lacks.
        const last = Math.min(...GROUPS.map((g) => this.collectedUntil.get(`${metric.name}\u0000${g}`) ?? Date.parse(window.openedAt) - step));
        const range = this.deps.range(last + step, this.deps.now());
        if (range.end.getTime() < range.start.getTime()) return null;
        try {
          return { metric: metric.name, answers: await this.deps.queries.both(metric, range, signal) };
        } catch (err) {
          // A missed chunk is fine: the next tick asks from the same point, and the final query fills it.
          this.deps.log.debug({ err, metric: metric.name }, 'incremental sample query failed');
          return null;
        }
      }),
    );
    if (runSignal.aborted) throw this.deps.abortError();
    for (const chunk of chunks) {
      if (!chunk) continue;
      const stored = !feeds.some((f) => f.name === chunk.metric);
      for (const group of GROUPS) {
        const { query, samples } = chunk.answers[group];
        if ((await this.add(chunk.metric, group, query, samples, stored)) > 0) {
          added = true;
          // Only an answer with news waits LIVE_COLLECT_MS: an empty or failed one is asked again next look.
          this.askedAt.set(chunk.metric, now);
        }
      }
    }
    return added;
  }

  /** Append samples newer than what was collected for (metric, group): to the run, or to guardrailSeries. */
  async add(metric: string, group: Group, query: string, samples: Sample[], stored = true): Promise<number> {
    const { run } = this.deps;
    const key = `${metric}\u0000${group}`;
    const until = this.collectedUntil.get(key) ?? -Infinity;
    const fresh = samples.filter((s) => s.t > until);
    if (fresh.length === 0) return 0;
    this.collectedUntil.set(key, fresh[fresh.length - 1]?.t ?? until);
    const into = stored ? run.series : this.guardrailSeries;
    let series = into.find((s) => s.metric === metric && s.group === group);
    if (!series) {
      series = { metric, group, query, samples: [] };
      into.push(series);
    }
    series.samples.push(...fresh);
    if (stored) await this.deps.onSamples?.({ metric, group, query, samples: fresh }, run);
    return fresh.length;
  }
}
