/**
 * Contract tests: the Datadog source against a local server that follows the
 * documented Metrics API (test/helpers/datadog-server.ts), asserting what the
 * client sent (path, headers, units, body) and how it reads every answer:
 * success, 429 with reset headers, 403, 5xx, timeouts, empty and null data.
 */
import { DEFAULT_POLICY } from '../../src/security/policy.ts';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { AbortedError, NoDataError, SourceError } from '../../src/lib/errors.ts';
import {
  datadogConfigSchema,
  DatadogSource,
  PROBE_QUERY,
  toV2Queries,
  type DatadogConfigInput,
  type DatadogDeps,
} from '../../src/metric-sources/datadog.ts';
import type { TimeRange } from '../../src/metric-sources/types.ts';
import { freePort } from '../helpers/ports.ts';
import {
  parseMetricQuery,
  startDatadogServer,
  TEST_API_KEY,
  TEST_APP_KEY,
  type DatadogServer,
  type DatadogServerOptions,
} from '../helpers/datadog-server.ts';

const RANGE: TimeRange = {
  start: new Date('2024-05-01T12:00:00.000Z'),
  end: new Date('2024-05-01T12:01:00.000Z'),
  stepMs: 10_000,
};
const START = RANGE.start.getTime();
const END = RANGE.end.getTime();
const KEYS_ENV = { DD_API_KEY: TEST_API_KEY, DD_APP_KEY: TEST_APP_KEY };

const servers: DatadogServer[] = [];
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'steadystate-dd-'));
});
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await rm(dir, { recursive: true, force: true });
});

async function server(opts: DatadogServerOptions = {}): Promise<DatadogServer> {
  const s = await startDatadogServer(opts);
  servers.push(s);
  return s;
}

function source(url: string, extra: Partial<DatadogConfigInput> = {}, deps: DatadogDeps = {}): DatadogSource {
  return new DatadogSource(datadogConfigSchema.parse({ kind: 'datadog', url, ...extra }), { env: KEYS_ENV, ...deps });
}

/** Nothing reachable from an error may show a key. */
function assertNoSecret(err: unknown): void {
  const views = [String(err), JSON.stringify(err), inspect(err, { depth: 10, showHidden: true })];
  for (const view of views) {
    for (const secret of [TEST_API_KEY, TEST_APP_KEY, 'wrong-api-key-value', 'wrong-app-key-value']) {
      assert.ok(!view.includes(secret), `secret leaked in: ${view}`);
    }
  }
}

function rejectsWith(promise: Promise<unknown>, expected: { code: string; retryable: boolean; message?: RegExp }): Promise<void> {
  return assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SourceError, `expected SourceError, got ${inspect(err)}`);
    assert.equal(err.code, expected.code, err.message);
    assert.equal(err.retryable, expected.retryable, err.message);
    if (expected.message) assert.match(err.message, expected.message);
    assertNoSecret(err);
    return true;
  });
}

/** 12 ms-aligned points over RANGE, every 10 s; values from the group tag. */
function shopData(query: string, t: number): number | null | undefined {
  const q = parseMetricQuery(query);
  if (q.metric !== 'shop.checkouts') return undefined;
  return (q.tags.group === 'experiment' ? 20 : 10) + (t - START) / 10_000;
}

