/**
 * Contract tests: the Prometheus source against a local server that answers
 * with the documented API shapes, for what a real Prometheus will not produce
 * on demand (timeout envelopes, 5xx, 429, auth proxies, hangs), and asserting
 * exactly what the client sent.
 */
import { DEFAULT_POLICY } from '../../src/security/policy.ts';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, describe, test } from 'node:test';
import { AbortedError, NoDataError, SourceError } from '../../src/lib/errors.ts';
import {
  PrometheusSource,
  prometheusConfigSchema,
  type PrometheusConfigInput,
} from '../../src/metric-sources/prometheus.ts';
import type { TimeRange } from '../../src/metric-sources/types.ts';
import { freePort } from '../helpers/ports.ts';
import { errorEnvelope, matrix, startFakePrometheus, type FakePrometheus, type Reply, type RecordedRequest } from './fake-prometheus.ts';

const RANGE: TimeRange = {
  start: new Date('2024-05-01T12:00:00.250Z'),
  end: new Date('2024-05-01T12:01:00.250Z'),
  stepMs: 15_000,
};
const T0 = RANGE.start.getTime() / 1000;
const SECRET = 'Bearer s3cr3t-token-value';

const servers: FakePrometheus[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

async function fake(handler: (req: RecordedRequest) => Reply): Promise<FakePrometheus> {
  const server = await startFakePrometheus(handler);
  servers.push(server);
  return server;
}

function source(url: string, extra: Partial<PrometheusConfigInput> = {}): PrometheusSource {
  return new PrometheusSource(prometheusConfigSchema.parse({ kind: 'prometheus', url, ...extra }));
}

/** Assert that nothing reachable from an error shows a secret. */
function assertNoSecret(err: unknown, ...secrets: string[]): void {
  const views = [String(err), JSON.stringify(err), inspect(err, { depth: 10, showHidden: true })];
  for (const view of views) for (const secret of secrets) assert.ok(!view.includes(secret), `secret leaked in: ${view}`);
}

function rejectsWith(
  promise: Promise<unknown>,
  expected: { code: string; retryable: boolean; message?: RegExp },
): Promise<void> {
  return assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SourceError, `expected SourceError, got ${inspect(err)}`);
    assert.equal(err.code, expected.code, err.message);
    assert.equal(err.retryable, expected.retryable, err.message);
    if (expected.message) assert.match(err.message, expected.message);
    return true;
  });
}

