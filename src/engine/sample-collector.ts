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
import type { Group, RunRecord } from './types.ts';

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
}

export class SampleCollector {
  /** Per metric and group, the timestamp of the last sample already collected. */
  private readonly collectedUntil = new Map<string, number>();
  /** The latest fetch, which a halt does not wait for. */
  private inflight: Promise<boolean> | undefined;

  constructor(private readonly deps: CollectorDeps) {}

  /** Fetch what is new; true when any group of any metric gained a sample. Rejects only on the run's abort. */
  increment(): Promise<boolean> {
    const fetching = this.fetch();
    this.inflight = fetching.catch(() => false);
    return fetching;
  }

  /** Wait for a fetch a halt left behind, so it cannot add to the series under the verdict. */
  async settled(): Promise<void> {
    await this.inflight;
  }

  private async fetch(): Promise<boolean> {
    const { spec, run, signal: runSignal } = this.deps;
    const window = run.window;
    if (!window) return false;
    let added = false;
    const step = spec.source.step;
    const timeout = AbortSignal.timeout(lookBudgetMs(spec.analysis.interval));
    const signal = AbortSignal.any([runSignal, timeout]);
    // All metrics at once: one slow answer must not starve the others of the tick's budget.
    const chunks = await Promise.all(
      spec.steadyState.map(async (metric) => {
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
      for (const group of GROUPS) {
        const { query, samples } = chunk.answers[group];
        if ((await this.add(chunk.metric, group, query, samples)) > 0) added = true;
      }
    }
    return added;
  }

  /** Append samples newer than what was collected for (metric, group). */
  async add(metric: string, group: Group, query: string, samples: Sample[]): Promise<number> {
    const { run } = this.deps;
    const key = `${metric}\u0000${group}`;
    const until = this.collectedUntil.get(key) ?? -Infinity;
    const fresh = samples.filter((s) => s.t > until);
    if (fresh.length === 0) return 0;
    this.collectedUntil.set(key, fresh[fresh.length - 1]?.t ?? until);
    let series = run.series.find((s) => s.metric === metric && s.group === group);
    if (!series) {
      series = { metric, group, query, samples: [] };
      run.series.push(series);
    }
    series.samples.push(...fresh);
    await this.deps.onSamples?.({ metric, group, query, samples: fresh }, run);
    return fresh.length;
  }
}
