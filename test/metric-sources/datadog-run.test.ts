/**
 * A full run through the engine on Datadog reaches the verdict the same data
 * reaches through a real Prometheus. One latency signal, a function of time,
 * is served twice: by a prom-client target scraped by Prometheus, and by the
 * Datadog-shaped server. Four runs go at once (same wall-clock window), each
 * with the command injector (`node -e ''`) and a threshold guardrail:
 *   A/A (identical groups)            → passed on both backends
 *   +300 ms on the experiment group   → failed on both, with the same effect
 * Groups are mapped (control: ctl, experiment: exp), so `$group` becomes a
 * Datadog tag value and a Prometheus label value alike.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Gauge, Registry } from 'prom-client';
import { executeRun } from '../../src/engine/run-engine.ts';
import type { RunRecord } from '../../src/engine/types.ts';
import { createInjector } from '../../src/injectors/registry.ts';
import { DEFAULT_POLICY } from '../../src/security/policy.ts';
import { datadogConfigSchema, DatadogSource } from '../../src/metric-sources/datadog.ts';
import { createMetricSource } from '../../src/metric-sources/registry.ts';
import type { MetricSource } from '../../src/metric-sources/types.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import type { Experiment } from '../../src/spec/schema.ts';
import { parseMetricQuery, startDatadogServer, TEST_API_KEY, TEST_APP_KEY, type DatadogServer } from '../helpers/datadog-server.ts';
import { PROMETHEUS_DEFAULT_PATH, startMetricsTarget, startPrometheus, type MetricsTarget, type RunningPrometheus } from '../helpers/prometheus.ts';
import { checkBinary } from '../helpers/skip.ts';

const prometheusBinary = checkBinary('prometheus', PROMETHEUS_DEFAULT_PATH);
const logger = pino({ level: 'silent' });
const SHIFT_S = 0.3;

/** Latency in seconds at time t: 100 ms plus up to 20 ms of deterministic noise per second. */
function latency(scenario: string, group: string, tMs: number): number {
  const second = Math.floor(tMs / 1000);
  const noise = ((Math.imul(second, 2654435761) >>> 0) % 1000) / 1000;
  return 0.1 + 0.02 * noise + (scenario === 'shift' && group === 'exp' ? SHIFT_S : 0);
}