void describe('queryRange: what is sent', () => {
  void test('POSTs a form to {url}/api/v1/query_range with seconds, step, timeout and the configured headers', async () => {
    const server = await fake(() => ({
      json: matrix([{ metric: { group: 'control' }, values: [[T0, '1.5'], [T0 + 15, '2']] }], ['results truncated']),
    }));
    const src = source(`${server.url}/prom/`, { headers: { Authorization: SECRET, 'X-Scope-OrgID': 'team-a' }, timeout: '4s' });
    const result = await src.queryRange('sum by (group) (rate(x[1m]))', RANGE);

    assert.equal(server.requests.length, 1);
    const req = server.requests[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/prom/api/v1/query_range');
    assert.match(String(req.headers['content-type']), /^application\/x-www-form-urlencoded/);
    assert.equal(req.headers.authorization, SECRET);
    assert.equal(req.headers['x-scope-orgid'], 'team-a');
    assert.equal(req.headers['accept-encoding'], 'identity', 'uncompressed answers (ADR 024)');
    assert.deepEqual(Object.fromEntries(req.form), {
      query: 'sum by (group) (rate(x[1m]))',
      start: '1714564800.250',
      end: '1714564860.250',
      step: '15',
      // 4 s client deadline; Prometheus is asked to give up 400 ms earlier.
      timeout: '3.6',
    });

    assert.deepEqual(result, {
      series: [
        {
          labels: { group: 'control' },
          samples: [
            { t: RANGE.start.getTime(), v: 1.5 },
            { t: RANGE.start.getTime() + 15_000, v: 2 },
          ],
          nonFinite: 0,
          lastT: RANGE.start.getTime() + 15_000,
        },
      ],
      warnings: ['results truncated'],
    });
  });

  void test('a range without its own step uses the configured step; sub-second steps are float seconds', async () => {
    const server = await fake(() => ({ json: matrix([{ metric: {}, values: [[T0, '1']] }]) }));
    await source(server.url, { step: '250ms' }).queryRange('up', { ...RANGE, stepMs: 0 });
    await source(server.url).queryRange('up', { ...RANGE, stepMs: 1_500 });
    assert.deepEqual(
      server.requests.map((r) => r.form.get('step')),
      ['0.25', '1.5'],
    );
  });

  void test('credentials in the URL become Basic auth and never show in the URL or errors', async () => {
    const server = await fake(() => ({ status: 500, text: 'boom' }));
    // The operator allows URL credentials (STEADYSTATE_ALLOW_URL_CREDENTIALS=1); without it they are refused.
    const url = server.url.replace('http://', 'http://alice:pa55word-x@');
    const src = new PrometheusSource(prometheusConfigSchema.parse({ kind: 'prometheus', url }), { policy: { ...DEFAULT_POLICY, allowUrlCredentials: true } });
    assert.equal(src.url, server.url);
    const err = await src.queryRange('up', RANGE).catch((e: unknown) => e);
    assert.ok(err instanceof SourceError);
    assert.equal(server.requests[0]!.headers.authorization, `Basic ${Buffer.from('alice:pa55word-x').toString('base64')}`);
    assert.ok(err.message.includes(server.url));
    assertNoSecret(err, 'pa55word-x', 'alice:');
  });

  void test('more than 11,000 points per series is refused before anything is sent', async () => {
    const server = await fake(() => ({ json: matrix([]) }));
    const end = new Date('2024-05-01T00:00:00Z');
    await rejectsWith(
      source(server.url).queryRange('up', { start: new Date(end.getTime() - 86_400_000), end, stepMs: 1_000 }),
      { code: 'too_many_points', retryable: false, message: /is 86401 points per series; Prometheus allows at most 11000\. Use a step of at least 7855ms/ },
    );
    assert.equal(server.requests.length, 0);
  });

  void test('a range that ends before it starts is refused before anything is sent', async () => {
    const server = await fake(() => ({ json: matrix([]) }));
    await rejectsWith(source(server.url).queryRange('up', { start: RANGE.end, end: RANGE.start, stepMs: 1_000 }), {
      code: 'invalid_range',
      retryable: false,
    });
    assert.equal(server.requests.length, 0);
  });
});

void describe('queryRange: parsing the matrix', () => {
  void test('NaN, +Inf and -Inf are dropped and counted; values are never zero-filled', async () => {
    const server = await fake(() => ({
      json: matrix([
        { metric: { group: 'control' }, values: [[T0, 'NaN'], [T0 + 15, '0.5'], [T0 + 30, '+Inf'], [T0 + 45, '-Inf'], [T0 + 60, '1e-3']] },
        { metric: { group: 'experiment' }, values: [[T0, 'NaN'], [T0 + 15, 'NaN']] },
      ]),
    }));
    const result = await source(server.url).queryRange('q', RANGE);
    assert.deepEqual(result.series, [
      {
        labels: { group: 'control' },
        samples: [
          { t: RANGE.start.getTime() + 15_000, v: 0.5 },
          { t: RANGE.start.getTime() + 60_000, v: 0.001 },
        ],
        nonFinite: 3,
        lastT: RANGE.start.getTime() + 60_000,
      },
      // Ended on NaN: lastT is after the last finite sample (there is none).
      { labels: { group: 'experiment' }, samples: [], nonFinite: 2, lastT: RANGE.start.getTime() + 15_000 },
    ]);
  });

  void test('no series at all is NoDataError', async () => {
    const server = await fake(() => ({ json: matrix([], ['some warning']) }));
    await assert.rejects(source(server.url).queryRange('absent_metric', RANGE), (err: unknown) => {
      assert.ok(err instanceof NoDataError);
      assert.equal(err.query, 'absent_metric');
      assert.match(err.message, /no series between 2024-05-01T12:00:00\.250Z and 2024-05-01T12:01:00\.250Z.*warnings: some warning/);
      return true;
    });
  });

  void test('series holding only non-finite points are NoDataError', async () => {
    const server = await fake(() => ({
      json: matrix([
        { metric: { a: '1' }, values: [[T0, 'NaN']] },
        { metric: { a: '2' }, values: [[T0, '+Inf']] },
      ]),
    }));
    await assert.rejects(source(server.url).queryRange('q', RANGE), /2 series .* but all 2 points were NaN or ±Inf/);
  });

  for (const [name, value] of [
    ['an empty string', ''],
    ['garbage', 'twelve'],
    ['whitespace', ' 1'],
  ] as const) {
    void test(`a value that is ${name} is an unreadable answer, not a number`, async () => {
      const server = await fake(() => ({ json: matrix([{ metric: {}, values: [[T0, '1'], [T0 + 15, value]] }]) }));
      await rejectsWith(source(server.url).queryRange('q', RANGE), {
        code: 'prometheus_bad_response',
        retryable: false,
        message: /is not a number/,
      });
    });
  }

  void test('a vector (or any non-matrix) result is an error', async () => {
    const server = await fake(() => ({
      json: { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [T0, '1'] }] } },
    }));
    await rejectsWith(source(server.url).queryRange('q', RANGE), {
      code: 'prometheus_unexpected_result',
      retryable: false,
      message: /expected a matrix result, got "vector"/,
    });
  });

  void test('native histogram series are refused with a hint', async () => {
    const server = await fake(() => ({
      json: { status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, histograms: [[T0, { count: '1' }]] }] } },
    }));
    await rejectsWith(source(server.url).queryRange('q', RANGE), { code: 'prometheus_unsupported_result', retryable: false });
  });

  void test('a 200 that is not a Prometheus envelope (an HTML page) is an unreadable answer', async () => {
    const server = await fake(() => ({ text: '<html>login</html>', headers: { 'content-type': 'text/html' } }));
    await rejectsWith(source(server.url).queryRange('q', RANGE), {
      code: 'prometheus_bad_response',
      retryable: false,
      message: /HTTP 200, text\/html/,
    });
  });
});

