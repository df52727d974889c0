/**
 * A short experiment and a fake world for driving the real run engine in the
 * observability tests: steady noise around 100 for the KPI in both groups,
 * and an error ratio that jumps past its guardrail 300 ms after the window opens.
 */
import assert from 'node:assert/strict';
import { validateExperiment } from '../../src/spec/load.ts';
import type { Experiment } from '../../src/spec/schema.ts';
import { FakeInjector, type ValueFn } from '../helpers/fakes.ts';

export function shortExperiment(opts: { duration?: string } = {}): Experiment {
  const r = validateExperiment({
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: 'observed' },
    spec: {
      source: { kind: 'prometheus', url: 'http://127.0.0.1:1', step: '100ms' },
      steadyState: [{ name: 'sps', query: 'sps{group="$group"}', direction: 'decrease', tolerance: '5%' }],
      fault: { injector: 'http-proxy', params: { admin: 'http://127.0.0.1:1', latencyMs: 100 }, duration: opts.duration ?? '30s' },
      guardrails: [{ name: 'errors', query: 'errors{group="$group"}', max: 0.05 }],
      onNoData: 'halt',
      analysis: { interval: '1s', minSamples: 10, settle: '0s' },
    },
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.experiment;
}

/** A world whose error ratio breaches `errors ≤ 0.05` once the injector has been open 300 ms (never, with `breach: false`). */
export function breachingWorld(injector: FakeInjector, opts: { breach?: boolean } = {}): ValueFn {
  let openedAt = 0;
  injector.onOpen = () => (openedAt = Date.now());
  return (query, t) => {
    if (query.startsWith('errors')) return opts.breach !== false && openedAt > 0 && t > openedAt + 300 ? 0.3 : 0;
    const noise = Math.sin(t / 37) * 2 + Math.cos(t / 11);
    return 100 + noise;
  };
}
