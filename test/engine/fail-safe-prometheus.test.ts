/**
 * Fail safe, against a real Prometheus (1 s scrapes) and a real target: each
 * way the data can go bad mid-window halts the run within two evaluation
 * intervals of Prometheus seeing it —
 *   NaN, an empty vector, Prometheus itself stopped, and a source answering 500
 * (the last one from a local server speaking Prometheus's API, since a real
 * Prometheus cannot be made to answer 500 on demand).
 *
 * Bound checked: halt − (moment we broke the data) ≤ 2 × interval + one scrape
 * interval (Prometheus must scrape the bad value first) + 1 s of slack for
 * query and close latency on a loaded 2-core machine.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Gauge, Registry } from 'prom-client';
import { executeRun } from '../../src/engine/run-engine.ts';
import { createMetricSource } from '../../src/metric-sources/registry.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import type { Experiment } from '../../src/spec/schema.ts';
import { matrix, seriesFor, startFakePrometheus } from '../metric-sources/fake-prometheus.ts';
import { FakeInjector } from '../helpers/fakes.ts';
import { startMetricsTarget, startPrometheus, type MetricsTarget, type RunningPrometheus } from '../helpers/prometheus.ts';
import { checkBinary } from '../helpers/skip.ts';

const prometheus = checkBinary('prometheus', '/usr/bin/prometheus');
const logger = pino({ level: 'silent' });
const INTERVAL_MS = 1_000;
const BOUND_MS = 2 * INTERVAL_MS + 1_000 + 1_000;

function experiment(url: string, guardQuery: string): Experiment {
  const r = validateExperiment({
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: 'fail-safe' },
    spec: {
      source: { kind: 'prometheus', url, step: '1s', timeout: '800ms' },
      steadyState: [{ name: 'kpi', query: 'sum(kpi{group="$group"})', direction: 'decrease' }],
      fault: { injector: 'http-proxy', params: { admin: 'http://127.0.0.1:1', latencyMs: 1 }, duration: '30s' },
      guardrails: [{ name: 'guard', query: guardQuery, max: 10 }],
      analysis: { interval: '1s', minSamples: 5, settle: '0s' },
    },
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.experiment;
}

/** Run until halted; `breakData` is called 1.5 s after the window opens and returns nothing. */
async function haltAfter(exp: Experiment, breakData: () => void | Promise<void>): Promise<{ state: string; reason: string; tookMs: number }> {
  const injector = new FakeInjector();
  let brokenAt = 0;
  injector.onOpen = () => {
    setTimeout(() => {
      brokenAt = Date.now();
      void breakData();
    }, 1_500);
  };
  const run = await executeRun(exp, { source: createMetricSource(exp.spec.source), injector, logger });
  const closedAt = Date.parse(run.window?.closedAt ?? '');
  return { state: run.state, reason: run.halt?.reason ?? run.reason, tookMs: closedAt - brokenAt };
}

describe('fail safe against a real Prometheus', { skip: prometheus.skip, timeout: 180_000 }, () => {
  let registry: Registry;
  let guard: Gauge;
  let target: MetricsTarget;
  let prom: RunningPrometheus;

  before(async () => {
    registry = new Registry();
    guard = new Gauge({ name: 'guard_value', help: 'a guardrail input', labelNames: ['case'], registers: [registry] });
    const kpi = new Gauge({ name: 'kpi', help: 'a steady-state input', labelNames: ['group'], registers: [registry] });
    kpi.set({ group: 'control' }, 100);
    kpi.set({ group: 'experiment' }, 100);
    for (const c of ['nan', 'empty', 'stopped']) guard.set({ case: c }, 1);
    target = await startMetricsTarget(registry);
    prom = await startPrometheus({ targets: [target.target], scrapeInterval: '1s', binary: prometheus.path });
    await prom.waitForSeries('count_over_time(guard_value{case="nan"}[10s]) >= 6', 30_000);
  });

  after(async () => {
    await prom?.stop();
    await target?.stop();
  });

  test('NaN: the guardrail series turns NaN → halted', async (t) => {
    const r = await haltAfter(experiment(prom.url, 'guard_value{case="nan"}'), () => guard.set({ case: 'nan' }, NaN));
    t.diagnostic(`halted ${r.tookMs} ms after the value turned NaN`);
    assert.equal(r.state, 'halted', r.reason);
    assert.match(r.reason, /NaN/);
    assert.ok(r.tookMs <= BOUND_MS, `${r.tookMs} ms > ${BOUND_MS} ms`);
  });

  test('empty vector: the series disappears → halted', async (t) => {
    const r = await haltAfter(experiment(prom.url, 'guard_value{case="empty"}'), () => guard.remove({ case: 'empty' }));
    t.diagnostic(`halted ${r.tookMs} ms after the series disappeared`);
    assert.equal(r.state, 'halted', r.reason);
    assert.match(r.reason, /no data/);
    assert.ok(r.tookMs <= BOUND_MS, `${r.tookMs} ms > ${BOUND_MS} ms`);
  });

  test('a source answering 500 → halted', async (t) => {
    let failing = false;
    // Answers like a healthy Prometheus (a value at every step) until told to fail.
    const fake = await startFakePrometheus((req) => {
      if (failing) return { status: 500, text: 'internal error' };
      if (req.path.endsWith('/status/buildinfo')) return { json: { status: 'success', data: { version: '2.42.0' } } };
      const [start, end, step] = ['start', 'end', 'step'].map((k) => Number(req.form.get(k)));
      const values: [number, string][] = [];
      const query = req.form.get('query') ?? '';
      for (let t = start!; t <= end! + 1e-9 && values.length < 1_000; t += step!) values.push([Number(t.toFixed(3)), query.startsWith('guard') ? '1' : '100']);
      return { json: matrix(seriesFor(query, values)) };
    });
    try {
      const r = await haltAfter(experiment(fake.url, 'guard_value'), () => {
        failing = true;
      });
      t.diagnostic(`halted ${r.tookMs} ms after the source began answering 500`);
      assert.equal(r.state, 'halted', r.reason);
      assert.match(r.reason, /source failed/);
      assert.ok(r.tookMs <= BOUND_MS, `${r.tookMs} ms > ${BOUND_MS} ms`);
    } finally {
      await fake.stop();
    }
  });

  test('Prometheus stopped mid-window → halted', async (t) => {
    const r = await haltAfter(experiment(prom.url, 'guard_value{case="stopped"}'), () => prom.stop());
    t.diagnostic(`halted ${r.tookMs} ms after Prometheus was stopped`);
    assert.equal(r.state, 'halted', r.reason);
    assert.match(r.reason, /source failed/);
    assert.ok(r.tookMs <= BOUND_MS, `${r.tookMs} ms > ${BOUND_MS} ms`);
  });
});