void describe('queryRange: error mapping', () => {
  // [HTTP status, errorType, retryable] as Prometheus answers them.
  const envelopes: [number, string, boolean][] = [
    [503, 'timeout', true],
    [503, 'canceled', true],
    [503, 'unavailable', true],
    [500, 'internal', true],
    [400, 'bad_data', false],
    [422, 'execution', false],
    [404, 'not_found', false],
  ];
  for (const [status, errorType, retryable] of envelopes) {
    void test(`HTTP ${status} ${errorType} envelope → prometheus_${errorType}, retryable=${retryable}`, async () => {
      const server = await fake(() => ({ status, json: errorEnvelope(errorType, `the ${errorType} message`) }));
      const src = source(server.url, { headers: { Authorization: SECRET } });
      const err = await src.queryRange('rate(http_requests_total[5m])', RANGE).catch((e: unknown) => e);
      assert.ok(err instanceof SourceError, inspect(err));
      assert.equal(err.code, `prometheus_${errorType}`);
      assert.equal(err.retryable, retryable);
      assert.equal(
        err.message,
        `prometheus ${server.url}: query_range "rate(http_requests_total[5m])" failed: ${errorType}: the ${errorType} message (HTTP ${status})`,
      );
      assertNoSecret(err, SECRET, 's3cr3t');
    });
  }

  void test('an unknown errorType falls back on the HTTP status', async () => {
    const server = await fake(() => ({ status: 502, json: errorEnvelope('weird kind!', 'x') }));
    await rejectsWith(source(server.url).queryRange('q', RANGE), { code: 'prometheus_weird_kind_', retryable: true });
  });

  const plain: [number, string, boolean, RegExp][] = [
    // The body is not quoted: the URL may be an internal endpoint read back through the run's reason.
    [500, 'prometheus_http_error', true, /HTTP 500 \(text\/plain; charset=utf-8, 17 bytes; body not shown\)$/],
    [502, 'prometheus_http_error', true, /HTTP 502/],
    [400, 'prometheus_http_error', false, /HTTP 400/],
    [422, 'prometheus_http_error', false, /HTTP 422/],
    [401, 'prometheus_unauthorized', false, /unauthorised \(HTTP 401\)/],
    [403, 'prometheus_unauthorized', false, /unauthorised \(HTTP 403\)/],
    [404, 'prometheus_not_found', false, /HTTP 404: no Prometheus API here/],
  ];
  for (const [status, code, retryable, message] of plain) {
    void test(`HTTP ${status} without an envelope → ${code}, retryable=${retryable}`, async () => {
      const server = await fake(() => ({ status, text: 'upstream exploded' }));
      await rejectsWith(source(server.url).queryRange('q', RANGE), { code, retryable, message });
    });
  }

  void test('HTTP 429 is retryable and passes on Retry-After', async () => {
    const server = await fake(() => ({ status: 429, text: 'slow down', headers: { 'retry-after': '7' } }));
    await rejectsWith(source(server.url).queryRange('q', RANGE), {
      code: 'prometheus_rate_limited',
      retryable: true,
      message: /rate limited \(HTTP 429\); retry after 7s/,
    });
  });

  void test('a redirect is not followed (credentials stay home) and names where it pointed', async () => {
    const server = await fake(() => ({ status: 302, headers: { location: 'https://sso.example/login?token=abc' } }));
    await rejectsWith(source(server.url, { headers: { Authorization: SECRET } }).queryRange('q', RANGE), {
      code: 'prometheus_redirect',
      retryable: false,
      message: /redirected \(HTTP 302\) to https:\/\/sso\.example\/login;/,
    });
    assert.equal(server.requests.length, 1);
  });

  void test('a server echoing our headers into its error text does not leak them', async () => {
    const server = await fake((req) => ({ status: 500, text: `bad auth ${String(req.headers.authorization)}` }));
    const err = await source(server.url, { headers: { Authorization: SECRET } })
      .queryRange('q', RANGE)
      .catch((e: unknown) => e);
    assert.ok(err instanceof SourceError);
    assert.doesNotMatch(err.message, /bad auth/);
    assertNoSecret(err, SECRET, 's3cr3t');
  });

  // The test timeouts make a missing deadline fail instead of hanging the run.
  void test('a server that never answers hits the client timeout (retryable), within bounds', { timeout: 5_000 }, async () => {
    const server = await fake(() => 'hang');
    const startedAt = Date.now();
    const err = await source(server.url, { timeout: '300ms', headers: { Authorization: SECRET } })
      .queryRange('q', RANGE)
      .catch((e: unknown) => e);
    const elapsed = Date.now() - startedAt;
    assert.ok(err instanceof SourceError, inspect(err));
    assert.equal(err.code, 'prometheus_client_timeout');
    assert.equal(err.retryable, true);
    assert.match(err.message, /no complete answer within 300ms \(client timeout\)/);
    assert.ok(elapsed >= 250 && elapsed < 2_000, `took ${elapsed}ms`);
    assertNoSecret(err, SECRET, 's3cr3t');
  });

  void test('a server trickling bytes forever is still cut off by the deadline', { timeout: 5_000 }, async () => {
    const server = await fake(() => 'trickle');
    const startedAt = Date.now();
    await rejectsWith(source(server.url, { timeout: '400ms' }).queryRange('q', RANGE), {
      code: 'prometheus_client_timeout',
      retryable: true,
    });
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed < 2_000, `took ${elapsed}ms`);
  });

  void test('an unreachable server is retryable and says so', async () => {
    const port = await freePort();
    const query = source(`http://127.0.0.1:${port}`, { headers: { Authorization: SECRET } }).queryRange('q', RANGE);
    const err = await query.catch((e: unknown) => e);
    assert.ok(err instanceof SourceError, inspect(err));
    assert.equal(err.code, 'prometheus_unreachable');
    assert.equal(err.retryable, true);
    assert.match(err.message, /not reachable \(.*ECONNREFUSED/);
    // The axios error behind it holds the request config, headers included.
    assertNoSecret(err, SECRET, 's3cr3t');
  });

  void test('aborting mid-request gives AbortedError', async () => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    const server = await fake(() => {
      arrived();
      return 'hang';
    });
    const controller = new AbortController();
    const pending = source(server.url, { headers: { Authorization: SECRET } }).queryRange('q', RANGE, controller.signal);
    await requestArrived;
    controller.abort();
    await assert.rejects(pending, (err: unknown) => {
      assert.ok(err instanceof AbortedError, inspect(err));
      assert.equal(err.retryable, false);
      assertNoSecret(err, SECRET, 's3cr3t');
      return true;
    });
  });

  void test('an already aborted signal sends nothing', async () => {
    const server = await fake(() => ({ json: matrix([]) }));
    await assert.rejects(source(server.url).queryRange('q', RANGE, AbortSignal.abort()), AbortedError);
    await assert.rejects(source(server.url).check(AbortSignal.abort()), AbortedError);
    assert.equal(server.requests.length, 0);
  });
});

