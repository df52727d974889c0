/**
 * The embedded scrape source (`spec.source.kind: scrape`): for demos and
 * trials on machines without Prometheus. It scrapes Prometheus text
 * endpoints itself into memory and answers range queries in the PromQL
 * subset of ./promql-parse.ts, with Prometheus 2.x's semantics (see
 * docs/sources/scrape.md for the subset and the differences).
 *
 * Lifecycle: scraping starts when the source is created (`create`), because
 * rates need history before the first query; `check()` waits until every
 * target has been scraped three times. `close()` stops it; the engine (or whoever
 * created the source) must call it when the run ends. Its timer is unref'd,
 * so a CLI process that forgets still exits.
 */
import { z } from 'zod';
import { formatDuration } from '../../lib/duration.ts';
import { AbortedError, NoDataError, SourceError } from '../../lib/errors.ts';
import { durationMs, httpUrl } from '../../spec/fields.ts';
import { MAX_POINTS_PER_SERIES } from '../prometheus.ts';
import type { MetricSource, MetricSourceFactory, QueryResult, Sample, Series, SourceDeps, TimeRange } from '../types.ts';
import type { Expr } from './promql-ast.ts';
import { QueryEvalError, evaluateRange } from './promql-eval.ts';
import { QueryParseError, parseScrapeQuery } from './promql-parse.ts';
import { Scraper, type TargetHealth } from './scraper.ts';
import { MemoryTsdb } from './tsdb.ts';

const DEFAULT_STEP_MS = 1_000;
const DEFAULT_RETENTION_MS = 15 * 60_000;
const DEFAULT_TIMEOUT_MS = 10_000;
const MIN_STEP_MS = 100;
const MAX_STEP_MS = 3_600_000;
const MAX_TARGETS = 50;
/**
 * Memory is about series × (retention / step) × 17 bytes (two float64 and a
 * flag a sample): 85 MB at the worst with the defaults (15m at 1s) and
 * MAX_SERIES, ~340 MB with the longest retention these bounds allow.
 */
const MAX_SAMPLES_PER_SERIES = 3_600;
export const MAX_SERIES = 5_000;
const MAX_CACHED_QUERIES = 200;
/** Successful scrapes per target before check() passes (see check()). */
const READY_SCRAPES = 3;

const targetUrl = httpUrl.refine((s) => {
  if (!URL.canParse(s)) return true; // reported by httpUrl
  const u = new URL(s);
  return u.username === '' && u.password === '' && u.hash === '';
}, 'must be a metrics endpoint URL without credentials or #fragment (e.g. http://127.0.0.1:9101/metrics)');

export const scrapeConfigSchema = z
  .strictObject({
    kind: z.literal('scrape'),
    /** Prometheus text endpoints, e.g. http://127.0.0.1:9101/metrics. */
    targets: z
      .array(targetUrl)
      .min(1, 'needs at least one target')
      .max(MAX_TARGETS, `at most ${MAX_TARGETS} targets`)
      .refine((t) => new Set(t).size === t.length, 'targets must not repeat'),
    /** Scrape interval, and the resolution of queries that give no step. */
    step: durationMs
      .refine((ms) => ms >= MIN_STEP_MS && ms <= MAX_STEP_MS, 'step must be between 100ms and 1h')
      .default(DEFAULT_STEP_MS),
    /** How much history is kept in memory. Default 15m, or 3600 steps if that is less. */
    retention: durationMs.refine((ms) => ms >= 60_000 && ms <= 86_400_000, 'retention must be between 1m and 24h').optional(),
    /** Per-scrape limit; at most the step (as in Prometheus). Default: the step, at most 10s. */
    timeout: durationMs.refine((ms) => ms >= 1, 'timeout must be at least 1ms').optional(),
    /** The `job` label of every scraped series. */
    job: z.string().min(1).max(128).default('scrape'),
  })
  .superRefine((c, ctx) => {
    if (c.timeout !== undefined && c.timeout > c.step) {
      ctx.addIssue({ code: 'custom', path: ['timeout'], message: `timeout must not exceed the step (${formatDuration(c.step)}), as in Prometheus` });
    }
    if (c.retention !== undefined && c.retention / c.step > MAX_SAMPLES_PER_SERIES) {
      ctx.addIssue({
        code: 'custom',
        path: ['retention'],
        message: `retention ${formatDuration(c.retention)} at step ${formatDuration(c.step)} is more than ${MAX_SAMPLES_PER_SERIES} samples per series; shorten it or raise the step`,
      });
    }
  })
  .transform((c) => ({ ...c, retention: c.retention ?? Math.min(DEFAULT_RETENTION_MS, MAX_SAMPLES_PER_SERIES * c.step) }));

