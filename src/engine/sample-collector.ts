/**
 * The steady-state samples of a run's window: collected a chunk per monitor
 * tick (so a run's data survives the process and the sequential tests and a
 * ladder's steps see it as it comes), then queried once more over the whole
 * window after it closes — that final answer is what verdicts use.
 */
import type { Logger } from 'pino';
import type { Sample, TimeRange } from '../metric-sources/types.ts';
import type { Experiment } from '../spec/schema.ts';
import type { GroupQueries } from './group-queries.ts';
import { GROUPS } from './preflight.ts';
import type { RunObserver } from './run-options.ts';
import type { Group, RunRecord } from './types.ts';

export interface CollectorDeps {
  spec: Experiment['spec'];
  run: RunRecord;
  queries: GroupQueries;
  log: Logger;
  signal: AbortSignal;
  now: () => number;
  range: (startMs: number, endMs: number) => TimeRange;
  onSamples?: RunObserver['onSamples'];
  abortError: () => Error;
}

/** What the final query found for one metric. */
export interface FinalSamples {
  control: Sample[];
  experiment: Sample[];
  /** Why a group has no data, when one has none. */
  missing?: string;
}

export class SampleCollector {
  /** Per metric and group, the timestamp of the last sample already collected. */
  private readonly collectedUntil = new Map<string, number>();

  constructor(private readonly deps: CollectorDeps) {}

  /**
   * Fetch the steady-state samples that arrived since the last tick and hand
   * them to the observer. Best effort: the final query after the window is
   * what the verdict uses.
   */
  async increment(): Promise<boolean> {
    const { spec, run, log } = this.deps;
    const window = run.window;
    if (!window) return false;
    let added = false;
    const step = spec.source.step;
    const timeout = AbortSignal.timeout(Math.max(500, Math.floor(spec.analysis.interval * 0.8)));
    const signal = AbortSignal.any([this.deps.signal, timeout]);
    // All metrics at once: one slow answer must not starve the others of the tick's budget.
    const chunks = await Promise.all(
      spec.steadyState.map(async (metric) => {
        // From the older of the two groups' last samples: add keeps only what each group lacks.
        const last = Math.min(...GROUPS.map((g) => this.collectedUntil.get(`${metric.name}\u0000${g}`) ?? Date.parse(window.openedAt) - step));
        const range = this.deps.range(last + step, this.deps.now());
        if (range.end.getTime() < range.start.getTime()) return null;
        try {
          return { metric: metric.name, answers: await this.deps.queries.both(metric, range, signal) };
        } catch (err) {
          // A missed chunk is fine: the final query after the window fills it.
          log.debug({ err, metric: metric.name }, 'incremental sample query failed');
          return null;
        }
      }),
    );
    if (this.deps.signal.aborted) throw this.deps.abortError();
    for (const chunk of chunks) {
      if (!chunk) continue;
      for (const group of GROUPS) {
        const { query, samples } = chunk.answers[group];
        if ((await this.add(chunk.metric, group, query, samples)) > 0) added = true;
      }
    }
    return added;
  }

  /** The whole window, queried once after it closed; the run's series become exactly these. */
  async final(): Promise<Map<string, FinalSamples>> {
    const { run, spec } = this.deps;
    const out = new Map<string, FinalSamples>();
    const window = run.window;
    if (!window) return out;
    const range = this.deps.range(Date.parse(window.openedAt), Date.parse(window.closedAt ?? new Date(this.deps.now()).toISOString()));
    for (const metric of spec.steadyState) {
      const found: FinalSamples = { control: [], experiment: [] };
      const answers = await this.deps.queries.both(metric, range, this.deps.signal);
      for (const group of GROUPS) {
        const { query, seriesCount, samples } = answers[group];
        if (seriesCount > 1) throw new Error(`metric "${metric.name}" returned ${seriesCount} series for group ${group}; aggregate it to one`);
        found[group] = samples;
        if (seriesCount === 0) found.missing = `no data for group ${group}`;
        // Keep what the verdict used: the final query, plus any samples the
        // increments had not seen yet go to the observer.
        await this.add(metric.name, group, query, samples);
        const kept = run.series.find((s) => s.metric === metric.name && s.group === group);
        if (kept) kept.samples = [...samples];
        else run.series.push({ metric: metric.name, group, query, samples: [...samples] });
      }
      out.set(metric.name, found);
    }
    return out;
  }

  /** Append samples newer than what was collected for (metric, group). */
  private async add(metric: string, group: Group, query: string, samples: Sample[]): Promise<number> {
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
