/**
 * Metric source adapters keyed by `spec.source.kind`. Adding a backend is one
 * file beside this one and one line here; an unknown kind fails validation with
 * the list of known kinds, never a silent fallback.
 */
import { ValidationError } from '../lib/errors.ts';
import { datadogSource } from './datadog.ts';
import { prometheusSource } from './prometheus.ts';
import { scrapeSource } from './scrape/scrape-source.ts';
import type { MetricSource, MetricSourceFactory, SourceDeps } from './types.ts';

// Each factory's `create` takes its own config type; the registry only ever
// hands it what that factory's own schema produced, so widening is sound.
const factories: MetricSourceFactory<never>[] = [prometheusSource as MetricSourceFactory<never>, datadogSource as MetricSourceFactory<never>, scrapeSource as MetricSourceFactory<never>];

export const metricSourceRegistry: ReadonlyMap<string, MetricSourceFactory<unknown>> = new Map(
  factories.map((f) => [f.kind, f as MetricSourceFactory<unknown>]),
);

export function knownSourceKinds(): string[] {
  return [...metricSourceRegistry.keys()].sort();
}

/**
 * Build the source for `spec.source`. The config is (re)validated with the
 * kind's schema, so raw and already-parsed configs are both accepted: every
 * source schema must therefore accept its own output (durations as numbers).
 */
export function createMetricSource(config: { kind: string }, deps: SourceDeps = {}): MetricSource {
  const kind = String(config.kind);
  const factory = metricSourceRegistry.get(kind);
  if (!factory) {
    throw new ValidationError([
      { path: 'spec.source.kind', message: `unknown metric source kind "${kind}"; known: ${knownSourceKinds().join(', ')}` },
    ]);
  }
  const parsed = factory.configSchema.safeParse(config);
  if (!parsed.success) {
    throw new ValidationError(
      parsed.error.issues.map((issue) => ({
        path: ['spec', 'source', ...issue.path.map(String)].join('.'),
        message: issue.message,
      })),
    );
  }
  return factory.create(parsed.data, deps);
}
