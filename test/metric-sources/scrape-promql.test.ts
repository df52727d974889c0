/**
 * The scrape source's PromQL: parser (on the official lezer grammar) and
 * evaluator, on small synthetic databases whose expected answers are worked
 * out by hand from Prometheus 2.x's definitions (promql/functions.go
 * extrapolatedRate, promql/quantile.go bucketQuantile, engine lookback and
 * staleness). The differential test checks the same code against a real
 * Prometheus; these pin down the edge cases one by one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evaluateRange, QueryEvalError } from '../../src/metric-sources/scrape/promql-eval.ts';
import { bucketQuantile, extrapolatedRate } from '../../src/metric-sources/scrape/promql-functions.ts';
import { parseScrapeQuery, QueryParseError, validateScrapeQuery } from '../../src/metric-sources/scrape/promql-parse.ts';
import { MemoryTsdb, labelsKey } from '../../src/metric-sources/scrape/tsdb.ts';

type Raw = [t: number, v: number | 'stale'];

function db(series: { labels: Record<string, string>; samples: Raw[] }[]): MemoryTsdb {
  const tsdb = new MemoryTsdb({ retentionMs: 3_600_000, maxSamplesPerSeries: 10_000, maxSeries: 1_000 });
  for (const s of series) {
    const key = labelsKey(s.labels);
    for (const [t, v] of s.samples) {
      if (v === 'stale') tsdb.markStale(key, t);
      else assert.equal(tsdb.append(s.labels, t, v, key), 'ok');
    }
  }
  return tsdb;
}

/** The instant answer at `t`, as `labels-json → value`. */
function at(tsdb: MemoryTsdb, query: string, t: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of evaluateRange(parseScrapeQuery(query), tsdb, t, t, 1_000)) {
    assert.equal(s.points.length, 1);
    out.set(JSON.stringify(s.labels), (s.points[0] as { v: number }).v);
  }
  return out;
}

function only(tsdb: MemoryTsdb, query: string, t: number): number {
  const r = at(tsdb, query, t);
  assert.equal(r.size, 1, `${query} at ${t}: ${JSON.stringify([...r])}`);
  return [...r.values()][0] as number;
}

function close(actual: number, expected: number, eps = 1e-9): void {
  assert.ok(Math.abs(actual - expected) <= eps, `${actual} ≠ ${expected}`);
}

const counter = (labels: Record<string, string>, samples: Raw[]) => ({ labels: { __name__: 'c_total', ...labels }, samples });

describe('extrapolatedRate (Prometheus 2.x)', () => {
  test('counter reset: the value before the drop is added back', () => {
    // 10, 20, 30, reset, 5, 15 at 1 s spacing; range [0, 5 s].
    const pts = [1, 2, 3, 4, 5].map((s, i) => ({ t: s * 1000, v: [10, 20, 30, 5, 15][i] as number }));
    // increase = 15 − 10 + 30 = 35; 1 s to the start (< 1.1 × 1 s) extrapolated,
    // zero point 4 × 10/35 = 1.14 s is further than the start: 35 × 5/4.
    close(extrapolatedRate(pts, 0, 5000, 5, true, false) as number, 43.75);
    close(extrapolatedRate(pts, 0, 5000, 5, true, true) as number, 8.75);
    // delta() does not treat the drop as a reset: (15 − 10) × 5/4.
    close(extrapolatedRate(pts, 0, 5000, 5, false, false) as number, 6.25);
  });

  test('a counter is not extrapolated below zero', () => {
    const pts = [1, 2, 3, 4, 5].map((s, i) => ({ t: s * 1000, v: 1 + 10 * i }));
    // zero point 4 × 1/40 = 0.1 s before the first sample: 40 × 4.1/4.
    close(extrapolatedRate(pts, 0, 5000, 5, true, false) as number, 41);
  });

  test('gaps longer than 1.1 × the sample interval extrapolate half an interval', () => {
    const pts = [
      { t: 3000, v: 100 },
      { t: 4000, v: 110 },
    ];
    // start gap 3 s and end gap 6 s both exceed 1.1 s: 10 × (1 + 0.5 + 0.5)/1; first value
    // 100 puts the zero point 10 s back, which does not limit anything.
    close(extrapolatedRate(pts, 0, 10_000, 10, true, false) as number, 20);
    close(extrapolatedRate(pts, 0, 10_000, 10, true, true) as number, 2);
  });

  test('fewer than two samples: no value', () => {
    assert.equal(extrapolatedRate([{ t: 1000, v: 1 }], 0, 5000, 5, true, true), undefined);
  });
});

