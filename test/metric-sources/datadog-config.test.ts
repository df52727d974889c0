import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/lib/errors.ts';
import { DATADOG_SITES, datadogConfigSchema, datadogSource, DatadogSource, normalizeSite } from '../../src/metric-sources/datadog.ts';
import { createMetricSource, metricSourceRegistry } from '../../src/metric-sources/registry.ts';

const parse = (extra: Record<string, unknown> = {}) => datadogConfigSchema.parse({ kind: 'datadog', ...extra });

void describe('datadog source configuration', () => {
  void test('defaults: site datadoghq.com, v2, 10s step, 3s timeout, 3 attempts, 30s rate-limit cap', () => {
    const src = new DatadogSource(parse(), { env: {} });
    assert.equal(src.site, 'datadoghq.com');
    assert.equal(src.url, 'https://api.datadoghq.com');
    assert.equal(src.api, 'v2');
    assert.equal(src.stepMs, 10_000);
    assert.equal(src.timeoutMs, 3_000);
    assert.equal(src.attempts, 3);
    assert.equal(src.maxRateLimitWaitMs, 30_000);
  });

  void test('every documented site maps to its API host; aliases and app. prefixes are accepted', () => {
    for (const [site, host] of Object.entries(DATADOG_SITES)) {
      assert.equal(new DatadogSource(parse({ site }), { env: {} }).url, `https://${host}`);
    }
    assert.equal(normalizeSite('us3'), 'us3.datadoghq.com');
    assert.equal(normalizeSite('US5'), 'us5.datadoghq.com');
    assert.equal(normalizeSite('eu'), 'datadoghq.eu');
    assert.equal(normalizeSite('app.datadoghq.eu'), 'datadoghq.eu');
    assert.equal(normalizeSite('https://app.datadoghq.com/'), 'datadoghq.com');
    assert.equal(normalizeSite('ap1'), 'ap1.datadoghq.com');
    assert.equal(normalizeSite('gov'), 'ddog-gov.com');
    assert.equal(normalizeSite('datadoghq.cm'), undefined);
  });

  void test('url overrides site; DD_SITE is the default site; a bad DD_SITE is a ConfigError', () => {
    assert.equal(new DatadogSource(parse({ site: 'eu', url: 'http://127.0.0.1:8126/dd/' }), { env: {} }).url, 'http://127.0.0.1:8126/dd');
    assert.equal(new DatadogSource(parse(), { env: { DD_SITE: 'us5.datadoghq.com' } }).url, 'https://api.us5.datadoghq.com');
    assert.equal(new DatadogSource(parse({ site: 'ap1' }), { env: { DD_SITE: 'us5.datadoghq.com' } }).url, 'https://api.ap1.datadoghq.com');
    assert.throws(() => new DatadogSource(parse(), { env: { DD_SITE: 'nowhere' } }), ConfigError);
  });

  void test('an unknown site fails validation listing the known ones', () => {
    const r = datadogConfigSchema.safeParse({ kind: 'datadog', site: 'datadoghq.cm' });
    assert.ok(!r.success);
    assert.deepEqual(r.error.issues[0]!.path, ['site']);
    assert.match(r.error.issues[0]!.message, /unknown Datadog site "datadoghq.cm"; known: datadoghq.com, us3.datadoghq.com/);
  });

  void test('keys in the spec are refused, and the message does not echo them', () => {
    const r = datadogConfigSchema.safeParse({ kind: 'datadog', apiKey: 'abcdef0123456789', appKey: 'fedcba9876543210' });
    assert.ok(!r.success);
    assert.deepEqual(r.error.issues.map((i) => i.path.join('.')).sort(), ['apiKey', 'appKey']);
    const text = JSON.stringify(r.error.issues);
    assert.ok(!text.includes('abcdef0123456789') && !text.includes('fedcba9876543210'), text);
    assert.match(r.error.issues[0]!.message, /never go in the spec: set DD_API_KEY/);
  });

  void test('url must be a bare base URL', () => {
    for (const url of ['ftp://x', 'http://user:pw@127.0.0.1', 'http://127.0.0.1/?a=1']) {
      assert.ok(!datadogConfigSchema.safeParse({ kind: 'datadog', url }).success, url);
    }
  });

  void test('the registry knows datadog, and the schema accepts its own output (durations as numbers)', () => {
    assert.equal(metricSourceRegistry.get('datadog'), datadogSource);
    const parsed = parse({ site: 'eu', step: '15s', timeout: '2s', maxRateLimitWait: '10s' });
    assert.deepEqual(datadogConfigSchema.parse(parsed), parsed);
    const src = createMetricSource(parsed, { timeoutMs: 9_000 });
    assert.ok(src instanceof DatadogSource);
    assert.equal(src.stepMs, 15_000);
    assert.equal(src.timeoutMs, 2_000);
    assert.equal((createMetricSource({ kind: 'datadog' }, { timeoutMs: 1_500 }) as DatadogSource).timeoutMs, 1_500);
  });
});
