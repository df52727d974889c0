/**
 * The scrape source end to end on loopback targets this test serves: config
 * schema, target labels, staleness when a series vanishes or a target dies,
 * failed scrapes, check(), close(), the port's NoData/NaN contract, and that
 * a process which never calls close() still exits.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AbortedError, NoDataError, SourceError, ValidationError } from '../../src/lib/errors.ts';
import { createMetricSource } from '../../src/metric-sources/registry.ts';
import { ScrapeSource, scrapeConfigSchema, type ScrapeConfigInput } from '../../src/metric-sources/scrape/scrape-source.ts';
import { instanceOf } from '../../src/metric-sources/scrape/scraper.ts';
import { MemoryTsdb } from '../../src/metric-sources/scrape/tsdb.ts';
import type { QueryResult } from '../../src/metric-sources/types.ts';

interface Target {
  url: string;
  instance: string;
  body: string;
  status: number;
  contentType: string;
  scrapes: number;
  lastAccept: string | undefined;
  stop(): Promise<void>;
}

const targets: Target[] = [];
const sources: ScrapeSource[] = [];
after(async () => {
  await Promise.all(sources.map((s) => s.close()));
  await Promise.all(targets.map((t) => t.stop()));
});

async function startTarget(body = ''): Promise<Target> {
  let server: Server | undefined = undefined;
  const t: Target = {
    url: '',
    instance: '',
    body,
    status: 200,
    contentType: 'text/plain; version=0.0.4; charset=utf-8',
    scrapes: 0,
    lastAccept: undefined,
    async stop() {
      if (!server?.listening) return;
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
  server = createServer((req, res) => {
    t.scrapes += 1;
    t.lastAccept = req.headers.accept;
    res.writeHead(t.status, { 'content-type': t.contentType });
    res.end(t.body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  t.url = `http://127.0.0.1:${port}/metrics`;
  t.instance = `127.0.0.1:${port}`;
  targets.push(t);
  return t;
}

function source(config: Omit<ScrapeConfigInput, 'kind'>, start = false): ScrapeSource {
  const s = new ScrapeSource(scrapeConfigSchema.parse({ kind: 'scrape', ...config }), {}, { start });
  sources.push(s);
  return s;
}

/** Scrapes write Date.now(): two in a row must land on distinct milliseconds. */
async function scrape(s: ScrapeSource): Promise<void> {
  await delay(2);
  await s.scraper.scrapeOnce();
}

/** The instant answer now. */
function now(s: ScrapeSource, query: string): Promise<QueryResult> {
  const t = new Date();
  return s.queryRange(query, { start: t, end: t, stepMs: 1000 });
}

