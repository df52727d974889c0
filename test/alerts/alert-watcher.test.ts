/**
 * The alert watcher inside real runs (engine with fake ports, real watcher,
 * real HTTP to servers shaped like Prometheus's `/api/v1/rules` and
 * Alertmanager's `/api/v2/alerts`): what it asks, how it reads the answers,
 * and that a hanging alerts API never delays a halt or a close.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { executeRun } from '../../src/engine/run-engine.ts';
import { DEFAULT_POLICY } from '../../src/security/policy.ts';
import { buildRunHooks } from '../../src/service/run-hooks.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import type { Experiment } from '../../src/spec/schema.ts';
import { AlertmanagerServer } from '../helpers/alertmanager-server.ts';
import { ContractServer } from '../helpers/contract-server.ts';
import { FakeInjector, FakeSource } from '../helpers/fakes.ts';

const logger = pino({ level: 'silent' });
const prom = new ContractServer();
const am = new AlertmanagerServer();

before(async () => {
  await Promise.all([prom.start(), am.start()]);
});
after(async () => {
  await Promise.all([prom.stop(), am.stop()]);
});

function experiment(expect: object, guardrails: unknown[] = [], duration = '2s'): Experiment {
  const r = validateExperiment({
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: 'alerts-test' },
    spec: {
      source: { kind: 'prometheus', url: prom.url, step: '100ms' },
      steadyState: [{ name: 'sps', query: 'sps{group="$group"}', direction: 'decrease', tolerance: '5%' }],
      fault: { injector: 'http-proxy', params: { admin: 'http://127.0.0.1:1', latencyMs: 100 }, duration },
      guardrails,
      analysis: { interval: '1s', minSamples: 10, settle: '0s' },
      expect,
    },
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.experiment;
}

/** Prometheus's documented `/api/v1/rules` answer for one group of alerting rules. */
function rulesAnswer(rules: { name: string; duration?: number; alerts?: { state: string; activeAt: string; labels?: Record<string, string> }[] }[]) {
  return {
    status: 200,
    body: {
      status: 'success',
      data: {
        groups: [
          {
            name: 'slo',
            file: '/etc/prometheus/slo.rules.yml',
            interval: 1,
            rules: rules.map((r) => ({
              state: r.alerts?.some((a) => a.state === 'firing') ? 'firing' : 'inactive',
              name: r.name,
              query: 'vector(1)',
              duration: r.duration ?? 0,
              labels: { severity: 'page' },
              annotations: {},
              alerts: (r.alerts ?? []).map((a) => ({ labels: { alertname: r.name, severity: 'page', ...a.labels }, annotations: {}, state: a.state, activeAt: a.activeAt, value: '1e+00' })),
              health: 'ok',
              type: 'alerting',
            })),
          },
        ],
      },
    },
  };
}

const world = (query: string, t: number): number => (query.startsWith('errors') ? 0 : 100 + Math.sin(t / 37));

