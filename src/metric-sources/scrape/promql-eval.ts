/**
 * Range evaluation of the PromQL subset over an in-memory store, step by step
 * as Prometheus 2.x does it:
 * - an instant selector at time t takes each series' newest sample in
 *   [t − lookback, t] (lookback 5 minutes), unless that sample is a stale
 *   marker (the series vanished or its target went down);
 * - a range selector `[r]` takes the samples in [t − r, t], both ends
 *   included (Prometheus 2.x; 3.x excludes t − r), stale markers skipped;
 * - functions and operators drop the metric name where Prometheus does
 *   (rate & co, arithmetic, `bool` comparisons, unary minus, aggregations);
 * - binary operators between vectors match one-to-one on all labels but the
 *   name, or on/ignoring the listed ones; many-to-one is an error.
 */
import type { Aggregation, BinaryExpr, BinaryOp, Expr, HistogramQuantileCall, RateCall, VectorMatching, VectorSelector } from './promql-ast.ts';
import { bucketQuantile, extrapolatedRate, type Bucket, type Point } from './promql-functions.ts';
import { parseGoFloat } from './exposition.ts';
import { METRIC_NAME, labelsKey, type Labels, type SeriesSelector, type StoredSeries } from './tsdb.ts';

/** Prometheus's default `--query.lookback-delta`. */
export const DEFAULT_LOOKBACK_MS = 5 * 60_000;

/** A query that parsed but cannot be evaluated on this data (e.g. ambiguous matching). */
export class QueryEvalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryEvalError';
  }
}

export interface InstantSample {
  labels: Labels;
  v: number;
}

type Value = { type: 'scalar'; v: number } | { type: 'vector'; samples: InstantSample[] };

export interface RangeSeries {
  labels: Labels;
  /** Every point, NaN and ±Inf included, oldest first. */
  points: Point[];
}

export interface EvalOptions {
  lookbackMs?: number;
}

function isInf(x: number): boolean {
  return x === Number.POSITIVE_INFINITY || x === Number.NEGATIVE_INFINITY;
}

function dropName(labels: Labels): Labels {
  if (!(METRIC_NAME in labels)) return labels;
  const { [METRIC_NAME]: _name, ...rest } = labels;
  return rest;
}

function assertNoDuplicates(samples: readonly InstantSample[], what: string): void {
  if (samples.length < 2) return;
  const seen = new Set<string>();
  for (const s of samples) {
    const key = labelsKey(s.labels);
    if (seen.has(key)) {
      throw new QueryEvalError(`${what}: vector cannot contain metrics with the same labelset ${key}`);
    }
    seen.add(key);
  }
}

function arithmetic(op: BinaryOp, l: number, r: number): number {
  switch (op) {
    case '+':
      return l + r;
    case '-':
      return l - r;
    case '*':
      return l * r;
    case '/':
      return l / r;
    default:
      throw new QueryEvalError(`operator ${op} is not arithmetic`);
  }
}

function compare(op: BinaryOp, l: number, r: number): boolean {
  switch (op) {
    case '==':
      return l === r;
    case '!=':
      return l !== r;
    case '>':
      return l > r;
    case '<':
      return l < r;
    case '>=':
      return l >= r;
    case '<=':
      return l <= r;
    default:
      throw new QueryEvalError(`operator ${op} is not a comparison`);
  }
}

const COMPARISONS = new Set<BinaryOp>(['==', '!=', '>', '<', '>=', '<=']);

/** The labels two samples must share to match: on(…) keeps only those, ignoring(…) drops them and the name. */
function signature(labels: Labels, matching: VectorMatching): string {
  const out: Record<string, string> = {};
  if (matching.on) {
    for (const n of matching.labels) {
      const v = labels[n];
      if (v !== undefined) out[n] = v;
    }
  } else {
    for (const [n, v] of Object.entries(labels)) {
      if (n !== METRIC_NAME && !matching.labels.includes(n)) out[n] = v;
    }
  }
  return labelsKey(out);
}