describe('scrape source config', () => {
  test('defaults, and the schema accepts its own output', () => {
    const parsed = scrapeConfigSchema.parse({ kind: 'scrape', targets: ['http://127.0.0.1:9101/metrics'] });
    assert.deepEqual(parsed, { kind: 'scrape', targets: ['http://127.0.0.1:9101/metrics'], step: 1000, retention: 900_000, job: 'scrape' });
    assert.deepEqual(scrapeConfigSchema.parse(parsed), parsed);
    const full = scrapeConfigSchema.parse({ kind: 'scrape', targets: ['https://a:1/m'], step: '2s', retention: '1h', timeout: '500ms', job: 'shop' });
    assert.deepEqual(scrapeConfigSchema.parse(full), full);
  });

  test('refusals say what is wrong, at the field', () => {
    const issues = (input: object) =>
      scrapeConfigSchema.safeParse({ kind: 'scrape', ...input }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    assert.match(issues({ targets: [] }).join(), /targets: needs at least one target/);
    assert.match(issues({ targets: ['ftp://x/metrics'] }).join(), /targets.0: must be an http/);
    assert.match(issues({ targets: ['http://u:p@x/metrics'] }).join(), /targets.0: .*without credentials/);
    assert.match(issues({ targets: ['http://x/m', 'http://x/m'] }).join(), /must not repeat/);
    assert.match(issues({ targets: ['http://x/m'], step: '1s', timeout: '2s' }).join(), /timeout: timeout must not exceed the step/);
    assert.match(issues({ targets: ['http://x/m'], step: '10ms' }).join(), /step: step must be between 100ms and 1h/);
    assert.match(issues({ targets: ['http://x/m'], retention: '10s' }).join(), /retention: retention must be between 1m and 24h/);
    assert.match(issues({ targets: ['http://x/m'], step: '100ms', retention: '1h' }).join(), /retention: .*more than 3600 samples per series/);
    assert.match(issues({ targets: ['http://x/m'], url: 'http://x' }).join(), /Unrecognized key/);
  });

  test('the registry knows the kind and builds a source (which must be closed)', async () => {
    const t = await startTarget('x 1\n');
    // The registry hands out handles to one shared scraper per config (history survives between runs).
    const s = createMetricSource({ kind: 'scrape', targets: [t.url], step: '100ms' } as { kind: string });
    const again = createMetricSource({ kind: 'scrape', targets: [t.url], step: '100ms' } as { kind: string });
    assert.equal(s.kind, 'scrape');
    assert.equal(s.evaluatesEveryStep, true);
    await s.check();
    assert.ok(t.scrapes >= 3);
    const before = t.scrapes;
    await again.check(); // the same scraper: no new warm-up of three scrapes
    assert.ok(t.scrapes - before < 3, `a second handle warmed up again (${t.scrapes - before} scrapes)`);
    await s.close?.();
    await s.close?.(); // idempotent
    await again.close?.();
    assert.throws(() => createMetricSource({ kind: 'scrape', targets: [] } as { kind: string }), ValidationError);
  });

  test('instance is host:port, with the default port filled in', () => {
    assert.equal(instanceOf(new URL('http://shop.local/metrics')), 'shop.local:80');
    assert.equal(instanceOf(new URL('https://shop.local/metrics')), 'shop.local:443');
    assert.equal(instanceOf(new URL('http://[::1]:9100/metrics')), '[::1]:9100');
  });
});

describe('scraping', () => {
  test('samples get job and instance; exposed job/instance become exported_*; up is written', async () => {
    const t = await startTarget('x{a="1"} 5\ny{job="mine",instance="elsewhere"} 1\nz{a=""} 2\n');
    const s = source({ targets: [t.url], job: 'shop' });
    await scrape(s);
    assert.match(t.lastAccept ?? '', /^text\/plain;version=0\.0\.4/);
    assert.deepEqual((await now(s, 'x')).series[0]?.labels, { __name__: 'x', a: '1', job: 'shop', instance: t.instance });
    assert.deepEqual((await now(s, 'y')).series[0]?.labels, {
      __name__: 'y',
      job: 'shop',
      instance: t.instance,
      exported_job: 'mine',
      exported_instance: 'elsewhere',
    });
    // An empty label is no label.
    assert.deepEqual((await now(s, 'z')).series[0]?.labels, { __name__: 'z', job: 'shop', instance: t.instance });
    assert.equal((await now(s, 'up')).series[0]?.samples[0]?.v, 1);
    assert.equal((await now(s, 'scrape_samples_scraped')).series[0]?.samples[0]?.v, 3);
  });

  test('a series that vanishes from the exposition is stale at once (no data, not its last value)', async () => {
    const t = await startTarget('x 1\ny 1\n');
    const s = source({ targets: [t.url] });
    await scrape(s);
    t.body = 'x 2\n';
    await scrape(s);
    assert.equal((await now(s, 'x')).series[0]?.samples[0]?.v, 2);
    await assert.rejects(now(s, 'y'), NoDataError);
    // It comes back when exposed again.
    t.body = 'x 3\ny 4\n';
    await scrape(s);
    assert.equal((await now(s, 'y')).series[0]?.samples[0]?.v, 4);
  });

  test('a dead target: every series stale, up 0, the error in warnings and in check()', async () => {
    const t = await startTarget('x 1\n');
    const s = source({ targets: [t.url] });
    await scrape(s);
    assert.equal((await now(s, 'x')).series.length, 1);
    await t.stop();
    await scrape(s);
    await assert.rejects(now(s, 'x'), (err: unknown) => err instanceof NoDataError && /target http:\/\/127\.0\.0\.1:\d+\/metrics is down/.test(err.message));
    const up = await now(s, 'up');
    assert.equal(up.series[0]?.samples[0]?.v, 0);
    assert.match(up.warnings.join(), /is down: .*ECONNREFUSED/);
    await assert.rejects(s.check(), (err: unknown) => err instanceof SourceError && err.code === 'scrape_target_down' && err.retryable);
  });

  test('failed scrapes: HTTP status, OpenMetrics, malformed body (with its line)', async () => {
    const t = await startTarget('x 1\n');
    const s = source({ targets: [t.url] });
    const lastError = () => s.health()[0]?.lastError ?? '';
    await scrape(s);
    t.status = 500;
    await scrape(s);
    assert.match(lastError(), /server returned HTTP status 500/);
    t.status = 200;
    t.contentType = 'application/openmetrics-text; version=1.0.0';
    await scrape(s);
    assert.match(lastError(), /only the Prometheus text format 0\.0\.4/);
    t.contentType = 'text/plain';
    t.body = 'x 1\nx{ 2\n';
    await scrape(s);
    assert.match(lastError(), /unreadable exposition: line 2/);
    await assert.rejects(now(s, 'x'), NoDataError);
    t.body = 'x 7\n';
    await scrape(s);
    assert.equal(s.health()[0]?.up, true);
    assert.equal((await now(s, 'x')).series[0]?.samples[0]?.v, 7);
  });

  test('a target that does not answer in time fails the scrape with a timeout', async () => {
    const hanging = createServer(() => undefined); // never answers
    hanging.listen(0, '127.0.0.1');
    await once(hanging, 'listening');
    after(() => {
      hanging.closeAllConnections();
      hanging.close();
    });
    const { port } = hanging.address() as AddressInfo;
    const s = source({ targets: [`http://127.0.0.1:${port}/metrics`], step: '1s', timeout: '100ms' });
    await scrape(s);
    assert.equal(s.health()[0]?.up, false);
    assert.match(s.health()[0]?.lastError ?? '', /no complete answer within 100ms \(scrape timeout\)/);
  });

  test('check() waits for three scrapes of every target; close() stops scraping', async () => {
    const t = await startTarget('x 1\n');
    const s = source({ targets: [t.url], step: '100ms' }, true);
    await s.check();
    assert.ok(s.health().every((h) => h.successes >= 3));
    await s.close();
    const seen = t.scrapes;
    // Three intervals without a scrape: the schedule is gone (there is no event to await for "nothing happens").
    await delay(300);
    assert.equal(t.scrapes, seen);
    await assert.rejects(s.check(), (err: unknown) => err instanceof SourceError && err.code === 'scrape_closed');
    // What was scraped stays queryable.
    assert.equal((await now(s, 'x')).series.length, 1);
  });

  test('check() honours its abort signal', async () => {
    const t = await startTarget('x 1\n');
    const s = source({ targets: [t.url], step: '1s' }, true);
    const ac = new AbortController();
    const checking = s.check(ac.signal);
    ac.abort();
    await assert.rejects(checking, AbortedError);
  });
});

describe('queryRange contract', () => {
  test('NaN and ±Inf are dropped and counted; all non-finite is NoData', async () => {
    const t = await startTarget('g{k="a"} NaN\ng{k="b"} 2\ng{k="c"} +Inf\n');
    const s = source({ targets: [t.url] });
    await scrape(s);
    const r = await now(s, 'g');
    assert.deepEqual(
      r.series.map((x) => [x.labels.k, x.samples.length, x.nonFinite]),
      [['a', 0, 1], ['b', 1, 0], ['c', 0, 1]],
    );
    await assert.rejects(now(s, 'g{k=~"a|c"}'), (err: unknown) => err instanceof NoDataError && /all 2 points were NaN or ±Inf/.test(err.message));
  });

  test('an empty answer is NoData; bad queries and ranges are fatal SourceErrors', async () => {
    const t = await startTarget('x 1\n');
    const s = source({ targets: [t.url] });
    await scrape(s);
    await assert.rejects(now(s, 'nothing_here'), NoDataError);
    await assert.rejects(now(s, 'irate(x[1m])'), (err: unknown) => err instanceof SourceError && err.code === 'scrape_bad_query' && !err.retryable && /irate\(\) is not supported/.test(err.message));
    await assert.rejects(now(s, 'x / on() group_left x'), (err: unknown) => err instanceof SourceError && err.code === 'scrape_bad_query');
    const t0 = new Date();
    await assert.rejects(s.queryRange('x', { start: t0, end: new Date(t0.getTime() - 1), stepMs: 1000 }), (err: unknown) => err instanceof SourceError && err.code === 'invalid_range');
    await assert.rejects(s.queryRange('x', { start: new Date(0), end: t0, stepMs: 1000 }), (err: unknown) => err instanceof SourceError && err.code === 'too_many_points');
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(s.queryRange('x', { start: t0, end: t0, stepMs: 1000 }, ac.signal), AbortedError);
  });

  test('duplicate label sets after rate() are an execution error', async () => {
    const t = await startTarget('a_total 1\nb_total 1\n');
    const s = source({ targets: [t.url] });
    await scrape(s);
    t.body = 'a_total 2\nb_total 2\n';
    await scrape(s);
    await assert.rejects(now(s, 'rate({__name__=~"a_total|b_total"}[1m])'), (err: unknown) => err instanceof SourceError && err.code === 'scrape_execution' && /same labelset/.test(err.message));
  });
});

describe('memory bounds', () => {
  test('retention trims old samples; the series bound refuses new series and says so', () => {
    const tsdb = new MemoryTsdb({ retentionMs: 10_000, maxSamplesPerSeries: 4, maxSeries: 2 });
    for (let t = 0; t <= 20_000; t += 1000) tsdb.append({ __name__: 'a' }, t, t);
    const a = tsdb.get(JSON.stringify([['__name__', 'a']]));
    // The ring bound (4) is tighter than the retention here.
    assert.deepEqual([0, 1, 2, 3].map((i) => a?.samples.t(i)), [17_000, 18_000, 19_000, 20_000]);
    assert.equal(tsdb.append({ __name__: 'a' }, 20_000, 1), 'out_of_order');
    assert.equal(tsdb.append({ __name__: 'b' }, 0, 1), 'ok');
    assert.equal(tsdb.append({ __name__: 'c' }, 0, 1), 'series_limit');
    assert.equal(tsdb.refusedSeries, 1);
    tsdb.gc(30_001);
    assert.equal(tsdb.seriesCount, 0);
  });
});

describe('process lifetime', () => {
  test('a process that never calls close() still exits (timers are unref\'d)', async () => {
    const t = await startTarget('x 1\n');
    const registry = fileURLToPath(new URL('../../src/metric-sources/registry.ts', import.meta.url));
    const script = `
      const { createMetricSource } = await import(${JSON.stringify(registry)});
      const s = createMetricSource({ kind: 'scrape', targets: [${JSON.stringify(t.url)}], step: '100ms' });
      await s.check();
      process.stdout.write('ready\\n');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const started = Date.now();
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(killer);
    assert.equal(code, 0, out);
    assert.match(out, /ready/);
    // Startup of node + tsx dominates; a ref'd 100 ms scrape timer would never let it exit at all.
    assert.ok(Date.now() - started < 10_000);
  });
});