export type ScrapeConfig = z.output<typeof scrapeConfigSchema>;
export type ScrapeConfigInput = z.input<typeof scrapeConfigSchema>;

export interface ScrapeSourceOptions {
  /** Start scraping in the constructor (default true). Tests drive `scraper.scrapeOnce()` instead. */
  start?: boolean;
  /** Prometheus's lookback for instant selectors, default 5 minutes. */
  lookbackMs?: number;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

export class ScrapeSource implements MetricSource {
  readonly kind = 'scrape';
  // Evaluates every step with a lookback and staleness markers, like Prometheus.
  readonly evaluatesEveryStep = true;
  readonly stepMs: number;
  readonly tsdb: MemoryTsdb;
  readonly scraper: Scraper;
  private readonly timeoutMs: number;
  private readonly lookbackMs: number | undefined;
  private readonly parsed = new Map<string, Expr>();

  constructor(config: ScrapeConfig, deps: SourceDeps = {}, opts: ScrapeSourceOptions = {}) {
    this.stepMs = config.step;
    this.timeoutMs = config.timeout ?? Math.min(config.step, deps.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.lookbackMs = opts.lookbackMs;
    this.tsdb = new MemoryTsdb({
      retentionMs: config.retention,
      // Slack for stale markers and for scrapes that run a little fast; the
      // retention trims by time before this bound is reached.
      maxSamplesPerSeries: Math.ceil((config.retention / config.step) * 1.1) + 16,
      maxSeries: MAX_SERIES,
    });
    this.scraper = new Scraper(this.tsdb, {
      targets: config.targets,
      job: config.job,
      intervalMs: config.step,
      timeoutMs: this.timeoutMs,
    });
    if (opts.start ?? true) this.scraper.start();
  }

  /** Stop scraping and free the sockets. Idempotent. What was scraped stays queryable. */
  close(): Promise<void> {
    return this.scraper.close();
  }

  health(): TargetHealth[] {
    return this.scraper.health();
  }

  async queryRange(query: string, range: TimeRange, signal?: AbortSignal): Promise<QueryResult> {
    const what = `scrape source: query_range ${JSON.stringify(truncate(query, 300))}`;
    if (signal?.aborted) throw new AbortedError(`${what} aborted before it started`);
    const startMs = range.start.getTime();
    const endMs = range.end.getTime();
    const stepMs = Number.isFinite(range.stepMs) && range.stepMs > 0 ? range.stepMs : this.stepMs;
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs < startMs) {
      throw new SourceError(`${what}: invalid range (start must be a valid time not after end)`, { code: 'invalid_range', retryable: false });
    }
    const intervals = (endMs - startMs) / stepMs;
    if (intervals > MAX_POINTS_PER_SERIES) {
      throw new SourceError(
        `${what}: ${formatDuration(endMs - startMs)} at step ${formatDuration(stepMs)} is ${Math.floor(intervals) + 1} points per series; ` +
          `at most ${MAX_POINTS_PER_SERIES} are allowed. Use a step of at least ${formatDuration(Math.ceil((endMs - startMs) / MAX_POINTS_PER_SERIES))}`,
        { code: 'too_many_points', retryable: false },
      );
    }

    const expr = this.parse(query, what);
    let evaluated;
    try {
      evaluated = evaluateRange(expr, this.tsdb, startMs, endMs, stepMs, this.lookbackMs === undefined ? {} : { lookbackMs: this.lookbackMs });
    } catch (err) {
      if (err instanceof QueryEvalError) {
        throw new SourceError(`${what} failed: execution: ${err.message}`, { code: 'scrape_execution', retryable: false, cause: err });
      }
      throw err;
    }

    const series: Series[] = [];
    let finite = 0;
    let nonFiniteTotal = 0;
    for (const s of evaluated) {
      const samples: Sample[] = [];
      let nonFinite = 0;
      for (const p of s.points) {
        if (Number.isFinite(p.v)) samples.push({ t: p.t, v: p.v });
        else nonFinite += 1;
      }
      finite += samples.length;
      nonFiniteTotal += nonFinite;
      series.push({ labels: { ...s.labels }, samples, nonFinite });
    }

    const warnings = this.warnings();
    if (finite === 0) {
      const window = `between ${range.start.toISOString()} and ${range.end.toISOString()}`;
      let reason =
        series.length === 0
          ? `no series ${window} (the selector matches nothing, or nothing was scraped then; ${this.tsdb.seriesCount} series in memory)`
          : `${series.length} series ${window}, but all ${nonFiniteTotal} points were NaN or ±Inf`;
      if (warnings.length > 0) reason += `; warnings: ${warnings.join('; ')}`;
      throw new NoDataError(query, reason);
    }
    return { series, warnings };
  }

