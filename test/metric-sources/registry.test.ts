import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ValidationError } from '../../src/lib/errors.ts';
import { PrometheusSource, prometheusSource } from '../../src/metric-sources/prometheus.ts';
import { createMetricSource, knownSourceKinds, metricSourceRegistry } from '../../src/metric-sources/registry.ts';

void describe('metric source registry', () => {
  void test('holds prometheus under its kind', () => {
    assert.equal(metricSourceRegistry.get('prometheus'), prometheusSource);
    const kinds = knownSourceKinds();
    assert.deepEqual(kinds, [...kinds].sort());
    for (const k of ['prometheus', 'datadog']) assert.ok(kinds.includes(k), k);
    for (const [kind, factory] of metricSourceRegistry) assert.equal(factory.kind, kind);
  });

  void test('creates a source from a raw config, validating it with the kind schema', () => {
    const src = createMetricSource({ kind: 'prometheus', url: 'http://127.0.0.1:9090', step: '5s' } as { kind: string }, {
      timeoutMs: 3_000,
    });
    assert.ok(src instanceof PrometheusSource);
    assert.equal(src.kind, 'prometheus');
    assert.equal(src.stepMs, 5_000);
    assert.equal(src.timeoutMs, 3_000);
  });

  void test('accepts an already parsed config', () => {
    const parsed = prometheusSource.configSchema.parse({ kind: 'prometheus', url: 'http://127.0.0.1:9090', step: '5s' });
    assert.ok(createMetricSource(parsed) instanceof PrometheusSource);
  });

  void test('an unknown kind is a ValidationError listing the known kinds', () => {
    assert.throws(
      () => createMetricSource({ kind: 'graphite' }),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assert.deepEqual(err.issues, [
          { path: 'spec.source.kind', message: `unknown metric source kind "graphite"; known: ${knownSourceKinds().join(', ')}` },
        ]);
        assert.equal(err.httpStatus, 400);
        return true;
      },
    );
  });

  void test('an invalid config is a ValidationError with located issues', () => {
    assert.throws(
      () => createMetricSource({ kind: 'prometheus', url: 'ftp://x', step: 'soon' } as { kind: string }),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assert.deepEqual(
          err.issues.map((i) => i.path).sort(),
          ['spec.source.step', 'spec.source.url'],
        );
        return true;
      },
    );
  });
});