class Evaluator {
  private readonly selected = new Map<VectorSelector, StoredSeries[]>();
  private readonly lookbackMs: number;

  constructor(
    private readonly store: SeriesSelector,
    opts: EvalOptions,
  ) {
    this.lookbackMs = opts.lookbackMs ?? DEFAULT_LOOKBACK_MS;
  }

  /** Series matched once per query: the store cannot change during a synchronous evaluation. */
  private series(sel: VectorSelector): StoredSeries[] {
    let s = this.selected.get(sel);
    if (!s) {
      s = this.store.select(sel.matchers);
      this.selected.set(sel, s);
    }
    return s;
  }

  eval(expr: Expr, t: number): Value {
    switch (expr.kind) {
      case 'number':
        return { type: 'scalar', v: expr.value };
      case 'vectorSelector':
        return { type: 'vector', samples: this.instantSelector(expr, t) };
      case 'matrixSelector':
        throw new QueryEvalError('a range vector cannot be evaluated on its own');
      case 'rate':
        return { type: 'vector', samples: this.rate(expr, t) };
      case 'histogramQuantile':
        return { type: 'vector', samples: this.histogramQuantile(expr, t) };
      case 'vectorFn':
        return { type: 'vector', samples: [{ labels: {}, v: this.scalar(expr.arg, t) }] };
      case 'aggregate':
        return { type: 'vector', samples: this.aggregate(expr, t) };
      case 'binary':
        return this.binary(expr, t);
      case 'unary': {
        const inner = this.eval(expr.expr, t);
        if (expr.op === '+') return inner;
        if (inner.type === 'scalar') return { type: 'scalar', v: -inner.v };
        const samples = inner.samples.map((s) => ({ labels: dropName(s.labels), v: -s.v }));
        assertNoDuplicates(samples, 'unary minus');
        return { type: 'vector', samples };
      }
    }
  }

  private scalar(expr: Expr, t: number): number {
    const v = this.eval(expr, t);
    if (v.type !== 'scalar') throw new QueryEvalError('expected a scalar');
    return v.v;
  }

  private vector(expr: Expr, t: number): InstantSample[] {
    const v = this.eval(expr, t);
    if (v.type !== 'vector') throw new QueryEvalError('expected an instant vector');
    return v.samples;
  }

  private instantSelector(sel: VectorSelector, t: number): InstantSample[] {
    const ref = t - sel.offsetMs;
    const out: InstantSample[] = [];
    for (const s of this.series(sel)) {
      const ring = s.samples;
      const i = ring.countAtOrBefore(ref) - 1;
      if (i < 0 || ring.t(i) < ref - this.lookbackMs || ring.stale(i)) continue;
      out.push({ labels: s.labels, v: ring.v(i) });
    }
    return out;
  }

  private rate(call: RateCall, t: number): InstantSample[] {
    const { selector, rangeMs } = call.arg;
    const rangeEnd = t - selector.offsetMs;
    const rangeStart = rangeEnd - rangeMs;
    const out: InstantSample[] = [];
    for (const s of this.series(selector)) {
      const ring = s.samples;
      const points: Point[] = [];
      for (let i = ring.firstAtOrAfter(rangeStart); i < ring.length && ring.t(i) <= rangeEnd; i++) {
        if (!ring.stale(i)) points.push({ t: ring.t(i), v: ring.v(i) });
      }
      const v = extrapolatedRate(points, rangeStart, rangeEnd, rangeMs / 1000, call.fn !== 'delta', call.fn === 'rate');
      if (v !== undefined) out.push({ labels: dropName(s.labels), v });
    }
    assertNoDuplicates(out, `${call.fn}()`);
    return out;
  }

