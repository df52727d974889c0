/**
 * The SDK switch: which OTEL_* settings turn tracing on, that nothing is
 * loaded when they do not, and that a missing or broken SDK never stops the
 * service from starting.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { SDK_MODULE, startTracing, tracingRequested } from '../../src/observability/otel-sdk.ts';

test('tracing is requested by an OTLP endpoint or a named exporter, and OTEL_SDK_DISABLED wins', () => {
  assert.equal(tracingRequested({}), false);
  assert.equal(tracingRequested({ OTEL_SERVICE_NAME: 'x' }), false);
  assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), true);
  assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }), true);
  assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }), false);
  assert.equal(tracingRequested({ OTEL_TRACES_EXPORTER: 'otlp' }), true);
  assert.equal(tracingRequested({ OTEL_TRACES_EXPORTER: 'console,otlp' }), true);
  assert.equal(tracingRequested({ OTEL_TRACES_EXPORTER: 'none' }), false);
  assert.equal(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), false, 'an explicit none wins');
  assert.equal(tracingRequested({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }), false);
  assert.equal(tracingRequested({ OTEL_SDK_DISABLED: 'false', OTEL_TRACES_EXPORTER: 'otlp' }), true);
});

function recordingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  return { logger, lines };
}

test('off: the SDK module is never imported', async () => {
  const { logger } = recordingLogger();
  const handle = await startTracing({}, logger, () => assert.fail('must not load the SDK'));
  assert.equal(handle.enabled, false);
  await handle.shutdown();
});

test('on: NodeSDK is built with no auto-instrumentation and a default service name, started, and shut down once', async () => {
  const { logger } = recordingLogger();
  const calls: string[] = [];
  let config: Record<string, unknown> | undefined;
  class NodeSDK {
    constructor(c: Record<string, unknown>) {
      config = c;
    }
    start() {
      calls.push('start');
    }
    async shutdown() {
      calls.push('shutdown');
    }
  }
  const loaded: string[] = [];
  const handle = await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, logger, async (name) => {
    loaded.push(name);
    return { NodeSDK };
  });
  assert.deepEqual(loaded, [SDK_MODULE]);
  assert.equal(handle.enabled, true);
  assert.deepEqual(config, { instrumentations: [], serviceName: 'steadystate' });
  await Promise.all([handle.shutdown(), handle.shutdown()]);
  assert.deepEqual(calls, ['start', 'shutdown']);

  // OTEL_SERVICE_NAME is the SDK's to read: we do not override it.
  await startTracing({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SERVICE_NAME: 'chaos' }, logger, async () => ({ NodeSDK }));
  assert.deepEqual(config, { instrumentations: [] });
});

test('on but the SDK is not installed or broken: tracing stays off, the reason is logged, nothing throws', async () => {
  const { logger, lines } = recordingLogger();
  const missing = await startTracing({ OTEL_TRACES_EXPORTER: 'otlp' }, logger, (name) => import(`${name}-not-installed-anywhere`));
  assert.equal(missing.enabled, false);
  assert.match(lines.at(-1)?.msg ?? '', /could not be loaded; tracing stays off/);

  const shapeless = await startTracing({ OTEL_TRACES_EXPORTER: 'otlp' }, logger, async () => ({}));
  assert.equal(shapeless.enabled, false);
  assert.match(lines.at(-1)?.msg ?? '', /no NodeSDK export/);

  class Throwing {
    start(): void {
      throw new Error('bad OTEL_EXPORTER_OTLP_PROTOCOL');
    }
    async shutdown() {}
  }
  const broken = await startTracing({ OTEL_TRACES_EXPORTER: 'otlp' }, logger, async () => ({ NodeSDK: Throwing }));
  assert.equal(broken.enabled, false);
  assert.match(lines.at(-1)?.msg ?? '', /failed to start/);
  assert.ok(lines.every((l) => l.level >= 50));
});
