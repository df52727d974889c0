/**
 * A run left mid-window by a process that died (as it leaves it in the store:
 * `injecting`, its window and handle recorded, the fault really open on a
 * real fault proxy) is taken over by `reconcile`:
 *   - fault active → continued to a verdict: watched to its original
 *     deadline, closed once by us, judged; the takeover in its timeline and
 *     its Markdown report;
 *   - a guardrail the window's history shows breached → halted at once, its
 *     memory rebuilt from the metric source (the first owner would have halted);
 *   - fault already ended on the proxy → closed (idempotently) and aborted.
 * The metric source is a Prometheus contract server answering every step
 * (the history a dead process leaves behind lives there).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { startFaultProxy, type FaultProxy } from '../../src/proxy/fault-proxy.ts';
import { renderMarkdownReport } from '../../src/reports/markdown-report.ts';
import { RunService } from '../../src/service/run-service.ts';
import { loadRunRecord } from '../../src/service/run-views.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/types.ts';
import { matrix, seriesFor, startFakePrometheus, type FakePrometheus } from '../metric-sources/fake-prometheus.ts';

let prom: FakePrometheus;
let proxy: FaultProxy;
/** What the guardrail query answers: under its max unless a test says otherwise. */
let errorRatio = 0.01;

before(async () => {
  prom = await startFakePrometheus((req) => {
    if (req.path !== '/api/v1/query_range') return { status: 404, text: 'not found' };
    const query = req.form.get('query') ?? '';
    const start = Number(req.form.get('start'));
    const end = Number(req.form.get('end'));
    const step = Number(req.form.get('step')) || 1;
    const values: [number, string][] = [];
    // As Prometheus does: evaluated at start + k·step.
    for (let t = start; t <= end + 1e-9 && values.length < 20_000; t += step) {
      values.push([t, query.includes('errors') ? String(errorRatio) : String(100 + (Math.round(t) % 3))]);
    }
    return { json: matrix(seriesFor(query, values)) };
  });
  proxy = await startFaultProxy({ listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, upstream: 'http://127.0.0.1:9' });
});

after(async () => {
  await proxy?.close();
  await prom?.stop();
});

