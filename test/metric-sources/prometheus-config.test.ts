/**
 * The Prometheus source's config schema: defaults, bounds, strictness, and
 * that a bad header never has its value echoed in a validation message.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PrometheusSource, prometheusConfigSchema, prometheusSource } from '../../src/metric-sources/prometheus.ts';

const base = { kind: 'prometheus', url: 'http://127.0.0.1:9090' };

function issues(input: unknown): string[] {
  const parsed = prometheusConfigSchema.safeParse(input);
  assert.equal(parsed.success, false, 'expected the config to be rejected');
  return parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

void describe('prometheus config schema', () => {
  void test('defaults: step 1s, no timeout (resolved by the source), no headers', () => {
    assert.deepEqual(prometheusConfigSchema.parse(base), { ...base, step: 1_000 });
  });

  void test('durations are parsed to milliseconds', () => {
    const config = prometheusConfigSchema.parse({ ...base, step: '15s', timeout: '2m', headers: { Authorization: 'Bearer x' } });
    assert.equal(config.step, 15_000);
    assert.equal(config.timeout, 120_000);
  });

  void test('accepts its own output (the registry re-validates parsed configs)', () => {
    const once = prometheusConfigSchema.parse({ ...base, step: '250ms', timeout: '3s' });
    assert.deepEqual(prometheusConfigSchema.parse(once), once);
  });

  void test('timeout: config, then deps.timeoutMs, then 10s', () => {
    assert.equal(new PrometheusSource(prometheusConfigSchema.parse({ ...base, timeout: '2s' }), { timeoutMs: 5_000 }).timeoutMs, 2_000);
    assert.equal(prometheusSource.create(prometheusConfigSchema.parse(base), { timeoutMs: 5_000 }) instanceof PrometheusSource, true);
    assert.equal(new PrometheusSource(prometheusConfigSchema.parse(base), { timeoutMs: 5_000 }).timeoutMs, 5_000);
    assert.equal(new PrometheusSource(prometheusConfigSchema.parse(base)).timeoutMs, 10_000);
  });

  void test('unknown keys are rejected (strict)', () => {
    assert.match(issues({ ...base, stepp: '1s' }).join('\n'), /stepp/);
  });

  void test('kind must be prometheus', () => {
    assert.match(issues({ ...base, kind: 'datadog' }).join('\n'), /^kind: /);
  });

  for (const url of ['ftp://host', 'not a url', 'http://host:9090/?x=1', 'http://host:9090/#frag']) {
    void test(`url ${JSON.stringify(url)} is rejected`, () => {
      assert.match(issues({ ...base, url }).join('\n'), /^url: /);
    });
  }

  for (const step of ['0s', '0', 0, '25h', 'soon', -5]) {
    void test(`step ${JSON.stringify(step)} is rejected`, () => {
      assert.match(issues({ ...base, step }).join('\n'), /^step: /);
    });
  }

  void test('timeout must be positive and at most 10m', () => {
    assert.match(issues({ ...base, timeout: 0 }).join('\n'), /^timeout: /);
    assert.match(issues({ ...base, timeout: '11m' }).join('\n'), /^timeout: /);
  });

  void test('header names must be tokens; values must not hold CR/LF, and are never echoed', () => {
    assert.match(issues({ ...base, headers: { 'Bad Name': 'v' } }).join('\n'), /^headers\.Bad Name: not a valid HTTP header name/);
    const secret = 'Bearer top-secret\r\nX-Evil: 1';
    const messages = issues({ ...base, headers: { Authorization: secret } });
    assert.match(messages.join('\n'), /^headers\.Authorization: header values must not contain CR, LF or NUL/);
    assert.ok(!messages.join('\n').includes('top-secret'));
    assert.match(issues({ ...base, headers: { Authorization: 42 } }).join('\n'), /^headers\.Authorization: /);
  });

  void test('the display URL drops credentials, query and trailing slash', () => {
    const src = new PrometheusSource(prometheusConfigSchema.parse({ ...base, url: 'https://u:p4ss@prom.example/sub/' }));
    assert.equal(src.url, 'https://prom.example/sub');
  });
});
