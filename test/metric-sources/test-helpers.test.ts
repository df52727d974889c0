/**
 * The shared test helpers this folder introduced (ports, skip, prometheus):
 * the parts that can be checked without starting Prometheus.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { freePort } from '../helpers/ports.ts';
import { startMetricsTarget, startPrometheus } from '../helpers/prometheus.ts';
import { checkBinary, findBinary, requireEnvName } from '../helpers/skip.ts';

void describe('freePort', () => {
  void test('returns a port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    assert.ok(port > 0 && port < 65_536);
    const server = createServer();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    server.close();
    await once(server, 'close');
  });
});

void describe('checkBinary', () => {
  const saved = { ...process.env };
  const warn = console.warn;
  let warnings: string[] = [];
  beforeEach(() => {
    warnings = [];
    console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(' '));
    delete process.env.CI;
    delete process.env.STEADYSTATE_REQUIRE_NO_SUCH_TOOL;
  });
  afterEach(() => {
    console.warn = warn;
    process.env = { ...saved };
  });

  void test('finds a binary on PATH', () => {
    assert.equal(checkBinary('node').skip, false);
    assert.equal(findBinary('node', '/nonexistent/node'), checkBinary('node').path);
  });

  void test('a missing binary skips loudly', () => {
    const result = checkBinary('no-such-tool', '/nonexistent/no-such-tool');
    assert.equal(result.path, undefined);
    assert.match(String(result.skip), /no-such-tool unavailable: binary "no-such-tool" not at \/nonexistent\/no-such-tool nor on PATH/);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /⚠ SKIPPED: .*\n⚠ These tests did NOT run.*STEADYSTATE_REQUIRE_NO_SUCH_TOOL=1/s);
  });

  void test('CI=true turns a missing binary into a failure', () => {
    process.env.CI = 'true';
    assert.throws(() => checkBinary('no-such-tool'), /no-such-tool is required \(CI=true\) but unavailable/);
  });

  void test('STEADYSTATE_REQUIRE_<NAME>=1 turns a missing binary into a failure', () => {
    assert.equal(requireEnvName('no-such-tool'), 'STEADYSTATE_REQUIRE_NO_SUCH_TOOL');
    process.env.STEADYSTATE_REQUIRE_NO_SUCH_TOOL = '1';
    assert.throws(() => checkBinary('no-such-tool'), /required \(STEADYSTATE_REQUIRE_NO_SUCH_TOOL=1\)/);
  });
});

void describe('startPrometheus guards', () => {
  for (const target of ['10.0.0.1:9100', 'example.com:80', '127.0.0.1', '127.0.0.1:80/metrics']) {
    void test(`refuses the non-loopback or malformed target ${target}`, async () => {
      await assert.rejects(startPrometheus({ targets: [target], binary: '/bin/false' }), /must be a loopback host:port|not host:port/);
    });
  }

  void test('a binary that exits at once fails fast with its log, not after the start timeout', async () => {
    const startedAt = Date.now();
    await assert.rejects(
      startPrometheus({ targets: ['127.0.0.1:1'], binary: '/bin/false', startTimeoutMs: 10_000 }),
      /prometheus exited \(code 1/,
    );
    assert.ok(Date.now() - startedAt < 5_000);
  });
});

void describe('startMetricsTarget', () => {
  void test('serves the registry and counts scrapes', async () => {
    const registry = new Registry();
    new Counter({ name: 'helper_test_total', help: 'h', registers: [registry] }).inc(3);
    const target = await startMetricsTarget(registry);
    try {
      const waiting = target.waitForScrapes(1, 2_000);
      const body = await (await fetch(`${target.url}/metrics`)).text();
      await waiting;
      assert.match(body, /^helper_test_total 3$/m);
      assert.equal(target.scrapes, 1);
      await assert.rejects(target.waitForScrapes(2, 100), /timed out after 100ms waiting for 2 scrapes \(saw 1\)/);
    } finally {
      await target.stop();
    }
  });
});
