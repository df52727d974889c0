/**
 * KPI comparison guardrails (`compare: metric`): each new step where both
 * groups have a sample is one look of the anytime-valid windowed test
 * (src/stats/sequential-windowed.ts) against the metric's own direction and
 * tolerance. It halts the moment the test rejects "no harm beyond
 * tolerance"; being anytime-valid from the first look, looking every step
 * costs nothing, and a big harm halts within a few looks.
 *
 * The test's noise is learned from the metric's history before the window
 * (both groups, `analysis.history` back), so nothing waits for a burn-in.
 * A counter rate is read over a window of 2 or 4 steps where that history
 * shows the source answers it (ADR 026): a sudden drop then fills the window
 * in 2 steps instead of the query's 15.
 */
import { formatNumber } from '../lib/format-number.ts';
import type { Sample } from '../metric-sources/types.ts';
import { formatDuration } from '../lib/duration.ts';
import { describeShape, queryShape, type QueryShape } from '../queries/query-shape.ts';
import { withRangeWindow } from '../queries/range-window.ts';
import type { CompareGuardrail, Experiment, SteadyStateMetric } from '../spec/schema.ts';
import { judgeMetric, type MetricVerdict } from '../stats/verdict.ts';
import {
  initWindowedSequential,
  noiseFromHistory,
  resultWindowedSequential,
  updateWindowedSequential,
  type NoiseScale,
  type WindowedSequentialState,
} from '../stats/sequential-windowed.ts';
import type { CollectedSeries } from './types.ts';

type Spec = Experiment['spec'];

/** The shape of each steady-state metric's query at the run's step. */
export function metricShapes(spec: Spec): Map<string, QueryShape> {
  const backend = spec.source.kind === 'datadog' ? 'datadog' : 'prometheus';
  return new Map(spec.steadyState.map((m) => [m.name, queryShape(m.query, spec.source.step, backend)]));
}

/** How far back the noise is learned: `analysis.history`, else 40 range windows, between 10 min and 1 h. */
export function historyMs(spec: Spec, shape: QueryShape): number {
  if (spec.analysis.history !== undefined) return spec.analysis.history;
  const window = Math.max(shape.windowMs ?? spec.source.step, spec.source.step);
  return Math.min(3_600_000, Math.max(600_000, 40 * window));
}

export interface KpiLook {
  guardrail: string;
  /** New paired steps fed this time. */
  looks: number;
  /** The running estimate (ratio or difference), for the guardrail's chart. */
  estimate: number | null;
  halt?: { reason: string; alpha: number; estimate: number | null };
}

interface Entry {
  guardrail: CompareGuardrail;
  metric: SteadyStateMetric;
  /** What the test reads: the metric, or its counter rate over a shorter window. */
  feed: SteadyStateMetric;
  state: WindowedSequentialState;
  fedUntil: number;
}

type GroupHistory = { control: Sample[]; experiment: Sample[] };
type HistoryFetch = (metric: SteadyStateMetric, lookbackMs: number) => Promise<GroupHistory>;

interface FeedChoice {
  feed: SteadyStateMetric;
  shape: QueryShape;
  history: GroupHistory | null;
  /** Which window it reads and why, for the run's timeline ('' when there was no choice). */
  note: string;
}

export interface ArmedGuardrail {
  guardrail: string;
  noise: 'history' | 'window';
  steps: number;
  /** Set when the guardrail reads a shorter window than the metric's query. */
  query?: string;
  windowSteps?: number;
  how: string;
}

/**
 * The shorter windows a compare guardrail may read its metric's counter rate
 * over (2, then 4 steps), rewritten (range-window.ts); none where the source
 * is not PromQL, the metric is not a counter rate, or the rewrite is not sound.
 * Which one it reads is decided at preflight, on the history (shorterWindow).
 */