async function leftMidWindow(store: Store, name: string, opts: { windowMs: number; openForMs: number; guardrail?: boolean }): Promise<string> {
  const parsed = validateExperiment({
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name },
    spec: {
      source: { kind: 'prometheus', url: prom.url, step: '1s' },
      steadyState: [{ name: 'sps', query: 'sum(sps{group="$group"})', direction: 'decrease' }],
      ...(opts.guardrail ? { guardrails: [{ name: 'errors', query: 'errors{group="$group"}', max: 0.1 }] } : {}),
      fault: { injector: 'http-proxy', params: { admin: proxy.adminUrl, latencyMs: 10 }, duration: `${opts.windowMs}ms` },
      analysis: { interval: '1s', minSamples: 3, settle: '1s' },
    },
  });
  assert.ok(parsed.ok, JSON.stringify(parsed));
  await store.experiments.create({ name, spec: parsed.experiment, source: '{}', format: 'json', actor: 'test' });
  const id = `run-${name}`;
  await store.runs.create({ id, experiment: name, version: 1, target: `http-proxy:${proxy.adminUrl}`, actor: 'test' });
  await store.runs.claim(id, 'dead-replica', 60_000);
  const openedAt = new Date(Date.now() - opts.openForMs);
  const deadline = new Date(openedAt.getTime() + opts.windowMs);
  // The fault really is open on the proxy, with the window's own deadline, as the dead process left it.
  const res = await fetch(`${proxy.adminUrl}/windows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, deadline: deadline.toISOString(), latencyMs: 10 }),
  });
  assert.equal(res.status, 201, await res.text());
  await store.runs.appendEvent(id, { type: 'run.started', message: 'run started by test' });
  await store.runs.appendEvent(id, { type: 'window.opened', message: 'fault window open' });
  await store.runs.update(id, {
    state: 'injecting',
    window: { openedAt: openedAt.toISOString(), deadline: deadline.toISOString(), handle: { injector: 'http-proxy', admin: proxy.adminUrl, windowId: id } },
  });
  return id;
}

const windowOf = async (id: string): Promise<{ state: string; closedReason?: string }> =>
  (await fetch(`${proxy.adminUrl}/windows/${encodeURIComponent(id)}`)).json() as Promise<{ state: string; closedReason?: string }>;

test('a run whose fault is still active is continued to a verdict: watched to its deadline, closed once, the takeover in its timeline and report', async (t) => {
  const store = await openStore({ memory: true });
  const runs = new RunService(store, loadConfig({}), pino({ level: 'silent' }), { instanceId: 'survivor' });
  try {
    errorRatio = 0.01;
    const id = await leftMidWindow(store, 'continued', { windowMs: 6_000, openForMs: 2_000, guardrail: true });
    const deadline = Date.parse((await store.runs.get(id))!.window!.deadline);
    const result = await runs.reconcile({ staleAfterMs: 0 });
    assert.deepEqual(result, { resumed: [id], reconciled: [], failures: [] });
    await runs.settled(id);

    const run = (await store.runs.get(id))!;
    assert.equal(run.state, 'passed', run.reason);
    assert.equal(run.owner, 'survivor');
    assert.equal(run.window?.closedBy, 'deadline');
    const closedAt = Date.parse(run.window.closedAt!);
    t.diagnostic(`closed ${closedAt - deadline} ms after the original deadline`);
    assert.ok(closedAt >= deadline, 'watched up to the original deadline');
    // The proxy also holds the deadline; whoever came first, the window is closed and only one close was ours.
    assert.equal((await windowOf(id)).state, 'closed');

    const events = await store.runs.events(id);
    const takeover = events.find((e) => e.type === 'run.taken_over');
    assert.ok(takeover, events.map((e) => e.type).join(', '));
    assert.match(takeover.message, /taken over by survivor from dead-replica/);
    assert.equal(events.filter((e) => e.type === 'window.closed').length, 1);
    assert.ok(events.some((e) => e.type === 'guardrail.replayed'), 'the guardrail memory was rebuilt from the history');
    assert.ok(run.metrics.length > 0 && run.metrics.every((m) => m.control.n >= 3), JSON.stringify(run.metrics.map((m) => m.control)));
    const report = renderMarkdownReport(await loadRunRecord(store, run));
    assert.match(report, /run\.taken_over/);
  } finally {
    await runs.shutdown(5_000);
    await store.close();
  }
});

test('a guardrail breach the window’s history shows halts the continued run at once', async () => {
  const store = await openStore({ memory: true });
  const runs = new RunService(store, loadConfig({}), pino({ level: 'silent' }), { instanceId: 'survivor' });
  try {
    errorRatio = 0.5;
    const id = await leftMidWindow(store, 'breached', { windowMs: 30_000, openForMs: 3_000, guardrail: true });
    const took = Date.now();
    assert.deepEqual((await runs.reconcile({ staleAfterMs: 0 })).resumed, [id]);
    await runs.settled(id);
    const run = (await store.runs.get(id))!;
    assert.equal(run.state, 'halted', run.reason);
    assert.match(run.reason, /errors.*found in the window's history/);
    assert.equal(run.window?.closedBy, 'halt');
    assert.equal((await windowOf(id)).closedReason, 'closed', 'closed by us, long before its deadline');
    assert.ok(Date.now() - took < 20_000);
  } finally {
    errorRatio = 0.01;
    await runs.shutdown(5_000);
    await store.close();
  }
});

test('a run whose fault the proxy already ended is closed and aborted, not continued', async () => {
  const store = await openStore({ memory: true });
  const runs = new RunService(store, loadConfig({}), pino({ level: 'silent' }), { instanceId: 'survivor' });
  try {
    const id = await leftMidWindow(store, 'ended', { windowMs: 30_000, openForMs: 1_000 });
    await fetch(`${proxy.adminUrl}/windows/${encodeURIComponent(id)}`, { method: 'DELETE' });
    const result = await runs.reconcile({ staleAfterMs: 0 });
    assert.deepEqual(result, { resumed: [], reconciled: [id], failures: [] });
    const run = (await store.runs.get(id))!;
    assert.equal(run.state, 'aborted');
    assert.match(run.reason, /not continued: the injector reports the fault already ended/);
  } finally {
    await runs.shutdown(5_000);
    await store.close();
  }
});