  /**
   * Healthy when every target answered its last scrape and has been scraped
   * three times. Why three: scrapes happen half a step past each step, and the
   * engine queries up to the last whole step, so only after the third scrape
   * do two samples (what rate() needs) lie at or before that step. Waits for
   * that at most four scrape intervals plus a timeout; fails at once on a
   * target that is down.
   */
  async check(signal?: AbortSignal): Promise<void> {
    const what = 'scrape source';
    if (this.scraper.isClosed) throw new SourceError(`${what}: closed`, { code: 'scrape_closed', retryable: false });
    const limitMs = 4 * this.stepMs + this.timeoutMs + 1_000;
    const deadline = Date.now() + limitMs;
    // Bounded by the deadline and by a count of rounds.
    for (let round = 0; round < 10; round++) {
      if (signal?.aborted) throw new AbortedError(`${what}: check aborted`);
      const health = this.scraper.health();
      const down = health.filter((h) => h.up === false);
      if (down.length > 0) {
        throw new SourceError(
          `${what}: ${down.map((h) => `target ${h.url} is down (${h.lastError ?? 'unknown error'})`).join('; ')}`,
          { code: 'scrape_target_down', retryable: true },
        );
      }
      if (health.every((h) => h.successes >= READY_SCRAPES)) return;
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.waitForRound(left, signal);
    }
    const pending = this.scraper.health().filter((h) => h.successes < READY_SCRAPES);
    throw new SourceError(
      `${what}: not ready after ${formatDuration(limitMs)}: ${pending.map((h) => `${h.url} scraped ${h.successes} time(s)`).join('; ')}`,
      { code: 'scrape_not_ready', retryable: true },
    );
  }

  /** Next scrape round, or `ms`, or the signal, whichever first. The wait itself keeps the process alive. */
  private async waitForRound(ms: number, signal: AbortSignal | undefined): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        this.scraper.nextRound(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, ms);
        }),
        new Promise<void>((resolve) => {
          onAbort = resolve;
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  private parse(query: string, what: string): Expr {
    const cached = this.parsed.get(query);
    if (cached) return cached;
    let expr: Expr;
    try {
      expr = parseScrapeQuery(query);
    } catch (err) {
      if (err instanceof QueryParseError) {
        throw new SourceError(`${what}: ${err.message}`, { code: 'scrape_bad_query', retryable: false, cause: err });
      }
      throw err;
    }
    if (this.parsed.size >= MAX_CACHED_QUERIES) this.parsed.clear();
    this.parsed.set(query, expr);
    return expr;
  }

  private warnings(): string[] {
    const out: string[] = [];
    for (const h of this.scraper.health()) {
      if (h.up === false) out.push(`target ${h.url} is down: ${h.lastError ?? 'unknown error'}`);
    }
    if (this.tsdb.refusedSeries > 0) {
      out.push(`${this.tsdb.refusedSeries} new series were not stored: the scrape source keeps at most ${MAX_SERIES}`);
    }
    return out;
  }
}

/**
 * One scraper per distinct config and process, shared by every run that uses
 * it: a run's preflight and rate windows then find the history earlier runs
 * built up, as they would on a real Prometheus. Each `create` returns a handle;
 * when the last handle is closed the scraper keeps its history for one
 * retention period (timer unref'd, so it never keeps a CLI alive), then stops.
 */
const shared = new Map<string, { source: ScrapeSource; refs: number; idle?: NodeJS.Timeout }>();

function acquire(config: ScrapeConfig, deps: SourceDeps): MetricSource & { close(): Promise<void> } {
  // Field by field: the same config parsed once or twice must give the same key.
  const key = JSON.stringify([config.targets, config.step, config.job, config.retention, config.timeout ?? null]);
  let entry = shared.get(key);
  if (!entry) {
    entry = { source: new ScrapeSource(config, deps), refs: 0 };
    shared.set(key, entry);
  }
  const held = entry;
  clearTimeout(held.idle);
  held.refs += 1;
  let released = false;
  return {
    kind: 'scrape',
    evaluatesEveryStep: true,
    queryRange: (query, range, signal) => held.source.queryRange(query, range, signal),
    check: (signal) => held.source.check(signal),
    async close() {
      if (released) return;
      released = true;
      held.refs -= 1;
      if (held.refs > 0) return;
      held.idle = setTimeout(() => {
        if (held.refs === 0 && shared.get(key) === held) {
          shared.delete(key);
          void held.source.close();
        }
      }, config.retention);
      held.idle.unref();
    },
  };
}

export const scrapeSource: MetricSourceFactory<ScrapeConfig> = {
  kind: 'scrape',
  configSchema: scrapeConfigSchema,
  create: (config, deps) => acquire(config, deps),
};