export function shorterWindows(spec: Spec, metric: SteadyStateMetric, shape: QueryShape): { windowMs: number; query: string }[] {
  if (spec.source.kind === 'datadog' || shape.kind !== 'counter-rate' || shape.windowMs === null) return [];
  const out: { windowMs: number; query: string }[] = [];
  for (const windowMs of [2 * spec.source.step, 4 * spec.source.step]) {
    const rewritten = withRangeWindow(metric.query, windowMs);
    if (rewritten.ok) out.push({ windowMs, query: rewritten.query });
  }
  return out;
}

/**
 * The collector's key for a metric read over a shorter window. A control character cannot be in a
 * spec's metric name (schema.ts), so it never meets a user's metric, e.g. one named "checkout-sps[2s]".
 */
export function feedName(metric: string, windowMs: number): string {
  return `${metric}\u001f${formatDuration(windowMs)}`;
}

/** Steps where both groups have a finite value. */
function countPaired(paired: { control: number[]; experiment: number[] }): number {
  return paired.control.filter((v, i) => Number.isFinite(v) && Number.isFinite(paired.experiment[i])).length;
}

function pairedSteps(h: GroupHistory, stepMs: number): number {
  return countPaired(pairByTime(h.control, h.experiment, stepMs));
}

export class KpiGuardrails {
  private readonly entries: Entry[] = [];
  private readonly shapes: Map<string, QueryShape>;

  constructor(private readonly spec: Spec) {
    this.shapes = metricShapes(spec);
  }

  get empty(): boolean {
    return !this.spec.guardrails.some((g) => g.kind === 'compare');
  }

  /** Every steady-state metric's history is read (the verdict pools its noise too), with the lookback of each. */
  historyNeeds(): { metric: SteadyStateMetric; lookbackMs: number }[] {
    return this.spec.steadyState.map((metric) => ({ metric, lookbackMs: historyMs(this.spec, this.shapeOf(metric)) }));
  }

  /** What was read before the window, per metric, for the fixed-horizon judge. */
  readonly history = new Map<string, { control: Sample[]; experiment: Sample[] } | null>();

  /** What the guardrails read that the verdict does not: a counter rate over a shorter window (ADR 026). */
  feeds(): SteadyStateMetric[] {
    const feeds = new Map(this.entries.filter((e) => e.feed !== e.metric).map((e) => [e.feed.name, e.feed]));
    return [...feeds.values()];
  }

  /** Names of the series the guardrails read at every look (the metric, or its shorter window). */
  readEachLook(): Set<string> {
    return new Set(this.entries.map((e) => e.feed.name));
  }

  /**
   * Query each needed metric's history through `fetch` and arm the guardrails:
   * each learns its noise from the history of what it reads, and a counter
   * rate is read over a shorter window where the history shows the source
   * answers it (shorterWindow). A failed query leaves that guardrail to learn
   * its noise in the window (`onError` sees the error and may rethrow, e.g.
   * when the run was aborted).
   */
  async armFromSource(fetch: HistoryFetch, onError: (err: unknown) => void): Promise<ArmedGuardrail[]> {
    const history = this.history;
    for (const { metric, lookbackMs } of this.historyNeeds()) {
      try {
        history.set(metric.name, await fetch(metric, lookbackMs));
      } catch (err) {
        onError(err);
        history.set(metric.name, null);
      }
    }
    const armed: ArmedGuardrail[] = [];
    for (const g of this.spec.guardrails) {
      if (g.kind !== 'compare') continue;
      const metric = this.spec.steadyState.find((m) => m.name === g.compare) as SteadyStateMetric;
      const read = await this.shorterWindow(metric, history.get(metric.name) ?? null, fetch, onError);
      armed.push(this.arm(g, metric, read));
    }
    return armed;
  }