describe('bucketQuantile (Prometheus 2.x)', () => {
  const b = (pairs: [number, number][]) => pairs.map(([upperBound, count]) => ({ upperBound, count }));
  const inf = Number.POSITIVE_INFINITY;

  test('linear interpolation inside the bucket holding the rank', () => {
    const buckets = b([[0.1, 10], [0.5, 30], [1, 40], [inf, 40]]);
    close(bucketQuantile(0.5, buckets), 0.3); // rank 20: 0.1 + 0.4 × 10/20
    close(bucketQuantile(0.99, buckets), 0.98); // rank 39.6: 0.5 + 0.5 × 9.6/10
    close(bucketQuantile(0.05, buckets), 0.02); // rank 2 in the first bucket: from 0, 0.1 × 2/10
  });

  test('a rank in the +Inf bucket gives the highest finite bound', () => {
    assert.equal(bucketQuantile(0.9, b([[0.1, 10], [inf, 20]])), 0.1);
  });

  test('NaN without a +Inf bucket, with fewer than two buckets, or with no observations', () => {
    assert.ok(Number.isNaN(bucketQuantile(0.5, b([[0.1, 10], [1, 20]]))));
    assert.ok(Number.isNaN(bucketQuantile(0.5, b([[inf, 20]]))));
    assert.ok(Number.isNaN(bucketQuantile(0.5, b([[0.1, 0], [inf, 0]]))));
    assert.ok(Number.isNaN(bucketQuantile(Number.NaN, b([[0.1, 1], [inf, 2]]))));
  });

  test('q outside [0, 1] gives ∓Inf', () => {
    assert.equal(bucketQuantile(-0.1, b([[0.1, 1], [inf, 2]])), Number.NEGATIVE_INFINITY);
    assert.equal(bucketQuantile(1.1, b([[0.1, 1], [inf, 2]])), Number.POSITIVE_INFINITY);
  });

  test('non-monotonic counts are lifted, equal bounds merged, order does not matter', () => {
    // 0.5 dips below 0.1 (rates of buckets scraped at slightly different times): lifted to 10.
    close(bucketQuantile(0.5, b([[inf, 20], [0.5, 8], [0.1, 10]])), 0.1);
    close(bucketQuantile(0.5, b([[0.1, 4], [0.1, 6], [1, 20], [inf, 20]])), 0.1);
  });

  test('a first bound ≤ 0 is returned as is', () => {
    assert.equal(bucketQuantile(0.25, b([[-1, 5], [1, 10], [inf, 10]])), -1);
  });
});

