/**
 * Annotations against servers that follow Grafana's `POST /api/annotations`
 * and Datadog's `POST /api/v1/events`: what we send (auth, times, tags), that
 * a failing or hanging endpoint costs the run nothing but an event, and that
 * the configuration takes references, never secrets.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { loadAnnotationsConfig } from '../../src/annotations/annotations-config.ts';
import { executeRun } from '../../src/engine/run-engine.ts';
import { DEFAULT_POLICY } from '../../src/security/policy.ts';
import { buildRunHooks } from '../../src/service/run-hooks.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import type { Experiment } from '../../src/spec/schema.ts';
import { ContractServer } from '../helpers/contract-server.ts';
import { FakeInjector, FakeSource } from '../helpers/fakes.ts';

const logger = pino({ level: 'silent' });
const grafana = new ContractServer();
const datadog = new ContractServer();
const TOKEN = 'glsa_test_token_3c1d9e0a77';
const KEY = 'dd-test-key-a81b44c2f9';

before(async () => {
  await Promise.all([grafana.start(), datadog.start()]);
});
after(async () => {
  await Promise.all([grafana.stop(), datadog.stop()]);
});

const env = (): NodeJS.ProcessEnv => ({
  STEADYSTATE_GRAFANA_URL: grafana.url,
  STEADYSTATE_GRAFANA_TOKEN: 'env:TEST_GRAFANA_TOKEN',
  STEADYSTATE_GRAFANA_DASHBOARD_UID: 'shop-overview',
  STEADYSTATE_DATADOG_EVENTS: 'on',
  STEADYSTATE_DATADOG_EVENTS_URL: datadog.url,
  STEADYSTATE_ANNOTATION_TIMEOUT: '300ms',
  TEST_GRAFANA_TOKEN: TOKEN,
  DD_API_KEY: KEY,
});

function experiment(guardrails: unknown[] = [], duration = '1500ms'): Experiment {
  const r = validateExperiment({
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: 'annotated', service: 'shop', environment: 'staging' },
    spec: {
      source: { kind: 'prometheus', url: 'http://127.0.0.1:1', step: '100ms' },
      steadyState: [{ name: 'sps', query: 'sps{group="$group"}', direction: 'decrease', tolerance: '5%' }],
      fault: { injector: 'http-proxy', params: { admin: 'http://127.0.0.1:1', latencyMs: 100 }, duration },
      guardrails,
      analysis: { interval: '1s', minSamples: 10, settle: '0s' },
    },
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  return r.experiment;
}

function hooksFor(exp: Experiment) {
  const problems: string[] = [];
  const annotations = loadAnnotationsConfig(env(), DEFAULT_POLICY, problems);
  assert.deepEqual(problems, []);
  return buildRunHooks(exp, { policy: DEFAULT_POLICY, annotations, env: env() });
}

const world = (q: string, t: number): number => (q.startsWith('errors') ? 0 : 100 + Math.sin(t / 37));

test('window open (a point) and close (the window as a region) go to Grafana and Datadog, tagged with the experiment and run', async () => {
  grafana.reset();
  datadog.reset();
  grafana.route('POST', '/api/annotations', () => ({ status: 200, body: { message: 'Annotation added', id: 7 } }));
  datadog.route('POST', '/api/v1/events', () => ({ status: 202, body: { status: 'ok', event: { id: 1 } } }));
  const exp = experiment();
  const run = await executeRun(exp, { source: new FakeSource(world), injector: new FakeInjector(), logger, hooks: hooksFor(exp) });
  assert.equal(run.state, 'passed', run.reason);
  const opened = Date.parse(run.window?.openedAt ?? '');
  const closed = Date.parse(run.window?.closedAt ?? '');

  const g = grafana.sent('POST', '/api/annotations');
  assert.equal(g.length, 2);
  const bodies = g.map((r) => JSON.parse(r.body));
  for (const [i, r] of g.entries()) {
    assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(r.headers['content-type'], 'application/json');
    const b = bodies[i];
    assert.equal(b.dashboardUID, 'shop-overview');
    assert.equal(b.time, opened);
    for (const tag of ['steadystate', 'experiment:annotated', `run:${run.id}`, 'service:shop', 'env:staging']) assert.ok(b.tags.includes(tag), `${tag} in ${b.tags}`);
  }
  assert.equal(bodies[0].timeEnd, undefined);
  assert.equal(bodies[1].timeEnd, closed);
  assert.match(bodies[1].text, /closed by deadline/);

  const d = datadog.sent('POST', '/api/v1/events');
  assert.equal(d.length, 2);
  for (const r of d) {
    assert.equal(r.headers['dd-api-key'], KEY);
    const b = JSON.parse(r.body);
    assert.equal(b.aggregation_key, run.id);
    assert.ok(b.title.length <= 100 && b.text.length > 0);
    assert.ok(b.tags.includes(`run:${run.id}`));
    assert.equal(b.alert_type, 'info');
    assert.ok([Math.floor(opened / 1000), Math.floor(closed / 1000)].includes(b.date_happened), `${b.date_happened}`);
  }
});

test('a failing or hanging endpoint costs the run an event, redacted — never its verdict, its halt or more than the timeout', async () => {
  grafana.reset();
  datadog.reset();
  // Grafana echoes the token in its error; Datadog never answers.
  grafana.route('POST', '/api/annotations', (req) => ({ status: 500, body: `internal error for ${String(req.headers.authorization)}` }));
  datadog.route('POST', '/api/v1/events', () => 'hang');
  let openedAt = 0;
  const injector = new FakeInjector();
  injector.onOpen = () => (openedAt = Date.now());
  const errors = (t: number): number => (openedAt > 0 && t > openedAt + 300 ? 0.3 : 0);
  const exp = experiment([{ name: 'errors', query: 'errors{group="$group"}', max: 0.05 }], '30s');
  const started = Date.now();
  const run = await executeRun(exp, { source: new FakeSource((q, t) => (q.startsWith('errors') ? errors(t) : world(q, t))), injector, logger, hooks: hooksFor(exp) });
  assert.equal(run.state, 'halted', run.reason);
  assert.ok(Date.parse(run.window?.closedAt ?? '') - Date.parse(run.halt?.at ?? '') < 300, 'the close waited on an annotation');
  assert.ok(Date.now() - started < 5_000, `run took ${Date.now() - started} ms`);
  const failures = run.events.filter((e) => e.type === 'annotation.failed');
  assert.equal(failures.length, 4, failures.map((f) => f.message).join('\n'));
  assert.ok(failures.some((f) => f.data?.annotator === 'grafana' && /HTTP 500/.test(f.message)));
  assert.ok(failures.some((f) => f.data?.annotator === 'datadog'));
  assert.ok(!JSON.stringify(run).includes(TOKEN), 'the token leaked into the run record');
  // The close of a halted window is a warning in Datadog's stream.
  const closeEvent = datadog.sent('POST', '/api/v1/events').map((r) => JSON.parse(r.body)).find((b) => b.tags.includes('event:window.closed'));
  assert.equal(closeEvent?.alert_type, 'warning');
  assert.match(closeEvent?.text ?? '', /guardrail "errors"/);
});

test('configuration takes references, never secrets, and follows the outbound allowlist', () => {
  const problems: string[] = [];
  loadAnnotationsConfig({ STEADYSTATE_GRAFANA_URL: 'https://grafana.example.com', STEADYSTATE_GRAFANA_TOKEN: 'glsa_inline_secret' }, DEFAULT_POLICY, problems);
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? '', /must be a reference/);
  assert.ok(!problems[0]?.includes('glsa_inline_secret'));

  const missing: string[] = [];
  loadAnnotationsConfig({ STEADYSTATE_GRAFANA_URL: 'https://grafana.example.com' }, DEFAULT_POLICY, missing);
  assert.match(missing[0] ?? '', /STEADYSTATE_GRAFANA_TOKEN is needed/);

  const outside: string[] = [];
  loadAnnotationsConfig({ STEADYSTATE_DATADOG_EVENTS: 'on', DD_SITE: 'eu' }, { ...DEFAULT_POLICY, allowedHosts: ['grafana.example.com'] }, outside);
  assert.match(outside[0] ?? '', /api\.datadoghq\.eu.*STEADYSTATE_ALLOWED_HOSTS/);

  const ok: string[] = [];
  const config = loadAnnotationsConfig({ STEADYSTATE_DATADOG_EVENTS: 'on', DD_SITE: 'us5', STEADYSTATE_DATADOG_API_KEY: 'file:/run/secrets/dd' }, DEFAULT_POLICY, ok);
  assert.deepEqual(ok, []);
  assert.deepEqual(config.datadog, { url: 'https://api.us5.datadoghq.com', apiKey: { file: '/run/secrets/dd' } });
  assert.equal(config.grafana, undefined);
});