  private histogramQuantile(call: HistogramQuantileCall, t: number): InstantSample[] {
    const q = this.scalar(call.quantile, t);
    const groups = new Map<string, { labels: Labels; buckets: Bucket[] }>();
    for (const s of this.vector(call.buckets, t)) {
      const le = s.labels['le'];
      const upperBound = le === undefined ? undefined : parseGoFloat(le);
      // Prometheus skips samples without a readable `le` the same way.
      if (upperBound === undefined || Number.isNaN(upperBound)) continue;
      const { le: _le, [METRIC_NAME]: _name, ...rest } = s.labels;
      const key = labelsKey(rest);
      let g = groups.get(key);
      if (!g) {
        g = { labels: rest, buckets: [] };
        groups.set(key, g);
      }
      g.buckets.push({ upperBound, count: s.v });
    }
    return [...groups.values()].map((g) => ({ labels: g.labels, v: bucketQuantile(q, g.buckets) }));
  }

  private aggregate(agg: Aggregation, t: number): InstantSample[] {
    interface Group {
      labels: Labels;
      value: number;
      mean: number;
      count: number;
    }
    const groups = new Map<string, Group>();
    for (const s of this.vector(agg.expr, t)) {
      let labels: Record<string, string>;
      if (agg.without) {
        labels = {};
        for (const [n, v] of Object.entries(s.labels)) {
          if (n !== METRIC_NAME && !agg.grouping.includes(n)) labels[n] = v;
        }
      } else {
        labels = {};
        for (const n of agg.grouping) {
          const v = s.labels[n];
          if (v !== undefined) labels[n] = v;
        }
      }
      const key = labelsKey(labels);
      const g = groups.get(key);
      if (!g) {
        groups.set(key, { labels, value: s.v, mean: s.v, count: 1 });
        continue;
      }
      g.count += 1;
      switch (agg.op) {
        case 'sum':
          g.value += s.v;
          break;
        case 'avg':
          // Prometheus 2.x's incremental mean (no overflow on large values);
          // an infinite mean stays as it is unless an opposite Inf or a NaN arrives.
          if (isInf(g.mean)) {
            if (isInf(s.v) && g.mean > 0 === s.v > 0) break;
            if (!isInf(s.v) && !Number.isNaN(s.v)) break;
          }
          g.mean += s.v / g.count - g.mean / g.count;
          break;
        case 'max':
          if (g.value < s.v || Number.isNaN(g.value)) g.value = s.v;
          break;
        case 'min':
          if (g.value > s.v || Number.isNaN(g.value)) g.value = s.v;
          break;
        case 'count':
        case 'group':
          break;
      }
    }
    return [...groups.values()].map((g) => {
      const v = agg.op === 'avg' ? g.mean : agg.op === 'count' ? g.count : agg.op === 'group' ? 1 : g.value;
      return { labels: g.labels, v };
    });
  }

  private binary(expr: BinaryExpr, t: number): Value {
    const lhs = this.eval(expr.lhs, t);
    const rhs = this.eval(expr.rhs, t);
    const { op, returnBool } = expr;
    const isComparison = COMPARISONS.has(op);

    if (lhs.type === 'scalar' && rhs.type === 'scalar') {
      if (isComparison) return { type: 'scalar', v: compare(op, lhs.v, rhs.v) ? 1 : 0 };
      return { type: 'scalar', v: arithmetic(op, lhs.v, rhs.v) };
    }

    if (lhs.type === 'vector' && rhs.type === 'vector') {
      if (op === 'and' || op === 'or' || op === 'unless') {
        return { type: 'vector', samples: this.setOp(op, lhs.samples, rhs.samples, expr.matching) };
      }
      return { type: 'vector', samples: this.vectorVector(expr, lhs.samples, rhs.samples) };
    }

    // Vector and scalar, in either order.
    const swap = lhs.type === 'scalar';
    const samples = (swap ? rhs : lhs) as { type: 'vector'; samples: InstantSample[] };
    const scalar = (swap ? lhs : rhs) as { type: 'scalar'; v: number };
    const out: InstantSample[] = [];
    for (const s of samples.samples) {
      const l = swap ? scalar.v : s.v;
      const r = swap ? s.v : scalar.v;
      let v: number;
      if (isComparison) {
        const keep = compare(op, l, r);
        if (returnBool) v = keep ? 1 : 0;
        else if (!keep) continue;
        else v = s.v; // A filter keeps the vector's own value, on whichever side it is.
      } else {
        v = arithmetic(op, l, r);
      }
      out.push({ labels: isComparison && !returnBool ? s.labels : dropName(s.labels), v });
    }
    assertNoDuplicates(out, `operator ${op}`);
    return { type: 'vector', samples: out };
  }

