/**
 * The metric source port: where steady-state metrics and guardrail values come
 * from (Prometheus, Datadog, an embedded scraper). One small async interface;
 * adapters live one per file beside it and are picked by `spec.source.kind`.
 */
import type { SecurityPolicy } from '../security/policy.ts';
import type { z } from 'zod';

/** A closed time range sampled every `stepMs`. */
export interface TimeRange {
  start: Date;
  end: Date;
  stepMs: number;
}

/** One point. `t` is Unix milliseconds; `v` is always finite. */
export interface Sample {
  t: number;
  v: number;
}

/**
 * One series of a range query. NaN and ±Inf points are never turned into
 * numbers: they are dropped from `samples` and counted in `nonFinite`, so a
 * judge sees fewer samples (and may say inconclusive) instead of zeros.
 */
export interface Series {
  labels: Record<string, string>;
  samples: Sample[];
  nonFinite: number;
  /**
   * Timestamp of the last point the backend returned, finite or not. When it
   * is later than the last sample, the series ended on NaN/±Inf: a guardrail
   * must read that as missing data now, not as its last finite value.
   */
  lastT?: number;
}

export interface QueryResult {
  series: Series[];
  /** Warnings the backend attached to an otherwise successful answer. */
  warnings: string[];
}

export interface MetricSource {
  readonly kind: string;
  /**
   * True when the backend evaluates a query at every step of the range with
   * its own lookback (Prometheus semantics): a healthy series then has a point
   * at the last step, so one without it is stale now. Backends with ingestion
   * delay (Datadog) leave it unset and get a two-step allowance.
   */
  readonly evaluatesEveryStep?: boolean;
  /**
   * True when the source answers PromQL and keeps each series' labels: the engine may then ask for
   * both groups in one query `by (group)` (src/queries/group-split.ts) and split the answer by label.
   */
  readonly groupsByLabel?: boolean;
  /**
   * Evaluate `query` over `range`. Throws NoDataError when the answer holds no
   * finite point at all, SourceError (retryable or not) for every failure.
   */
  queryRange(query: string, range: TimeRange, signal?: AbortSignal): Promise<QueryResult>;
  /** Cheap health check for preflight; throws SourceError naming what is wrong. */
  check(signal?: AbortSignal): Promise<void>;
  /** Release what the source holds (the embedded scraper's timers); the engine's owner calls it after a run. */
  close?(): Promise<void>;
}

/** What a registry entry knows about one kind of source. */
export interface MetricSourceFactory<C = unknown> {
  readonly kind: string;
  /** Schema of `spec.source` for this kind (the object includes `kind`). */
  readonly configSchema: z.ZodType<C>;
  /**
   * The source leaves out the point at the end of a range (Datadog v2: that
   * bucket is still filling), so a window of d at step s yields one sample
   * fewer. Validation counts with it (guaranteedSamples) to promise what
   * collection gives.
   */
  readonly endExclusive?: boolean;
  /** What this kind's sources say in MetricSource.groupsByLabel, known before one is created (`validate --explain`). */
  readonly groupsByLabel?: boolean;
  create(config: C, deps: SourceDeps): MetricSource;
}

export interface SourceDeps {
  /** Default per-request timeout in ms when the config gives none. */
  timeoutMs?: number;
  /** The operator's policy: outbound hosts, secret references. Default: DEFAULT_POLICY. */
  policy?: SecurityPolicy;
}

/**
 * Samples per group a fault window of `durationMs` is guaranteed to yield at
 * `stepMs`: the engine queries [⌈open/step⌉·step, ⌊close/step⌋·step], which
 * holds ⌊d/s⌋ points when the window opens off a step boundary (and one more
 * when it opens on one); an end-exclusive source drops the last.
 */
export function guaranteedSamples(durationMs: number, stepMs: number, endExclusive: boolean): number {
  return Math.max(0, Math.floor(durationMs / stepMs) - (endExclusive ? 1 : 0));
}
