/**
 * The decorators count, time and classify every call of the port they wrap,
 * and otherwise behave exactly like it: same answers, same errors, same
 * optional methods.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { Injector, OwnedFault } from '../../src/injectors/types.ts';
import { InjectorError, NoDataError, SourceError } from '../../src/lib/errors.ts';
import { createServiceMetrics, errorReason } from '../../src/observability/metrics.ts';
import { ServiceTelemetry } from '../../src/observability/service-telemetry.ts';
import { NOOP_TELEMETRY } from '../../src/observability/telemetry.ts';
import { FakeInjector, FakeSource } from '../helpers/fakes.ts';

const run = { runId: 'run-ports', experiment: 'ports' };
const range = { start: new Date(10_000), end: new Date(10_400), stepMs: 100 };

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, name);
  const data = await metric.get();
  const named = (v: object): string | undefined => (v as { metricName?: string }).metricName;
  // A histogram lists buckets, sum and count: read its count.
  const histogram = data.values.some((v) => named(v) === `${name}_count`);
  return data.values.find((v) => (!histogram || named(v) === `${name}_count`) && Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

test('an instrumented source counts calls, errors by reason and latency, and passes answers and errors through', async () => {
  const registry = new Registry();
  const telemetry = new ServiceTelemetry({ registry });
  let mode: 'ok' | 'error' | 'none' = 'ok';
  const fake = new FakeSource(() => (mode === 'ok' ? 1 : mode === 'error' ? 'error' : undefined));
  const source = telemetry.instrumentSource(fake, run);
  assert.equal(source.kind, 'fake');

  const result = await source.queryRange('up', range);
  assert.equal(result.series[0]?.samples.length, 5);
  await source.queryRange('up', range);
  mode = 'error';
  await assert.rejects(source.queryRange('up', range), (err) => err instanceof SourceError && err.retryable);
  mode = 'none';
  await assert.rejects(source.queryRange('up', range), NoDataError);
  await source.check();

  const q = { source: 'fake', operation: 'query_range' };
  assert.equal(await value(registry, 'steadystate_source_requests_total', q), 4);
  assert.equal(await value(registry, 'steadystate_source_requests_total', { source: 'fake', operation: 'check' }), 1);
  assert.equal(await value(registry, 'steadystate_source_request_errors_total', { ...q, reason: 'retryable' }), 1);
  assert.equal(await value(registry, 'steadystate_source_request_errors_total', { ...q, reason: 'no_data' }), 1);
  assert.equal(await value(registry, 'steadystate_source_request_duration_seconds', q), 4);
  assert.deepEqual(fake.queries, ['up', 'up', 'up', 'up']);

  // The optional close (the scrape source's timers) is there exactly when the adapter has it, and reaches it.
  assert.equal(typeof source.close, 'undefined');
  let closed = 0;
  const closable = Object.assign(new FakeSource(() => 1), {
    close(this: FakeSource) {
      assert.ok(this instanceof FakeSource, 'called on the adapter itself');
      closed += 1;
      return Promise.resolve();
    },
  });
  await telemetry.instrumentSource(closable, run).close?.();
  assert.equal(closed, 1);
});

test('an instrumented injector counts every call and failed close attempt, and keeps listOwned exactly when the adapter has it', async () => {
  const registry = new Registry();
  const telemetry = new ServiceTelemetry({ registry });
  const fake = new FakeInjector();
  fake.closeFailures = 1;
  const injector = telemetry.instrumentInjector(fake, run);
  assert.equal(injector.kind, 'fake');
  assert.equal(typeof injector.listOwned, 'undefined', 'FakeInjector has no listOwned; neither has its wrapper');

  await injector.check();
  const handle = await injector.open({ runId: 'run-ports', experiment: 'ports', deadline: new Date(Date.now() + 1_000) });
  assert.deepEqual(handle, { injector: 'fake', id: 'run-ports' });
  await assert.rejects(injector.close(handle), (err) => err instanceof InjectorError && err.retryable);
  await injector.close(handle);
  assert.deepEqual(await injector.status(handle), { state: 'closed' });

  const labels = (operation: string) => ({ injector: 'fake', operation });
  assert.equal(await value(registry, 'steadystate_injector_calls_total', labels('open')), 1);
  assert.equal(await value(registry, 'steadystate_injector_calls_total', labels('close')), 2);
  assert.equal(await value(registry, 'steadystate_injector_calls_total', labels('status')), 1);
  assert.equal(await value(registry, 'steadystate_injector_calls_total', labels('check')), 1);
  assert.equal(await value(registry, 'steadystate_injector_call_errors_total', { ...labels('close'), reason: 'retryable' }), 1);
  assert.equal(await value(registry, 'steadystate_injector_call_errors_total', { ...labels('open'), reason: 'retryable' }), undefined);

  const owned: OwnedFault[] = [{ runId: 'r1', ref: 'networkchaos chaos/steadystate-r1', handle: { injector: 'sweepable' } }];
  const sweepable: Injector = {
    kind: 'sweepable',
    open: () => Promise.reject(new Error('unused')),
    close: () => Promise.resolve(),
    status: () => Promise.resolve({ state: 'unknown' }),
    check: () => Promise.resolve(),
    listOwned() {
      // Called on the adapter itself, so adapters that use `this` keep working.
      assert.equal(this, sweepable);
      return Promise.resolve(owned);
    },
  };
  const wrapped = telemetry.instrumentInjector(sweepable, run);
  assert.ok(wrapped.listOwned !== undefined);
  assert.deepEqual(await wrapped.listOwned?.(), owned);
  assert.equal(await value(registry, 'steadystate_injector_calls_total', { injector: 'sweepable', operation: 'list_owned' }), 1);
});

test('the no-op telemetry hands back the very same ports', () => {
  const source = new FakeSource(() => 1);
  const injector = new FakeInjector();
  assert.equal(NOOP_TELEMETRY.instrumentSource(source, run), source);
  assert.equal(NOOP_TELEMETRY.instrumentInjector(injector, run), injector);
});

test('error reasons are bounded labels, never messages', () => {
  assert.equal(errorReason(new NoDataError('q', 'empty')), 'no_data');
  assert.equal(errorReason(new SourceError('503', { retryable: true })), 'retryable');
  assert.equal(errorReason(new InjectorError('403', { retryable: false })), 'fatal');
  assert.equal(errorReason(new DOMException('t', 'TimeoutError')), 'timeout');
  assert.equal(errorReason(new DOMException('a', 'AbortError')), 'aborted');
  assert.equal(errorReason(new Error('boom')), 'unknown');
  assert.equal(errorReason('boom'), 'unknown');
  // One registry per ServiceMetrics: a second set on the same registry is refused, not silently shared.
  const registry = new Registry();
  createServiceMetrics(registry);
  assert.throws(() => createServiceMetrics(registry), /already been registered/);
});