describe('evaluation on a synthetic database', () => {
  test('rate/increase through the evaluator: window [t − r, t], name dropped, counter reset', () => {
    const tsdb = db([counter({ job: 'a' }, [[1000, 10], [2000, 20], [3000, 30], [4000, 5], [5000, 15]])]);
    const r = at(tsdb, 'rate(c_total[5s])', 5000);
    assert.deepEqual([...r.keys()], [JSON.stringify({ job: 'a' })]);
    close([...r.values()][0] as number, 8.75);
    close(only(tsdb, 'increase(c_total[5s])', 5000), 43.75);
    // Both ends are inclusive (Prometheus 2.x): at 6 s, [1 s, 6 s] still holds all five samples,
    // 1 s gap at the end extrapolated, 0 s at the start: 35 × 5/4.
    close(only(tsdb, 'increase(c_total[5s])', 6000), 43.75);
  });

  test('offset shifts the evaluation time of a selector', () => {
    const tsdb = db([counter({}, [[1000, 1], [2000, 2], [3000, 3]])]);
    assert.equal(only(tsdb, 'c_total offset 1s', 3000), 2);
    assert.equal(only(tsdb, '2 * c_total offset 1s', 3000), 4); // offset belongs to the selector
    close(only(tsdb, 'increase(c_total[1s] offset 1s)', 3000), 1);
  });

  test('staleness: a stale marker hides the series at once; without one it lasts 5 minutes', () => {
    const tsdb = db([
      { labels: { __name__: 'g', s: 'stale' }, samples: [[1000, 1], [2000, 2], [3000, 'stale']] },
      { labels: { __name__: 'g', s: 'quiet' }, samples: [[1000, 1], [2000, 2]] },
    ]);
    assert.equal(at(tsdb, 'g', 2500).size, 2);
    assert.deepEqual([...at(tsdb, 'g', 3000).keys()], [JSON.stringify({ __name__: 'g', s: 'quiet' })]);
    assert.deepEqual([...at(tsdb, 'g', 2000 + 300_000).keys()], [JSON.stringify({ __name__: 'g', s: 'quiet' })]);
    assert.equal(at(tsdb, 'g', 2001 + 300_000).size, 0);
  });

  test('staleness: a range skips stale markers, so a series that comes back has a rate', () => {
    const tsdb = db([counter({}, [[1000, 1], [2000, 2], [3000, 'stale'], [4000, 4], [5000, 5]])]);
    // Four real samples in [0, 5 s], 1 per second.
    close(only(tsdb, 'rate(c_total[5s])', 5000), 1);
    // Only the marker and one sample: no rate.
    assert.equal(at(tsdb, 'rate(c_total[1500ms])', 4000).size, 0);
  });

  test('matchers: = != =~ !~ with anchored regexes; "" is an absent label', () => {
    const tsdb = db([
      { labels: { __name__: 'm', code: '500' }, samples: [[1000, 1]] },
      { labels: { __name__: 'm', code: '5000' }, samples: [[1000, 2]] },
      { labels: { __name__: 'm', code: '200' }, samples: [[1000, 3]] },
      { labels: { __name__: 'm' }, samples: [[1000, 4]] },
    ]);
    const values = (q: string) => [...at(tsdb, q, 1000).values()].sort();
    assert.deepEqual(values('m{code=~"5.."}'), [1]); // not 5000: anchored
    assert.deepEqual(values('m{code=~"5.*"}'), [1, 2]);
    assert.deepEqual(values('m{code!~"5.."}'), [2, 3, 4]);
    assert.deepEqual(values('m{code="200"}'), [3]);
    assert.deepEqual(values('m{code!="200"}'), [1, 2, 4]);
    assert.deepEqual(values('m{code=""}'), [4]);
    assert.deepEqual(values('m{code!=""}'), [1, 2, 3]);
    assert.deepEqual(values('m{code=~"2..|50+"}'), [1, 2, 3]);
    assert.deepEqual(values('m{code=~"(?i)X|500"}'), [1]);
    assert.deepEqual(values('m{code=~"(?P<first>5)0+"}'), [1, 2]); // RE2's named group
    // PromQL strings use Go escapes: a regex \d is written "\\d" (or `\d` raw); "\d" is an error there too.
    assert.deepEqual(values('m{code=~"\\\\d{3}"}'), [1, 3]);
    assert.deepEqual(values('m{code=~`\\d{3}`}'), [1, 3]);
    assert.throws(() => values('m{code=~"\\d{3}"}'), /invalid escape \\d/);
    assert.deepEqual(values('{__name__="m", code="500"}'), [1]);
    assert.deepEqual(values("m{code='500'}"), [1]);
    assert.deepEqual(values('m{code=`500`}'), [1]);
  });

  test('aggregations: sum, by, without, avg, min, max, count, group', () => {
    const g = (group: string, route: string, v: number) => ({ labels: { __name__: 'r', group, route }, samples: [[1000, v]] as Raw[] });
    const tsdb = db([g('control', '/a', 1), g('control', '/b', 3), g('experiment', '/a', 10), g('experiment', '/b', Number.NaN)]);
    assert.ok(Number.isNaN(only(tsdb, 'sum(r)', 1000)));
    assert.equal(only(tsdb, 'sum(r{group="control"})', 1000), 4);
    assert.deepEqual(
      at(tsdb, 'sum by (group) (r)', 1000).get(JSON.stringify({ group: 'control' })),
      4,
    );
    assert.deepEqual([...at(tsdb, 'sum without (route) (r{group="control"})', 1000).entries()], [[JSON.stringify({ group: 'control' }), 4]]);
    assert.equal(only(tsdb, 'avg(r{group="control"})', 1000), 2);
    assert.equal(only(tsdb, 'min(r)', 1000), 1);
    assert.equal(only(tsdb, 'max(r)', 1000), 10); // NaN never wins min/max over a number
    assert.equal(only(tsdb, 'count(r)', 1000), 4);
    assert.equal(only(tsdb, 'group(r)', 1000), 1);
  });

  test('histogram_quantile over buckets, grouped by the other labels, +Inf and malformed le', () => {
    const bucket = (group: string, le: string, v: number) => ({ labels: { __name__: 'h_bucket', group, le }, samples: [[1000, v]] as Raw[] });
    const tsdb = db([
      bucket('a', '0.1', 10),
      bucket('a', '0.5', 30),
      bucket('a', '1', 40),
      bucket('a', '+Inf', 40),
      bucket('b', '0.1', 10),
      bucket('b', '+Inf', 20),
      bucket('b', 'oops', 1000), // skipped, as Prometheus does
      bucket('c', '0.1', 10), // no +Inf bucket: NaN
    ]);
    const r = at(tsdb, 'histogram_quantile(0.5, h_bucket)', 1000);
    close(r.get(JSON.stringify({ group: 'a' })) as number, 0.3);
    assert.equal(r.get(JSON.stringify({ group: 'b' })), 0.1);
    assert.ok(Number.isNaN(r.get(JSON.stringify({ group: 'c' }))));
    close(only(tsdb, 'histogram_quantile(0.5, sum by (le) (h_bucket{group="a"}))', 1000), 0.3);
  });

  test('the error ratio: `or vector(0)` fills a missing numerator; no denominator is no data', () => {
    const req = (group: string, code: string, samples: Raw[]) => ({ labels: { __name__: 'req_total', group, code }, samples });
    const tsdb = db([
      req('control', '200', [[1000, 0], [2000, 10], [3000, 20]]),
      req('experiment', '200', [[1000, 0], [2000, 9], [3000, 18]]),
      req('experiment', '500', [[1000, 0], [2000, 1], [3000, 2]]),
    ]);
    const q = (g: string) =>
      `(sum(rate(req_total{group="${g}",code=~"5.."}[2s])) or vector(0)) / sum(rate(req_total{group="${g}"}[2s]))`;
    assert.equal(only(tsdb, q('control'), 3000), 0);
    close(only(tsdb, q('experiment'), 3000), 0.1);
    assert.equal(at(tsdb, q('nobody'), 3000).size, 0);
  });

  test('binary operators: one-to-one matching, on/ignoring, scalars, filters and bool', () => {
    const m = (name: string, labels: Record<string, string>, v: number) => ({ labels: { __name__: name, ...labels }, samples: [[1000, v]] as Raw[] });
    const tsdb = db([m('a', { g: 'x', i: '1' }, 6), m('a', { g: 'y', i: '1' }, 8), m('b', { g: 'x', i: '2' }, 2), m('b', { g: 'y', i: '2' }, 4)]);
    // Without on(): the label sets differ in i, so nothing matches.
    assert.equal(at(tsdb, 'a / b', 1000).size, 0);
    assert.deepEqual([...at(tsdb, 'a / on(g) b', 1000).entries()].sort(), [
      [JSON.stringify({ g: 'x' }), 3],
      [JSON.stringify({ g: 'y' }), 2],
    ]);
    assert.deepEqual([...at(tsdb, 'a / ignoring(i) b', 1000).entries()].sort(), [
      [JSON.stringify({ g: 'x' }), 3],
      [JSON.stringify({ g: 'y' }), 2],
    ]);
    assert.equal(only(tsdb, 'sum(a) / sum(b)', 1000), 14 / 6);
    assert.equal(only(tsdb, 'sum(a) - 2 * sum(b) + 1', 1000), 14 - 12 + 1);
    // A filter keeps the vector's value (and name), whichever side it is on.
    assert.deepEqual([...at(tsdb, 'a > 7', 1000).entries()], [[JSON.stringify({ __name__: 'a', g: 'y', i: '1' }), 8]]);
    assert.deepEqual([...at(tsdb, '7 < a', 1000).values()], [8]);
    assert.deepEqual([...at(tsdb, 'a > bool 7', 1000).values()].sort(), [0, 1]);
    assert.equal(only(tsdb, '1 < bool 2', 1000), 1);
    assert.deepEqual([...at(tsdb, '-a', 1000).keys()].sort(), [JSON.stringify({ g: 'x', i: '1' }), JSON.stringify({ g: 'y', i: '1' })]);
    assert.deepEqual([...at(tsdb, 'a and on(g) b{g="x"}', 1000).values()], [6]);
    assert.deepEqual([...at(tsdb, 'a unless on(g) b{g="x"}', 1000).values()], [8]);
    assert.equal(only(tsdb, 'vector(1) + vector(2)', 1000), 3);
  });

  test('ambiguous matching is an execution error, as in Prometheus', () => {
    const m = (name: string, labels: Record<string, string>) => ({ labels: { __name__: name, ...labels }, samples: [[1000, 1]] as Raw[] });
    const tsdb = db([m('a', { g: 'x', i: '1' }), m('a', { g: 'x', i: '2' }), m('b', { g: 'x' })]);
    assert.throws(() => at(tsdb, 'a / on(g) b', 1000), (e: unknown) => e instanceof QueryEvalError && /many-to-one matching must be explicit/.test(e.message));
    assert.throws(() => at(tsdb, 'b / on(g) a', 1000), (e: unknown) => e instanceof QueryEvalError && /many-to-many matching not allowed/.test(e.message));
  });

  test('a range query evaluates every step from start to end', () => {
    const tsdb = db([counter({}, Array.from({ length: 11 }, (_, i): Raw => [i * 1000, i * 2]))]);
    const [s] = evaluateRange(parseScrapeQuery('rate(c_total[2s])'), tsdb, 2000, 10_000, 2000);
    assert.deepEqual(s?.points.map((p) => p.t), [2000, 4000, 6000, 8000, 10_000]);
    for (const p of s?.points ?? []) close(p.v, 2);
  });

  test('a scalar result is one series without labels', () => {
    const series = evaluateRange(parseScrapeQuery('1 + 2'), db([]), 0, 2000, 1000);
    assert.deepEqual(series, [{ labels: {}, points: [{ t: 0, v: 3 }, { t: 1000, v: 3 }, { t: 2000, v: 3 }] }]);
  });
});