  /**
   * The shortest window (2, then 4 steps) over which the metric's counter
   * rate answers at ≥ 95% of the steps its own query answered in history;
   * the query's own window where none does or the rewrite is not sound.
   */
  private async shorterWindow(metric: SteadyStateMetric, history: GroupHistory | null, fetch: HistoryFetch, onError: (err: unknown) => void): Promise<FeedChoice> {
    const shape = this.shapeOf(metric);
    const own: FeedChoice = { feed: metric, shape, history, note: '' };
    const candidates = shorterWindows(this.spec, metric, shape);
    if (candidates.length === 0 || !history || shape.windowMs === null) return own;
    const step = this.spec.source.step;
    const base = pairedSteps(history, step);
    let note = '';
    for (const { windowMs, query } of candidates) {
      const feed: SteadyStateMetric = { ...metric, name: feedName(metric.name, windowMs), query };
      let answered = 0;
      let feedHistory: GroupHistory | null = null;
      try {
        feedHistory = await fetch(feed, historyMs(this.spec, shape));
        answered = pairedSteps(feedHistory, step);
      } catch (err) {
        onError(err);
      }
      const of = `${formatDuration(windowMs)} windows answered at ${answered} of ${base} steps before the window`;
      if (feedHistory && answered >= 20 && answered >= 0.95 * base) {
        return { feed, shape: queryShape(query, step, 'prometheus'), history: feedHistory, note: `reads ${metric.name} over ${of} (the query's own: ${formatDuration(shape.windowMs)})` };
      }
      note = `reads the query's own ${formatDuration(shape.windowMs)} windows (${of})`;
    }
    return { ...own, note };
  }

  private arm(guardrail: CompareGuardrail, metric: SteadyStateMetric, read: FeedChoice): ArmedGuardrail {
    const model = read.shape.kind === 'counter-rate' ? 'counts' : 'gauss';
    const paired = read.history ? pairByTime(read.history.control, read.history.experiment, this.spec.source.step) : { control: [], experiment: [] };
    const noise: NoiseScale | null = read.history ? noiseFromHistory(paired.control, paired.experiment, model) : null;
    this.entries.push({
      guardrail,
      metric,
      feed: read.feed,
      fedUntil: -Infinity,
      state: initWindowedSequential({
        alpha: guardrail.alpha ?? this.spec.analysis.alpha,
        direction: metric.direction,
        tolerance: metric.tolerance,
        windowSteps: read.shape.windowSteps,
        model,
        noise,
      }),
    });
    const steps = countPaired(paired);
    const how =
      noise !== null
        ? `noise learned from ${steps} steps before the window`
        : `too little history (${steps} steps): noise learned from the window's own steps, so it halts later`;
    return {
      guardrail: guardrail.name,
      noise: noise ? 'history' : 'window',
      steps,
      ...(read.feed !== metric ? { query: read.feed.query, windowSteps: read.shape.windowSteps } : {}),
      how: read.note ? `${how}; ${read.note}` : how,
    };
  }

  /** Feed the steps collected since the last call; the first guardrail that rejects halts. */
  feed(series: readonly CollectedSeries[]): KpiLook[] {
    const out: KpiLook[] = [];
    for (const entry of this.entries) {
      const { metric, feed } = entry;
      const control = series.find((s) => s.metric === feed.name && s.group === 'control')?.samples ?? [];
      const experiment = new Map((series.find((s) => s.metric === feed.name && s.group === 'experiment')?.samples ?? []).map((p) => [p.t, p.v]));
      let looks = 0;
      for (const c of control) {
        if (c.t <= entry.fedUntil) continue;
        const e = experiment.get(c.t);
        if (e === undefined) continue;
        // A step missing in between still takes its turn, so each phase keeps to disjoint windows.
        const step = this.spec.source.step;
        const gap = entry.fedUntil === -Infinity ? 0 : Math.min(10_000, Math.max(0, Math.round((c.t - entry.fedUntil) / step) - 1));
        for (let i = 0; i < gap; i++) entry.state = updateWindowedSequential(entry.state, { control: NaN, experiment: NaN });
        entry.state = updateWindowedSequential(entry.state, { control: c.v, experiment: e });
        entry.fedUntil = c.t;
        looks += 1;
      }
      const result = resultWindowedSequential(entry.state);
      const look: KpiLook = { guardrail: entry.guardrail.name, looks, estimate: result.estimate };
      if (result.stoppedAt !== null) {
        const rel = metric.tolerance.kind === 'relative';
        const effect =
          result.estimate === null ? 'no estimate' : rel ? `experiment/control ${formatNumber(result.estimate)}` : `experiment − control ${formatNumber(result.estimate)}`;
        look.halt = {
          alpha: result.alpha,
          estimate: result.estimate,
          reason:
            `${metric.name}: experiment worse than control beyond tolerance (anytime-valid p = ${result.pValue.toPrecision(3)} ≤ ${result.alpha}; ` +
            `${effect} over ${result.looks} looks; noise learned from ${result.noise === 'history' ? 'the history before the window' : "the window's own earlier steps"})`,
        };
      }
      out.push(look);
      if (look.halt) break;
    }
    return out;
  }