void describe('v2 query: what is sent and how the answer is read', () => {
  void test('POSTs the documented body with ms units, the interval and both key headers', async () => {
    const dd = await server({ data: shopData });
    const result = await source(dd.url).queryRange('sum:shop.checkouts{group:control}.as_rate()', RANGE);

    assert.equal(dd.requests.length, 1);
    const req = dd.requests[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/api/v2/query/timeseries');
    assert.equal(req.headers['dd-api-key'], TEST_API_KEY);
    assert.equal(req.headers['dd-application-key'], TEST_APP_KEY);
    assert.match(String(req.headers['content-type']), /^application\/json/);
    assert.deepEqual(req.json, {
      data: {
        type: 'timeseries_request',
        attributes: {
          from: START, // ms, not seconds
          to: END,
          interval: 10_000,
          queries: [{ data_source: 'metrics', query: 'sum:shop.checkouts{group:control}.as_rate()', name: 'query1' }],
        },
      },
    });
    assert.equal(result.series.length, 1);
    const [series] = result.series;
    // `to` is exclusive: six buckets from 12:00:00 to 12:00:50.
    assert.deepEqual(
      series!.samples.map((s) => s.t),
      [0, 1, 2, 3, 4, 5].map((k) => START + k * 10_000),
    );
    assert.deepEqual(
      series!.samples.map((s) => s.v),
      [10, 11, 12, 13, 14, 15],
    );
    assert.equal(series!.nonFinite, 0);
    assert.deepEqual(result.warnings, []);
  });

  void test('the range step wins over the configured step; group_tags become labels', async () => {
    const dd = await server({
      reply: () => ({
        json: {
          data: {
            type: 'timeseries_response',
            attributes: {
              series: [{ group_tags: ['group:control', 'route:/checkout', 'bare'], query_index: 0, unit: null }],
              times: [START, START + 5_000],
              values: [[1.5, 2.5]],
            },
          },
        },
      }),
    });
    const result = await source(dd.url, { step: '30s' }).queryRange('avg:x{*} by {group,route}', { ...RANGE, stepMs: 5_000 });
    assert.equal(dd.requests[0]!.json.data.attributes.interval, 5_000);
    assert.deepEqual(result.series[0]!.labels, { group: 'control', route: '/checkout', bare: '' });
    assert.deepEqual(result.series[0]!.samples, [
      { t: START, v: 1.5 },
      { t: START + 5_000, v: 2.5 },
    ]);
  });

  void test('a one-instant range asks for the bucket holding that instant (to stays after from)', async () => {
    const dd = await server({ data: shopData });
    const at = new Date(START + 20_000);
    const result = await source(dd.url).queryRange('sum:shop.checkouts{group:control}.as_rate()', { start: at, end: at, stepMs: 10_000 });
    const attrs = dd.requests[0]!.json.data.attributes;
    assert.deepEqual([attrs.from, attrs.to], [START + 20_000, START + 20_001]);
    assert.deepEqual(result.series[0]!.samples, [{ t: START + 20_000, v: 12 }]);
  });

  void test('arithmetic between metric queries is sent as named queries and one formula', async () => {
    const dd = await server({ data: shopData });
    const query = '(sum:shop.checkouts{group:experiment}.as_count() - sum:shop.checkouts{group:control}.as_count()) / 2';
    const result = await source(dd.url).queryRange(query, RANGE);
    const attrs = dd.requests[0]!.json.data.attributes;
    assert.deepEqual(attrs.queries, [
      { data_source: 'metrics', query: 'sum:shop.checkouts{group:experiment}.as_count()', name: 'query1' },
      { data_source: 'metrics', query: 'sum:shop.checkouts{group:control}.as_count()', name: 'query2' },
    ]);
    assert.deepEqual(attrs.formulas, [{ formula: '(query1 - query2) / 2' }]);
    assert.deepEqual(
      result.series[0]!.samples.map((s) => s.v),
      [5, 5, 5, 5, 5, 5],
    );
  });

  void test('toV2Queries: identical queries share a name; an unrecognised metric query is refused, not mangled', () => {
    assert.deepEqual(toV2Queries('sum:a{x:1}.as_count() / sum:a{x:1}.as_count()'), {
      queries: [{ data_source: 'metrics', query: 'sum:a{x:1}.as_count()', name: 'query1' }],
      formulas: [{ formula: 'query1 / query1' }],
    });
    assert.deepEqual(toV2Queries('  p95:trace.http.request{service:shop} by {resource_name}  '), {
      queries: [{ data_source: 'metrics', query: 'p95:trace.http.request{service:shop} by {resource_name}', name: 'query1' }],
    });
    assert.throws(
      () => toV2Queries('sum:a{x:1} / weird:thing{y:2'),
      (err: unknown) => err instanceof SourceError && err.code === 'datadog_unsupported_query' && /api: v1/.test(err.message),
    );
  });

  void test('null points are missing data: dropped and counted, never zero', async () => {
    const dd = await server({ data: (q, t) => (((t - START) / 10_000) % 2 === 0 ? null : 7) });
    const result = await source(dd.url).queryRange('avg:shop.latency{group:control}', RANGE);
    const [series] = result.series;
    assert.deepEqual(
      series!.samples.map((s) => s.v),
      [7, 7, 7],
    );
    assert.equal(series!.nonFinite, 3);
    assert.ok(series!.samples.every((s) => s.v !== 0));
    // The series ends on a finite point here; lastT is the last bucket returned.
    assert.equal(series!.lastT, START + 50_000);
  });

  void test('a series ending on null: lastT is after the last sample (missing now, not its old value)', async () => {
    const dd = await server({ data: (q, t) => (t >= START + 40_000 ? null : 7) });
    const [series] = (await source(dd.url).queryRange('avg:shop.latency{group:control}', RANGE)).series;
    assert.equal(series!.samples.at(-1)!.t, START + 30_000);
    assert.equal(series!.lastT, START + 50_000);
    assert.equal(series!.nonFinite, 2);
  });

  void test('only null points → NoDataError, not zeros', async () => {
    const dd = await server({ data: () => null });
    await assert.rejects(source(dd.url).queryRange('avg:shop.latency{group:control}', RANGE), (err: unknown) => {
      assert.ok(err instanceof NoDataError, inspect(err));
      assert.match(err.message, /all 6 points were null \(missing data, not zero\)/);
      return true;
    });
  });

  void test('an empty series list → NoDataError', async () => {
    const dd = await server({ data: () => undefined });
    await assert.rejects(source(dd.url).queryRange('sum:nothing.here{group:control}', RANGE), (err: unknown) => {
      assert.ok(err instanceof NoDataError, inspect(err));
      assert.equal(err.query, 'sum:nothing.here{group:control}');
      assert.match(err.message, /no series/);
      return true;
    });
  });

  void test('a 400 is a non-retryable datadog_bad_query carrying Datadog\'s message', async () => {
    const dd = await server({ reply: () => ({ status: 400, json: { errors: ['Error parsing query: unable to parse avg:'] } }) });
    await rejectsWith(source(dd.url).queryRange('avg:', RANGE), {
      code: 'datadog_bad_query',
      retryable: false,
      message: /HTTP 400.*unable to parse avg:/,
    });
    assert.equal(dd.requests.length, 1);
  });

  void test('an `errors` field without series is a query error; beside data it is a warning', async () => {
    const dd = await server({ reply: () => ({ json: { errors: 'metric does not exist' } }) });
    await rejectsWith(source(dd.url).queryRange('avg:x{*}', RANGE), { code: 'datadog_query_error', retryable: false, message: /does not exist/ });

    const dd2 = await server({
      reply: () => ({
        json: {
          data: { attributes: { series: [{ group_tags: [], query_index: 0 }], times: [START], values: [[3]] } },
          errors: 'partial results',
        },
      }),
    });
    const result = await source(dd2.url).queryRange('avg:x{*}', RANGE);
    assert.deepEqual(result.warnings, ['partial results']);
  });

  void test('times in seconds where ms are due are refused as a unit mismatch, not judged as 1970', async () => {
    const dd = await server({
      reply: () => ({
        json: { data: { attributes: { series: [{ group_tags: [] }], times: [START / 1000], values: [[1]] } } },
      }),
    });
    await rejectsWith(source(dd.url).queryRange('avg:x{*}', RANGE), { code: 'datadog_bad_response', retryable: false, message: /milliseconds/ });
  });
});

void describe('v1 query (api: v1)', () => {
  void test('GETs /api/v1/query with from/to in seconds and reads ms pointlists, nulls dropped', async () => {
    const dd = await server({ v1IntervalMs: 10_000, data: (q, t) => (t === START + 20_000 ? null : shopData(q, t)) });
    const range = { start: new Date(START + 500), end: new Date(END - 500), stepMs: 10_000 };
    const result = await source(dd.url, { api: 'v1' }).queryRange(
      'sum:shop.checkouts{group:experiment}.as_count() / sum:shop.checkouts{group:control}.as_count()',
      range,
    );
    const req = dd.requests[0]!;
    assert.equal(req.method, 'GET');
    assert.equal(req.path, '/api/v1/query');
    assert.equal(req.headers['dd-api-key'], TEST_API_KEY);
    assert.equal(req.headers['dd-application-key'], TEST_APP_KEY);
    // Seconds, rounded outwards so the whole range is covered.
    assert.equal(req.query.get('from'), String(START / 1000));
    assert.equal(req.query.get('to'), String(END / 1000));
    assert.equal(req.query.get('query'), 'sum:shop.checkouts{group:experiment}.as_count() / sum:shop.checkouts{group:control}.as_count()');
    const [series] = result.series;
    assert.equal(series!.nonFinite, 1);
    assert.deepEqual(
      series!.samples.map((s) => s.t),
      [0, 1, 3, 4, 5, 6].map((k) => START + k * 10_000),
    );
    assert.equal(series!.samples[0]!.v, 2);
    assert.equal(series!.lastT, START + 60_000);
  });

  void test('a v1 error status is a query error', async () => {
    const dd = await server({ reply: () => ({ json: { status: 'error', error: 'Rollup interval too small' } }) });
    await rejectsWith(source(dd.url, { api: 'v1' }).queryRange('avg:x{*}', RANGE), {
      code: 'datadog_query_error',
      retryable: false,
      message: /Rollup interval too small/,
    });
  });
});

void describe('rate limits', () => {
  const limited = (reset: string) => ({
    status: 429,
    json: { errors: ['Rate limit of 100 requests in 10 seconds reached'] },
    headers: {
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Period': '10',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': reset,
      'X-RateLimit-Name': 'query_timeseries',
    },
  });

  void test('429 waits for X-RateLimit-Reset, then retries and succeeds', async () => {
    let calls = 0;
    const dd = await server({ data: shopData, reply: (req) => (req.path.includes('query') && calls++ === 0 ? limited('1') : undefined) });
    const result = await source(dd.url).queryRange('sum:shop.checkouts{group:control}.as_rate()', RANGE);
    assert.equal(result.series.length, 1);
    assert.equal(dd.requests.length, 2);
    const waited = dd.requests[1]!.at - dd.requests[0]!.at;
    assert.ok(waited >= 990, `retried after ${waited} ms, before the 1 s reset`);
    assert.ok(waited < 1_900, `waited ${waited} ms, far longer than the reset`);
  });

  void test('a reset beyond maxRateLimitWait fails at once (retryable) instead of waiting', async () => {
    const dd = await server({ reply: () => limited('3600') });
    const started = Date.now();
    await rejectsWith(source(dd.url, { maxRateLimitWait: '5s' }).queryRange('avg:x{*}', RANGE), {
      code: 'datadog_rate_limited',
      retryable: true,
      message: /resets in 1h, longer than maxRateLimitWait 5s/,
    });
    assert.equal(dd.requests.length, 1);
    assert.ok(Date.now() - started < 500);
  });

  void test('the wait for a reset ends with the caller\'s signal', async () => {
    const dd = await server({ reply: () => limited('20') });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(source(dd.url).queryRange('avg:x{*}', RANGE, controller.signal), AbortedError);
    assert.ok(Date.now() - started < 1_000, 'the signal cut the 20 s wait short');
  });

  void test('X-RateLimit-Remaining running low spreads requests over the time left until the reset', async () => {
    let calls = 0;
    const dd = await server({
      data: shopData,
      // One request left in a window that resets in 1 s.
      headers: (req) =>
        req.path.includes('query') && calls++ === 0
          ? { 'X-RateLimit-Limit': '20', 'X-RateLimit-Remaining': '1', 'X-RateLimit-Reset': '1', 'X-RateLimit-Period': '1' }
          : undefined,
    });
    const src = source(dd.url);
    for (let i = 0; i < 3; i += 1) await src.queryRange('sum:shop.checkouts{group:control}.as_rate()', RANGE);
    const [a, b, c] = dd.requests.map((r) => r.at);
    // The last request of the window goes halfway to the reset, the next one at the reset.
    assert.ok(b! - a! >= 450, `second request after ${b! - a!} ms`);
    assert.ok(c! - a! >= 950, `third request after ${c! - a!} ms, before the window reset`);
    assert.ok(c! - a! < 1_900);
  });
});

void describe('keys and 403', () => {
  void test('a refused API key: the error names DD_API_KEY, never the value', async () => {
    const dd = await server({ data: shopData });
    const src = new DatadogSource(datadogConfigSchema.parse({ kind: 'datadog', url: dd.url }), {
      env: { DD_API_KEY: 'wrong-api-key-value', DD_APP_KEY: TEST_APP_KEY },
    });
    await rejectsWith(src.queryRange('sum:shop.checkouts{group:control}', RANGE), {
      code: 'datadog_invalid_api_key',
      retryable: false,
      message: /the API key from DD_API_KEY was refused \(HTTP 403\).*another Datadog site/,
    });
    // The 403 on the query was diagnosed with the validate endpoint, once, without retries.
    assert.deepEqual(
      dd.requests.map((r) => r.path),
      ['/api/v2/query/timeseries', '/api/v1/validate'],
    );
  });

  void test('a refused application key: the error names DD_APP_KEY, never the value', async () => {
    const dd = await server({ data: shopData });
    const src = new DatadogSource(datadogConfigSchema.parse({ kind: 'datadog', url: dd.url }), {
      env: { DD_API_KEY: TEST_API_KEY, DD_APP_KEY: 'wrong-app-key-value' },
    });
    await rejectsWith(src.queryRange('sum:shop.checkouts{group:control}', RANGE), {
      code: 'datadog_invalid_app_key',
      retryable: false,
      message: /application key from DD_APP_KEY was refused \(HTTP 403\) while the API key from DD_API_KEY is valid/,
    });
  });

  void test('keys from files: the error names the file, trailing newlines are ignored', async () => {
    const dd = await server({ data: shopData });
    const apiFile = join(dir, 'api-key');
    const appFile = join(dir, 'app-key');
    await writeFile(apiFile, `${TEST_API_KEY}\n`);
    await writeFile(appFile, 'wrong-app-key-value\n');
    const src = new DatadogSource(datadogConfigSchema.parse({ kind: 'datadog', url: dd.url, apiKeyFile: apiFile, appKeyFile: appFile }), {
      env: {},
      // The operator's STEADYSTATE_SECRET_FILE_DIRS holds the key files' directory.
      policy: { ...DEFAULT_POLICY, secretFileDirs: [dir] },
    });
    await rejectsWith(src.queryRange('sum:shop.checkouts{group:control}', RANGE), {
      code: 'datadog_invalid_app_key',
      retryable: false,
      message: new RegExp(`application key from appKeyFile ${appFile} was refused`),
    });
    await writeFile(appFile, `${TEST_APP_KEY}\n`);
    const ok = new DatadogSource(datadogConfigSchema.parse({ kind: 'datadog', url: dd.url, apiKeyFile: apiFile, appKeyFile: appFile }), {
      env: {},
      // The operator's STEADYSTATE_SECRET_FILE_DIRS holds the key files' directory.
      policy: { ...DEFAULT_POLICY, secretFileDirs: [dir] },
    });
    assert.equal((await ok.queryRange('sum:shop.checkouts{group:control}', RANGE)).series.length, 1);
  });

  void test('missing keys say where to put them', async () => {
    const src = new DatadogSource(datadogConfigSchema.parse({ kind: 'datadog', url: 'http://127.0.0.1:9' }), { env: {} });
    await rejectsWith(src.queryRange('avg:x{*}', RANGE), { code: 'datadog_missing_api_key', retryable: false, message: /set DD_API_KEY, or apiKeyFile/ });
    const noApp = new DatadogSource(datadogConfigSchema.parse({ kind: 'datadog', url: 'http://127.0.0.1:9' }), { env: { DD_API_KEY: 'abc123' } });
    await rejectsWith(noApp.check(), { code: 'datadog_missing_app_key', retryable: false, message: /DD_APP_KEY or DD_APPLICATION_KEY/ });
    const missingFile = new DatadogSource(
      datadogConfigSchema.parse({ kind: 'datadog', url: 'http://127.0.0.1:9', apiKeyFile: join(dir, 'nope') }),
      { env: KEYS_ENV, policy: { ...DEFAULT_POLICY, secretFileDirs: [dir] } },
    );
    await rejectsWith(missingFile.check(), { code: 'datadog_missing_api_key', retryable: false, message: /nope cannot be read \(ENOENT\)/ });
  });

  void test('a key echoed back by a server is redacted from the message', async () => {
    const dd = await server({ reply: () => ({ status: 400, json: { errors: [`bad request with key ${TEST_API_KEY}`] } }) });
    await rejectsWith(source(dd.url).queryRange('avg:x{*}', RANGE), { code: 'datadog_bad_query', retryable: false, message: /\[redacted\]/ });
  });
});

void describe('5xx, timeouts and network failures', () => {
  void test('5xx is retried with backoff, then the success is returned', async () => {
    let calls = 0;
    const dd = await server({
      data: shopData,
      reply: () => (calls++ < 2 ? { status: calls === 1 ? 503 : 500, json: { errors: ['Internal Server Error'] } } : undefined),
    });
    const result = await source(dd.url, {}, { retry: { baseMs: 20, maxMs: 50 } }).queryRange('sum:shop.checkouts{group:control}', RANGE);
    assert.equal(result.series.length, 1);
    assert.equal(dd.requests.length, 3);
  });

  void test('5xx on every attempt ends as a retryable datadog_server_error after `attempts` requests', async () => {
    const dd = await server({ reply: () => ({ status: 502, text: '<html>Bad Gateway</html>' }) });
    await rejectsWith(source(dd.url, { attempts: 2 }, { retry: { baseMs: 10, maxMs: 10 } }).queryRange('avg:x{*}', RANGE), {
      code: 'datadog_server_error',
      retryable: true,
      message: /HTTP 502/,
    });
    assert.equal(dd.requests.length, 2);
  });

  void test('a hung request times out per attempt and is retried; the whole call stays bounded', async () => {
    const dd = await server({ reply: () => 'hang' });
    const started = Date.now();
    await rejectsWith(source(dd.url, { timeout: '200ms', attempts: 2 }, { retry: { baseMs: 10, maxMs: 10 } }).queryRange('avg:x{*}', RANGE), {
      code: 'datadog_timeout',
      retryable: true,
      message: /no complete answer within 200ms/,
    });
    const elapsed = Date.now() - started;
    assert.equal(dd.requests.length, 2);
    assert.ok(elapsed >= 390 && elapsed < 1_500, `took ${elapsed} ms`);
  });

  void test('a timeout then a success returns the data', async () => {
    let calls = 0;
    const dd = await server({ data: shopData, reply: () => (calls++ === 0 ? 'hang' : undefined) });
    const result = await source(dd.url, { timeout: '200ms' }, { retry: { baseMs: 10, maxMs: 10 } }).queryRange(
      'sum:shop.checkouts{group:control}',
      RANGE,
    );
    assert.equal(result.series.length, 1);
  });
});

void describe('check(): wrong key, wrong site and network failure are told apart', () => {
  void test('a healthy source: validate with the API key only, then a probe query with both keys', async () => {
    const dd = await server();
    await source(dd.url).check();
    assert.deepEqual(
      dd.requests.map((r) => r.path),
      ['/api/v1/validate', '/api/v2/query/timeseries'],
    );
    assert.equal(dd.requests[0]!.headers['dd-api-key'], TEST_API_KEY);
    assert.equal(dd.requests[0]!.headers['dd-application-key'], undefined);
    assert.equal(dd.requests[1]!.json.data.attributes.queries[0].query, PROBE_QUERY);
    assert.equal(dd.requests[1]!.headers['dd-application-key'], TEST_APP_KEY);
  });

  void test('wrong API key → datadog_invalid_api_key', async () => {
    const dd = await server();
    const src = new DatadogSource(datadogConfigSchema.parse({ kind: 'datadog', url: dd.url }), {
      env: { DD_API_KEY: 'wrong-api-key-value', DD_APP_KEY: TEST_APP_KEY },
    });
    await rejectsWith(src.check(), { code: 'datadog_invalid_api_key', retryable: false, message: /API key from DD_API_KEY was refused/ });
  });

  void test('wrong application key → datadog_invalid_app_key', async () => {
    const dd = await server();
    const src = new DatadogSource(datadogConfigSchema.parse({ kind: 'datadog', url: dd.url }), {
      env: { DD_API_KEY: TEST_API_KEY, DD_APP_KEY: 'wrong-app-key-value' },
    });
    await rejectsWith(src.check(), { code: 'datadog_invalid_app_key', retryable: false, message: /application key from DD_APP_KEY/ });
  });

  void test('a 404 (not a Datadog API) → datadog_wrong_site', async () => {
    const dd = await server({ reply: () => ({ status: 404, text: 'Not Found' }) });
    await rejectsWith(source(dd.url).check(), { code: 'datadog_wrong_site', retryable: false, message: /HTTP 404.*check `url`/ });
  });

  void test('a 200 page that is not the validate answer → datadog_wrong_site', async () => {
    const dd = await server({ reply: () => ({ text: '<html>login</html>' }) });
    await rejectsWith(source(dd.url).check(), { code: 'datadog_wrong_site', retryable: false, message: /not a Datadog API/ });
  });

  void test('a host that does not resolve → datadog_wrong_site', async () => {
    await rejectsWith(source('http://api.datadoghq.invalid').check(), {
      code: 'datadog_wrong_site',
      retryable: false,
      message: /does not resolve \(ENOTFOUND\)/,
    });
  });

  void test('a refused connection → datadog_wrong_site', async () => {
    const port = await freePort();
    await rejectsWith(source(`http://127.0.0.1:${port}`).check(), { code: 'datadog_wrong_site', retryable: false, message: /ECONNREFUSED/ });
  });

  void test('a connection reset → datadog_network (retryable), after the retries', async () => {
    const dd = await server({ reply: () => 'reset' });
    await rejectsWith(source(dd.url, { attempts: 2 }, { retry: { baseMs: 10, maxMs: 10 } }).check(), {
      code: 'datadog_network',
      retryable: true,
      message: /network failure/,
    });
    assert.equal(dd.requests.length, 2);
  });

  void test('a timeout → datadog_timeout (retryable)', async () => {
    const dd = await server({ reply: () => 'hang' });
    await rejectsWith(source(dd.url, { timeout: '100ms', attempts: 1 }).check(), { code: 'datadog_timeout', retryable: true });
  });
});