describe('validateScrapeQuery: the subset, and clear refusals', () => {
  test('the queries the specs and the query library use are accepted', () => {
    for (const q of [
      'sum(rate(shop_checkouts_total{group="$group"}[15s]))',
      'histogram_quantile(0.95, sum by (le) (rate(steadystate_proxy_request_duration_seconds_bucket{group="$group"}[5s])))',
      '(sum(rate(steadystate_proxy_requests_total{group="$group",code=~"5.."}[5s])) or vector(0)) / sum(rate(steadystate_proxy_requests_total{group="$group"}[5s]))',
      'sum(rate(http_requests_total{group="experiment",code=~"5.."}[15s])) / sum(rate(http_requests_total{group="experiment"}[15s]))',
      '((sum(rate(m{group="$group", job=~".*", route=~".*", method=~".*", code=~"5..|aborted"}[1m])) or vector(0)) / sum(rate(m{group="$group", job=~".*"}[1m]))) / (1 - 0.999)',
      'sum(rate(m_bucket{group="$group", le="0.3"}[1m])) / sum(rate(m_count{group="$group"}[1m]))',
      'sum by (group) (increase(shop_requests_total{service="${service}"}[1m])) > 0',
    ]) {
      assert.equal(validateScrapeQuery(q), undefined, q);
    }
  });

  test('constructs outside the subset are refused by name, with where they are', () => {
    const cases: [string, RegExp][] = [
      ['irate(x[5m])', /the function irate\(\) is not supported by the scrape source at char 1/],
      ['topk(3, rate(x[5m]))', /the aggregation topk is not supported/],
      ['quantile(0.9, x)', /the aggregation quantile is not supported/],
      ['x ^ 2', /the operator \^ is not supported .* at char 3/],
      ['x % 2', /the operator % is not supported/],
      ['rate(x[5m:1m])', /a subquery .* is not supported/],
      ['x @ 1700000000', /the @ modifier is not supported/],
      ['a / on(g) group_left b', /group_left\/group_right .* is not supported/],
      ['label_replace(x, "a", "$1", "b", "(.*)")', /the function label_replace\(\) is not supported/],
      ['x{a=~"(?=b)"}', /regex "\(\?=b\)" is not supported by the scrape source: lookaround/],
      ['x{a=~"[[:alpha:]]"}', /POSIX classes/],
      ['x{a=~"\\\\pL"}', /escape \\p is not supported/],
      ['"text"', /a string literal outside a label matcher is not supported/],
      ['x[5m]', /a range vector cannot be graphed/],
      ['rate(x)', /rate\(\) expects a range vector/],
      ['sum(x[5m])', /sum\(\) expects an instant vector, got a range vector/],
      ['1 > 2', /comparisons between scalars must use the bool modifier/],
      ['x and 1', /set operator and is only allowed between instant vectors/],
      ['{job=~".*"}', /at least one matcher that does not match the empty string/],
      ['sum(x) offset 1m', /offset must follow a selector/],
      ['x{', /not valid PromQL: syntax error at char 3/],
      ['sum(rate(x[5m])', /not valid PromQL: syntax error/],
      ['', /the query is empty/],
      ['x[5]', /a range without a unit/],
      ['x{"a"="b"}', /quoted label name/],
    ];
    for (const [q, re] of cases) {
      const msg = validateScrapeQuery(q);
      assert.ok(msg !== undefined, `accepted: ${q}`);
      assert.match(msg, re, q);
    }
  });

  test('parseScrapeQuery throws QueryParseError', () => {
    assert.throws(() => parseScrapeQuery('stddev(x)'), QueryParseError);
  });
});