  private vectorVector(expr: BinaryExpr, lhs: InstantSample[], rhs: InstantSample[]): InstantSample[] {
    const { op, returnBool, matching } = expr;
    const isComparison = COMPARISONS.has(op);
    const right = new Map<string, InstantSample>();
    for (const s of rhs) {
      const sig = signature(s.labels, matching);
      if (right.has(sig)) {
        throw new QueryEvalError(
          `found duplicate series for the match group ${sig} on the right hand-side of the operation ${op}; ` +
            'many-to-many matching not allowed: matching labels must be unique on one side',
        );
      }
      right.set(sig, s);
    }
    const matched = new Set<string>();
    const out: InstantSample[] = [];
    for (const l of lhs) {
      const sig = signature(l.labels, matching);
      const r = right.get(sig);
      if (!r) continue;
      if (matched.has(sig)) {
        throw new QueryEvalError(
          `multiple matches for labels ${sig} on the left hand-side of the operation ${op}: ` +
            'many-to-one matching must be explicit (group_left/group_right, which this source does not support)',
        );
      }
      matched.add(sig);
      let v: number;
      if (isComparison) {
        const keep = compare(op, l.v, r.v);
        if (returnBool) v = keep ? 1 : 0;
        else if (!keep) continue;
        else v = l.v;
      } else {
        v = arithmetic(op, l.v, r.v);
      }
      let labels: Record<string, string> = { ...(isComparison && !returnBool ? l.labels : dropName(l.labels)) };
      if (matching.on) {
        const kept: Record<string, string> = {};
        for (const n of matching.labels) if (labels[n] !== undefined) kept[n] = labels[n];
        labels = kept;
      } else {
        for (const n of matching.labels) delete labels[n];
      }
      out.push({ labels, v });
    }
    assertNoDuplicates(out, `operator ${op}`);
    return out;
  }

  private setOp(op: 'and' | 'or' | 'unless', lhs: InstantSample[], rhs: InstantSample[], matching: VectorMatching): InstantSample[] {
    if (op === 'or') {
      const leftSigs = new Set(lhs.map((s) => signature(s.labels, matching)));
      return [...lhs, ...rhs.filter((s) => !leftSigs.has(signature(s.labels, matching)))];
    }
    const rightSigs = new Set(rhs.map((s) => signature(s.labels, matching)));
    return lhs.filter((s) => rightSigs.has(signature(s.labels, matching)) === (op === 'and'));
  }
}

/**
 * Evaluate `expr` at start, start + step, … ≤ end. Series come back sorted by
 * their labels; a scalar result is one series without labels. Throws
 * QueryEvalError where Prometheus would answer an execution error.
 */
export function evaluateRange(
  expr: Expr,
  store: SeriesSelector,
  startMs: number,
  endMs: number,
  stepMs: number,
  opts: EvalOptions = {},
): RangeSeries[] {
  const ev = new Evaluator(store, opts);
  const out = new Map<string, RangeSeries>();
  for (let t = startMs; t <= endMs; t += stepMs) {
    const value = ev.eval(expr, t);
    const samples = value.type === 'scalar' ? [{ labels: {}, v: value.v }] : value.samples;
    for (const s of samples) {
      const key = labelsKey(s.labels);
      let series = out.get(key);
      if (!series) {
        series = { labels: s.labels, points: [] };
        out.set(key, series);
      }
      series.points.push({ t, v: s.v });
    }
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
}
