/**
 * End to end with the real SDK, when it is installed: the OTEL_* variables
 * switch it on, a halted run's spans are exported over OTLP (http/json, to a
 * collector on loopback), and the trace id in the run's log lines is the one
 * exported. Skipped, saying so, when @opentelemetry/sdk-node is not installed.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { executeRun } from '../../src/engine/run-engine.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { SDK_MODULE, startTracing } from '../../src/observability/otel-sdk.ts';
import { ServiceTelemetry } from '../../src/observability/service-telemetry.ts';
import { FakeInjector, FakeSource } from '../helpers/fakes.ts';
import { breachingWorld, shortExperiment } from './run-fixtures.ts';

const sdkInstalled = await import(SDK_MODULE).then(
  () => true,
  () => false,
);

test('OTLP export: the run trace leaves the process and its id is the one in the logs', { skip: sdkInstalled ? false : `${SDK_MODULE} is not installed` }, async (t) => {
  const posts: { url: string; body: string }[] = [];
  const collector = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      posts.push({ url: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  t.after(() => collector.close());
  const { port } = collector.address() as { port: number };
  // The SDK reads these itself, from process.env.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${port}`;
  process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
  process.env.OTEL_METRICS_EXPORTER = 'none';
  process.env.OTEL_LOGS_EXPORTER = 'none';

  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  const tracing = await startTracing(process.env, logger);
  assert.equal(tracing.enabled, true);
  const telemetry = new ServiceTelemetry({ registry: new Registry() });
  const injector = new FakeInjector();
  const labels = { runId: 'run-otlp-1', experiment: 'observed' };
  const run = await executeRun(
    shortExperiment(),
    {
      source: telemetry.instrumentSource(new FakeSource(breachingWorld(injector)), labels),
      injector: telemetry.instrumentInjector(injector, labels),
      logger,
      telemetry,
    },
    { runId: labels.runId },
  );
  assert.equal(run.state, 'halted', run.reason);
  await tracing.shutdown(); // flushes

  const traceIds = new Set(lines.filter((l) => l.runId === labels.runId).map((l) => l.trace_id));
  assert.equal(traceIds.size, 1);
  const [traceId] = [...traceIds];
  assert.match(String(traceId), /^[0-9a-f]{32}$/);
  const exported = posts.filter((p) => p.url === '/v1/traces').map((p) => p.body).join('\n');
  assert.ok(exported.includes(String(traceId)), 'the logged trace id was exported');
  for (const name of ['steadystate.run', 'steadystate.phase.injecting', 'steadystate.injector.open', 'steadystate.source.query_range', labels.runId]) {
    assert.ok(exported.includes(name), name);
  }
});
