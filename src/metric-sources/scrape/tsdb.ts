/**
 * The scrape source's in-memory time series database: per series, its labels
 * and a ring buffer of (t, v) samples, trimmed to a retention. Stale markers
 * (Prometheus writes a special NaN when a series vanishes or its target stops
 * answering) are kept as a flag beside each sample, because JavaScript does
 * not promise to preserve NaN payloads.
 *
 * Memory is bounded twice: a series holds at most `maxSamplesPerSeries`
 * samples (retention / scrape interval, plus slack), and the database holds at
 * most `maxSeries` series; appends beyond that are refused and counted, as
 * Prometheus's `sample_limit` would refuse a scrape (here only the new series
 * are refused, so the series already tracked keep their history).
 */

/** Label name → value, `__name__` included. Empty values are never stored (an empty label is an absent one). */
export type Labels = Readonly<Record<string, string>>;

export const METRIC_NAME = '__name__';

/** Canonical, collision-free key of a label set: sorted `[name, value]` pairs as JSON. */
export function labelsKey(labels: Labels): string {
  const names = Object.keys(labels).sort();
  return JSON.stringify(names.map((n) => [n, labels[n]]));
}

export type MatchOp = '=' | '!=' | '=~' | '!~';

/** One label matcher, with Prometheus semantics: an absent label has the value "". */
export interface LabelMatcher {
  readonly name: string;
  readonly op: MatchOp;
  readonly value: string;
  /** For `=~` and `!~`: the value compiled, anchored at both ends as Prometheus does. */
  readonly regex?: RegExp;
}

export function matches(m: LabelMatcher, labels: Labels): boolean {
  const v = labels[m.name] ?? '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return (m.regex as RegExp).test(v);
    case '!~':
      return !(m.regex as RegExp).test(v);
  }
}

/**
 * One series' samples, oldest first, in a growable ring. Timestamps only
 * increase: an append at or before the last timestamp is refused (Prometheus
 * rejects out-of-order and duplicate samples the same way).
 */
export class SampleRing {
  private ts: Float64Array;
  private vs: Float64Array;
  private st: Uint8Array;
  private start = 0;
  private len = 0;

  constructor(
    private readonly maxSamples: number,
    initial = 32,
  ) {
    const cap = Math.max(1, Math.min(initial, maxSamples));
    this.ts = new Float64Array(cap);
    this.vs = new Float64Array(cap);
    this.st = new Uint8Array(cap);
  }

  get length(): number {
    return this.len;
  }

  /** Physical slot of logical index i (0 = oldest). */
  private slot(i: number): number {
    return (this.start + i) % this.ts.length;
  }

  t(i: number): number {
    return this.ts[this.slot(i)] as number;
  }

  v(i: number): number {
    return this.vs[this.slot(i)] as number;
  }

  stale(i: number): boolean {
    return this.st[this.slot(i)] === 1;
  }

  lastT(): number | undefined {
    return this.len === 0 ? undefined : this.t(this.len - 1);
  }

  lastIsStale(): boolean {
    return this.len > 0 && this.stale(this.len - 1);
  }

  /** False when `t` is not after the last sample. */
  push(t: number, v: number, stale: boolean): boolean {
    const last = this.lastT();
    if (last !== undefined && t <= last) return false;
    if (this.len === this.ts.length) {
      if (this.ts.length < this.maxSamples) this.grow(Math.min(this.maxSamples, this.ts.length * 2));
      else {
        // Full at the bound: the oldest sample makes room.
        this.start = (this.start + 1) % this.ts.length;
        this.len -= 1;
      }
    }
    const s = this.slot(this.len);
    this.ts[s] = t;
    this.vs[s] = v;
    this.st[s] = stale ? 1 : 0;
    this.len += 1;
    return true;
  }

  /** Drop samples older than `minT`. */
  trimBefore(minT: number): void {
    while (this.len > 0 && this.t(0) < minT) {
      this.start = (this.start + 1) % this.ts.length;
      this.len -= 1;
    }
  }

  /** Number of samples with timestamp ≤ t (so the last one at or before t is at that index − 1). */
  countAtOrBefore(t: number): number {
    let lo = 0;
    let hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.t(mid) <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first sample with timestamp ≥ t (length when none). */
  firstAtOrAfter(t: number): number {
    let lo = 0;
    let hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.t(mid) < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private grow(cap: number): void {
    const ts = new Float64Array(cap);
    const vs = new Float64Array(cap);
    const st = new Uint8Array(cap);
    for (let i = 0; i < this.len; i++) {
      const s = this.slot(i);
      ts[i] = this.ts[s] as number;
      vs[i] = this.vs[s] as number;
      st[i] = this.st[s] as number;
    }
    this.ts = ts;
    this.vs = vs;
    this.st = st;
    this.start = 0;
  }
}

export interface StoredSeries {
  readonly key: string;
  readonly labels: Labels;
  readonly samples: SampleRing;
}

/** What the evaluator needs from a store: the series a set of matchers selects. */
export interface SeriesSelector {
  select(matchers: readonly LabelMatcher[]): StoredSeries[];
}

export type AppendResult = 'ok' | 'out_of_order' | 'series_limit';

export interface MemoryTsdbOptions {
  /** Samples older than (newest append − retention) are dropped. */
  retentionMs: number;
  /** Ring bound per series. */
  maxSamplesPerSeries: number;
  /** Series bound for the whole database. */
  maxSeries: number;
}

export class MemoryTsdb implements SeriesSelector {
  private readonly series = new Map<string, StoredSeries>();
  /** New series refused because the database was full, since creation. */
  refusedSeries = 0;

  constructor(private readonly opts: MemoryTsdbOptions) {}

  get seriesCount(): number {
    return this.series.size;
  }

  get(key: string): StoredSeries | undefined {
    return this.series.get(key);
  }

  /**
   * Append one sample. `labels` must not hold empty values; `key` may be
   * given when the caller computed it already.
   */
  append(labels: Labels, t: number, v: number, key = labelsKey(labels)): AppendResult {
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= this.opts.maxSeries) {
        this.refusedSeries += 1;
        return 'series_limit';
      }
      s = { key, labels: Object.freeze({ ...labels }), samples: new SampleRing(this.opts.maxSamplesPerSeries) };
      this.series.set(key, s);
    }
    if (!s.samples.push(t, v, false)) return 'out_of_order';
    s.samples.trimBefore(t - this.opts.retentionMs);
    return 'ok';
  }

  /** Write a stale marker at `t` (once: a series already stale stays so). */
  markStale(key: string, t: number): void {
    const s = this.series.get(key);
    if (!s || s.samples.lastIsStale()) return;
    s.samples.push(t, Number.NaN, true);
  }

  /** Forget samples older than `now − retention`, and series left empty. */
  gc(now: number): void {
    const minT = now - this.opts.retentionMs;
    for (const [key, s] of this.series) {
      s.samples.trimBefore(minT);
      if (s.samples.length === 0) this.series.delete(key);
    }
  }

  select(matchers: readonly LabelMatcher[]): StoredSeries[] {
    // The metric name is by far the most selective matcher; a per-name index
    // would save a scan, but a demo database holds hundreds of series, not millions.
    const out: StoredSeries[] = [];
    for (const s of this.series.values()) {
      if (matchers.every((m) => matches(m, s.labels))) out.push(s);
    }
    return out;
  }
}