  private shapeOf(metric: SteadyStateMetric): QueryShape {
    return this.shapes.get(metric.name) as QueryShape;
  }
}

/**
 * Two groups' samples on one grid of steps from the first to the last
 * timestamp: NaN where a group has no value, so that position i is always
 * step i (the judge's phases rely on it).
 */
export function pairByTime(control: readonly Sample[], experiment: readonly Sample[], stepMs?: number): { control: number[]; experiment: number[] } {
  const all = [...control, ...experiment];
  if (all.length === 0) return { control: [], experiment: [] };
  const first = Math.min(...all.map((p) => p.t));
  const last = Math.max(...all.map((p) => p.t));
  const step = stepMs ?? smallestGap(all.map((p) => p.t));
  const n = step > 0 ? Math.min(200_000, Math.round((last - first) / step) + 1) : 1;
  const out = { control: new Array<number>(n).fill(NaN), experiment: new Array<number>(n).fill(NaN) };
  const put = (into: number[], p: Sample): void => {
    const i = step > 0 ? Math.round((p.t - first) / step) : 0;
    if (i >= 0 && i < n) into[i] = p.v;
  };
  for (const p of control) put(out.control, p);
  for (const p of experiment) put(out.experiment, p);
  return out;
}

function smallestGap(times: number[]): number {
  const sorted = [...new Set(times)].sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < sorted.length; i++) {
    const d = sorted[i]! - sorted[i - 1]!;
    if (d > 0 && (gap === 0 || d < gap)) gap = d;
  }
  return gap;
}

/**
 * The fixed-horizon verdict of one metric on what the window collected: paired
 * on one grid of steps with the query's window for the default judge (ADR 013),
 * each group's values as they are for Kayenta's.
 */
export function judgeCollected(
  spec: Spec,
  metric: SteadyStateMetric,
  control: Sample[],
  experiment: Sample[],
  history?: { control: Sample[]; experiment: Sample[] } | null,
): MetricVerdict {
  const shape = metricShapes(spec).get(metric.name);
  const paired = spec.analysis.method === 'paired';
  const grid = paired ? pairByTime(control, experiment, spec.source.step) : { control: control.map((s) => s.v), experiment: experiment.map((s) => s.v) };
  const before = paired && history ? pairByTime(history.control, history.experiment, spec.source.step) : null;
  return judgeMetric({
    name: metric.name,
    method: spec.analysis.method,
    control: grid.control,
    experiment: grid.experiment,
    direction: metric.direction,
    tolerance: metric.tolerance,
    alpha: spec.analysis.alpha,
    minSamples: metric.minSamples ?? spec.analysis.minSamples,
    windowSteps: shape && shape.windowMs !== null ? shape.windowSteps : null,
    spread: metric.spread,
    ...(shape ? { shape: describeShape(shape, spec.source.step, spec.fault.duration) } : {}),
    ...(before ? { history: { ...before, model: shape?.kind === 'counter-rate' ? ('counts' as const) : ('gauss' as const) } } : {}),
  });
}