void describe('check()', () => {
  const buildinfo = { status: 'success', data: { version: '2.42.0', revision: 'x', branch: 'HEAD' } };

  void test('passes on buildinfo, sending the configured headers', async () => {
    const server = await fake(() => ({ json: buildinfo }));
    await source(`${server.url}/prefix`, { headers: { Authorization: SECRET } }).check();
    assert.deepEqual(
      server.requests.map((r) => [r.method, r.path, r.headers.authorization]),
      [['GET', '/prefix/api/v1/status/buildinfo', SECRET]],
    );
  });

  void test('falls back to /-/ready when buildinfo is missing', async () => {
    const server = await fake((req) => (req.path === '/-/ready' ? { text: 'Prometheus Server is Ready.\n' } : { status: 404, text: '404 page not found' }));
    await source(server.url).check();
    assert.deepEqual(
      server.requests.map((r) => r.path),
      ['/api/v1/status/buildinfo', '/-/ready'],
    );
  });

  void test('says "not a Prometheus" when neither endpoint exists', async () => {
    const server = await fake(() => ({ status: 404, text: 'nope' }));
    await rejectsWith(source(server.url).check(), {
      code: 'prometheus_not_prometheus',
      retryable: false,
      message: /not a Prometheus: both \/api\/v1\/status\/buildinfo and \/-\/ready answered HTTP 404/,
    });
  });

  void test('says "not a Prometheus" when buildinfo answers something else', async () => {
    const server = await fake(() => ({ text: '<html>Grafana</html>', headers: { 'content-type': 'text/html' } }));
    await rejectsWith(source(server.url).check(), {
      code: 'prometheus_not_prometheus',
      retryable: false,
      message: /not a Prometheus: .*HTTP 200 \(text\/html\)/,
    });
  });

  for (const status of [401, 403]) {
    void test(`says "unauthorised" on HTTP ${status}, without showing the credentials`, async () => {
      const server = await fake(() => ({ status, text: 'denied' }));
      const err = await source(server.url, { headers: { Authorization: SECRET } })
        .check()
        .catch((e: unknown) => e);
      assert.ok(err instanceof SourceError, inspect(err));
      assert.equal(err.code, 'prometheus_unauthorized');
      assert.equal(err.retryable, false);
      assert.match(err.message, new RegExp(`unauthorised \\(HTTP ${status}\\)`));
      assertNoSecret(err, SECRET, 's3cr3t');
    });
  }

  void test('says "not ready" (retryable) on HTTP 503', async () => {
    const server = await fake(() => ({ status: 503, text: 'Service Unavailable' }));
    await rejectsWith(source(server.url).check(), { code: 'prometheus_not_ready', retryable: true });
  });

  void test('says "not reachable" for a closed port', async () => {
    const port = await freePort();
    await rejectsWith(source(`http://127.0.0.1:${port}`).check(), {
      code: 'prometheus_unreachable',
      retryable: true,
      message: /not reachable .*is Prometheus running and is the URL right\?/,
    });
  });
});