function spec(name: string, source: object, query: string): Experiment {
  const r = validateExperiment({
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name, service: 'shop' },
    spec: {
      source,
      groups: { control: 'ctl', experiment: 'exp' },
      steadyState: [{ name: 'latency', query, direction: 'increase', tolerance: '10%' }],
      fault: { injector: 'command', params: { open: ['node', '-e', ''], close: ['node', '-e', ''] }, duration: '20s' },
      guardrails: [{ name: 'latency-ceiling', query, max: 5 }],
      analysis: { interval: '1s', minSamples: 15, settle: '1s' },
    },
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.experiment;
}

void describe('a run on Datadog reaches the same verdict as on Prometheus', { skip: prometheusBinary.skip, timeout: 120_000 }, () => {
  let target: MetricsTarget;
  let prom: RunningPrometheus;
  let dd: DatadogServer;

  before(
    async () => {
      const registry = new Registry();
      new Gauge({
        name: 'demo_latency_seconds',
        help: 'Latency signal shared with the Datadog-shaped server.',
        labelNames: ['scenario', 'group'] as const,
        registers: [registry],
        collect() {
          const now = Date.now();
          for (const scenario of ['aa', 'shift']) for (const group of ['ctl', 'exp']) this.set({ scenario, group }, latency(scenario, group, now));
        },
      });
      target = await startMetricsTarget(registry);
      prom = await startPrometheus({ targets: [target.target], scrapeInterval: '1s', binary: prometheusBinary.path! });
      dd = await startDatadogServer({
        data: (query, t) => {
          const q = parseMetricQuery(query);
          if (q.metric !== 'demo.latency' || !q.tags.scenario || !q.tags.group) return undefined;
          return latency(q.tags.scenario, q.tags.group, t);
        },
      });
      await prom.waitForTargetsUp(15_000);
      // Preflight looks back 10 s.
      await prom.waitForSeries('count_over_time(demo_latency_seconds{scenario="aa",group="exp"}[15s]) >= 11', 30_000);
    },
    { timeout: 60_000 },
  );

  after(async () => {
    await prom?.stop();
    await target?.stop();
    await dd?.stop();
  });

  void test('A/A → passed on both; +300 ms → failed on both, same effect', async () => {
    const promSource = (): object => ({ kind: 'prometheus', url: prom.url, step: '1s', timeout: '2s' });
    const ddSource = (): object => ({ kind: 'datadog', url: dd.url, step: '1s', timeout: '700ms' });
    const runs: [string, Experiment, MetricSource][] = [];
    for (const scenario of ['aa', 'shift']) {
      const onProm = spec(`${scenario}-prometheus`, promSource(), `demo_latency_seconds{scenario="${scenario}",group="$group"}`);
      const onDd = spec(`${scenario}-datadog`, ddSource(), `avg:demo.latency{scenario:${scenario},group:$group}`);
      runs.push([`${scenario}/prometheus`, onProm, createMetricSource(onProm.spec.source)]);
      runs.push([
        `${scenario}/datadog`,
        onDd,
        new DatadogSource(datadogConfigSchema.parse(onDd.spec.source), { env: { DD_API_KEY: TEST_API_KEY, DD_APP_KEY: TEST_APP_KEY } }),
      ]);
    }
    const results = new Map<string, RunRecord>(
      await Promise.all(
        runs.map(async ([key, experiment, source]) => {
          // `node -e ''` is this test's own harmless fault: enabled here as `steadystate run --allow-command` would.
          const injector = createInjector(experiment.spec.fault.injector, experiment.spec.fault.params, { policy: { ...DEFAULT_POLICY, command: { mode: 'any' } } });
          const run = await executeRun(experiment, { source, injector, logger }, { actor: 'test' });
          return [key, run] as const;
        }),
      ),
    );
    const describeRun = (r: RunRecord): string => `${r.state}: ${r.reason}\n${JSON.stringify(r.metrics, null, 2)}`;

    for (const backend of ['prometheus', 'datadog']) {
      const aa = results.get(`aa/${backend}`)!;
      assert.equal(aa.state, 'passed', `A/A on ${backend}: ${describeRun(aa)}`);
      assert.equal(aa.metrics[0]?.verdict, 'pass');
      assert.ok(aa.metrics[0].control.n >= 15 && aa.metrics[0].experiment.n >= 15, describeRun(aa));
      assert.equal(aa.window?.closedBy, 'deadline');
      assert.ok(aa.guardrails.length > 10, 'the guardrail was evaluated throughout the window');

      const shift = results.get(`shift/${backend}`)!;
      assert.equal(shift.state, 'failed', `+300 ms on ${backend}: ${describeRun(shift)}`);
      assert.equal(shift.metrics[0]?.verdict, 'fail');
      assert.ok(Math.abs(shift.metrics[0].effect! - SHIFT_S) < 0.03, `effect ${shift.metrics[0].effect} on ${backend}`);
      assert.ok(shift.metrics[0].pValue! < 0.05);
    }
    assert.equal(results.get('aa/datadog')!.verdict, results.get('aa/prometheus')!.verdict);
    assert.equal(results.get('shift/datadog')!.verdict, results.get('shift/prometheus')!.verdict);

    // What the Datadog runs sent: preflight's key check, then v2 queries in ms with the
    // run's step, and the groups mapping applied to the tag.
    assert.ok(dd.requests.some((r) => r.path === '/api/v1/validate'));
    const sent = dd.queries().map((r) => r.json.data.attributes);
    assert.ok(sent.length > 40, `${sent.length} queries`);
    for (const a of sent) {
      assert.ok(a.from > 1e12 && a.to > a.from, `ms units: ${a.from}–${a.to}`);
      assert.ok(a.interval === 1_000 || a.queries[0].query.startsWith('avg:datadog.agent.running'), JSON.stringify(a));
    }
    const groupsSeen = new Set(sent.map((a) => /group:(\w+)/.exec(a.queries[0].query)?.[1]).filter(Boolean));
    assert.deepEqual([...groupsSeen].sort(), ['ctl', 'exp']);
  });
});