test('reads firing time from activeAt + for, asks Alertmanager for active unsilenced alerts of our names, with referenced headers', async () => {
  prom.reset();
  let openedAt = 0;
  const injector = new FakeInjector();
  injector.onOpen = () => (openedAt = Date.now());
  prom.route('GET', '/api/v1/rules', () => {
    // Pending 400 ms after the window opened, firing from 400 ms + `for` (1 s) = 1.4 s on.
    const active = openedAt > 0 && Date.now() > openedAt + 400;
    const firing = openedAt > 0 && Date.now() > openedAt + 1_400;
    return rulesAnswer([
      { name: 'Burn', duration: 1, alerts: active ? [{ state: firing ? 'firing' : 'pending', activeAt: new Date(openedAt + 400).toISOString() }] : [] },
      { name: 'Quiet' },
    ]);
  });
  const exp = experiment({
    alerts: [
      { name: 'Burn', within: '1500ms', labels: { severity: 'page' } },
      { name: 'Quiet', never: true },
    ],
    alertmanager: { url: am.url, headers: { Authorization: { fromEnv: 'TEST_AM_TOKEN' } } },
    prometheus: { url: prom.url, headers: { 'X-Scope-OrgID': 'team-a' } },
    interval: '1s',
  });
  const policy = { ...DEFAULT_POLICY, secretEnv: ['TEST_AM_TOKEN'] };
  const hooks = buildRunHooks(exp, { policy, env: { TEST_AM_TOKEN: 'am-secret-123456' } });
  const run = await executeRun(exp, { source: new FakeSource(world), injector, logger, hooks });

  const alerts = run.alerts;
  assert.ok(alerts, 'no alerts result');
  const burn = alerts.alerts.find((a) => a.name === 'Burn');
  // Fired in time, but never reached Alertmanager: that is a failure of the pager path.
  assert.equal(burn?.verdict, 'fail', JSON.stringify(alerts, null, 2));
  assert.match(burn?.reason ?? '', /never reached Alertmanager/);
  assert.equal(burn?.steps[0]?.verdict, 'pass');
  // The delay comes from Prometheus's timestamps, not from when we happened to look.
  assert.equal(burn?.firedAt, new Date(openedAt + 1_400).toISOString());
  const windowOpened = Date.parse(run.window?.openedAt ?? '');
  assert.equal(burn?.delayMs, openedAt + 1_400 - windowOpened);
  assert.equal(burn?.notifiedAt, null, 'nothing was posted to Alertmanager');
  assert.equal(alerts.alerts.find((a) => a.name === 'Quiet')?.verdict, 'pass');
  assert.equal(alerts.verdict, 'fail');
  // The verdict is beside the metrics' by default: the run passed.
  assert.equal(run.state, 'passed', run.reason);
  assert.ok(run.events.some((e) => e.type === 'alerts.judged'));

  const rules = prom.sent('GET', '/api/v1/rules');
  assert.ok(rules.length >= 2);
  for (const r of rules) {
    assert.equal(r.query.get('type'), 'alert');
    assert.equal(r.headers['x-scope-orgid'], 'team-a');
  }
  const looks = am.sent('GET', '/api/v2/alerts');
  assert.ok(looks.length >= 2);
  for (const l of looks) {
    assert.equal(l.headers.authorization, 'am-secret-123456');
    assert.deepEqual(l.query.getAll('filter'), ['alertname=~"Burn|Quiet"']);
    assert.equal(l.query.get('silenced'), 'false');
  }
  assert.ok(!JSON.stringify(run).includes('am-secret-123456'), 'the header value leaked into the run record');
});

test('an unknown rule name fails the expectation instead of passing as "never fired"', async () => {
  prom.reset();
  prom.route('GET', '/api/v1/rules', () => rulesAnswer([{ name: 'Other' }]));
  const exp = experiment({ alerts: [{ name: 'PagerOnyl', never: true }], interval: '1s' });
  const run = await executeRun(exp, { source: new FakeSource(world), injector: new FakeInjector(), logger, hooks: buildRunHooks(exp, { policy: DEFAULT_POLICY }) });
  assert.equal(run.alerts?.verdict, 'fail');
  assert.match(run.alerts?.reason ?? '', /no alerting rule named "PagerOnyl"/);
});

test('a hanging alerts API never delays the halt or the close; the alerts verdict is inconclusive', async () => {
  prom.reset();
  prom.route('GET', '/api/v1/rules', () => 'hang');
  let openedAt = 0;
  const injector = new FakeInjector();
  injector.onOpen = () => (openedAt = Date.now());
  const errors = (t: number): number => (openedAt > 0 && t > openedAt + 300 ? 0.3 : 0);
  const exp = experiment(
    { alerts: [{ name: 'Burn', within: '1s' }], interval: '1s', timeout: '5s' },
    [{ name: 'errors', query: 'errors{group="$group"}', max: 0.05 }],
    '30s',
  );
  const started = Date.now();
  const run = await executeRun(exp, {
    source: new FakeSource((q, t) => (q.startsWith('errors') ? errors(t) : world(q, t))),
    injector,
    logger,
    hooks: buildRunHooks(exp, { policy: DEFAULT_POLICY }),
  });
  assert.equal(run.state, 'halted', run.reason);
  const haltAt = Date.parse(run.halt?.at ?? '');
  const closedAt = Date.parse(run.window?.closedAt ?? '');
  assert.ok(closedAt - haltAt < 500, `closed ${closedAt - haltAt} ms after the halt decision`);
  assert.ok(Date.now() - started < 6_000, `run took ${Date.now() - started} ms`);
  assert.equal(run.alerts?.verdict, 'inconclusive');
  assert.ok(prom.sent('GET', '/api/v1/rules').length >= 1, 'the watcher did look');
});

test('the operator allowlist refuses an alerts URL outside it: no request is made', async () => {
  prom.reset();
  prom.route('GET', '/api/v1/rules', () => rulesAnswer([{ name: 'Burn' }]));
  const exp = experiment({ alerts: [{ name: 'Burn', never: true }], interval: '1s' });
  const policy = { ...DEFAULT_POLICY, allowedHosts: ['prometheus.example.com'] };
  const run = await executeRun(exp, { source: new FakeSource(world), injector: new FakeInjector(), logger, hooks: buildRunHooks(exp, { policy }) });
  assert.equal(run.alerts?.verdict, 'inconclusive');
  assert.equal(prom.sent('GET', '/api/v1/rules').length, 0);
});
