/** A stored run's alerts verdict is read back from its `alerts.judged` event: reports and the API of a stored run show it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateAlerts } from '../../src/alerts/evaluate.ts';
import { runSummary } from '../../src/reports/run-summary.ts';
import { loadRunRecord } from '../../src/service/run-views.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import { openStore } from '../../src/store/open-store.ts';

test('loadRunRecord restores run.alerts from the last alerts.judged event', async () => {
  const store = await openStore({ memory: true });
  try {
    const parsed = validateExperiment({
      apiVersion: 'steadystate.dev/v1alpha1',
      kind: 'Experiment',
      metadata: { name: 'stored' },
      spec: {
        source: { kind: 'prometheus', url: 'http://127.0.0.1:9' },
        steadyState: [{ name: 'sps', query: 'sum(rate(x{group="$group"}[5s]))' }],
        fault: { injector: 'http-proxy', params: { admin: 'http://127.0.0.1:1', latencyMs: 1 }, duration: '1m' },
        expect: { alerts: [{ name: 'Quiet', never: true }] },
      },
    });
    assert.ok(parsed.ok);
    await store.experiments.create({ name: 'stored', spec: parsed.experiment, source: '{}', format: 'json', actor: 'test' });
    await store.runs.create({ id: 'run-stored', experiment: 'stored', version: 1, target: 'http-proxy:x', actor: 'test' });
    const t0 = Date.parse('2026-12-02T10:00:00Z');
    const alerts = evaluateAlerts({
      expectations: [{ name: 'Quiet', never: true }],
      polls: [{ at: t0 + 1_000, prometheus: { rules: ['Quiet'], alerts: [] } }],
      steps: [{ index: 0, startedAt: t0, endedAt: t0 + 5_000 }],
      closedAt: t0 + 5_000,
      from: t0,
      until: t0 + 6_000,
      failedPolls: 0,
      alertmanager: false,
      onFail: 'report',
    });
    await store.runs.appendEvent('run-stored', { at: new Date(t0 + 6_000).toISOString(), type: 'alerts.judged', message: 'alerts: pass', data: { alerts: JSON.parse(JSON.stringify(alerts)) } });
    const row = await store.runs.get('run-stored');
    assert.ok(row);
    const record = await loadRunRecord(store, row);
    assert.deepEqual(record.alerts, alerts);
    assert.equal(runSummary(record).run.alerts?.verdict, 'pass');
  } finally {
    await store.close();
  }
});
