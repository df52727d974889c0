import assert from 'node:assert/strict';
import { test } from 'node:test';
import { combineWithAlerts } from '../../src/alerts/combine.ts';
import { evaluateAlerts, type EvaluateInput } from '../../src/alerts/evaluate.ts';
import type { AlertPoll, ObservedAlert } from '../../src/alerts/types.ts';
import { DEFAULT_POLICY } from '../../src/security/policy.ts';
import { outboundIssues, secretReferenceIssues } from '../../src/service/spec-checks.ts';
import { validateExperiment } from '../../src/spec/load.ts';

const T0 = Date.parse('2026-12-02T10:00:00Z');
const firing = (name: string, since: number, labels: Record<string, string> = {}): ObservedAlert => ({ name, labels: { alertname: name, ...labels }, state: 'firing', firingSince: since });
/** A look every second from `from` to `to` (ms after T0), with the alerts `at(t)` shows. */
function polls(from: number, to: number, at: (t: number) => ObservedAlert[], am?: (t: number) => ObservedAlert[]): AlertPoll[] {
  const out: AlertPoll[] = [];
  for (let t = from; t <= to; t += 1_000) out.push({ at: T0 + t, prometheus: { rules: ['Burn', 'Quiet'], alerts: at(t) }, ...(am ? { alertmanager: am(t) } : {}) });
  return out;
}
const base = (over: Partial<EvaluateInput>): EvaluateInput => ({
  expectations: [],
  polls: [],
  steps: [{ index: 0, startedAt: T0, endedAt: T0 + 10_000 }],
  closedAt: T0 + 10_000,
  from: T0,
  until: T0 + 20_000,
  failedPolls: 0,
  alertmanager: false,
  onFail: 'report',
  ...over,
});

test('fires within its bound and resolves after the close → pass, delay from the firing time', () => {
  const r = evaluateAlerts(
    base({
      expectations: [{ name: 'Burn', within: 5_000, resolveWithin: 8_000 }],
      polls: polls(0, 20_000, (t) => (t >= 3_000 && t < 13_000 ? [firing('Burn', T0 + 2_400)] : [])),
    }),
  );
  assert.equal(r.verdict, 'pass', r.reason);
  const a = r.alerts[0];
  assert.equal(a?.delayMs, 2_400);
  assert.equal(a?.firedAt, new Date(T0 + 2_400).toISOString());
  assert.equal(a?.resolveDelayMs, 3_000);
});

test('fires late, or resolves late, or never → fail, saying which', () => {
  const late = evaluateAlerts(base({ expectations: [{ name: 'Burn', within: 2_000 }], polls: polls(0, 12_000, (t) => (t >= 4_000 ? [firing('Burn', T0 + 3_500)] : [])) }));
  assert.equal(late.verdict, 'fail');
  assert.match(late.reason, /fired after 3\.5s, beyond 2\.0s/);
  const stuck = evaluateAlerts(base({ expectations: [{ name: 'Burn', within: 5_000, resolveWithin: 3_000 }], polls: polls(0, 20_000, (t) => (t >= 1_000 ? [firing('Burn', T0 + 1_000)] : [])) }));
  assert.equal(stuck.verdict, 'fail');
  assert.match(stuck.reason, /still firing/);
  const never = evaluateAlerts(base({ expectations: [{ name: 'Burn', within: 5_000 }], polls: polls(0, 12_000, () => []) }));
  assert.equal(never.verdict, 'fail');
  assert.match(never.reason, /did not fire within 5\.0s/);
});

test('label matchers select the alert; a differently labelled one does not count', () => {
  const r = evaluateAlerts(base({ expectations: [{ name: 'Burn', within: 5_000, labels: { severity: 'page' } }], polls: polls(0, 12_000, () => [firing('Burn', T0 + 1_000, { severity: 'ticket' })]) }));
  assert.equal(r.verdict, 'fail');
});

test('must never fire: a firing in Prometheus or an active alert in Alertmanager fails it', () => {
  const quiet = evaluateAlerts(base({ expectations: [{ name: 'Quiet', never: true }], polls: polls(0, 12_000, () => []) }));
  assert.equal(quiet.verdict, 'pass');
  const loud = evaluateAlerts(base({ expectations: [{ name: 'Quiet', never: true }], polls: polls(0, 12_000, (t) => (t === 6_000 ? [firing('Quiet', T0 + 5_500)] : [])) }));
  assert.equal(loud.verdict, 'fail');
  assert.match(loud.reason, /must never fire, but fired at/);
  const paged = evaluateAlerts(base({ alertmanager: true, expectations: [{ name: 'Quiet', never: true }], polls: polls(0, 12_000, () => [], (t) => (t > 5_000 ? [{ name: 'Quiet', labels: { alertname: 'Quiet' }, state: 'active' }] : [])) }));
  assert.equal(paged.verdict, 'fail');
  assert.match(paged.reason, /reached Alertmanager/);
});

test('per step over a ladder: each step has its own delay; one slow step fails the expectation', () => {
  const steps = [
    { index: 0, startedAt: T0, endedAt: T0 + 10_000 },
    { index: 1, startedAt: T0 + 10_000, endedAt: T0 + 20_000 },
    { index: 2, startedAt: T0 + 20_000, endedAt: T0 + 30_000 },
  ];
  // Quiet in step 0, fires 2 s into step 1 and keeps firing through step 2.
  const r = evaluateAlerts(base({ steps, closedAt: T0 + 30_000, until: T0 + 35_000, expectations: [{ name: 'Burn', within: 5_000 }], polls: polls(0, 35_000, (t) => (t >= 12_000 && t < 31_000 ? [firing('Burn', T0 + 12_000)] : [])) }));
  const s = r.alerts[0]?.steps ?? [];
  assert.deepEqual(s.map((x) => x.verdict), ['fail', 'pass', 'pass']);
  assert.equal(s[0]?.delayMs, 12_000);
  assert.equal(s[1]?.delayMs, 2_000);
  assert.equal(s[2]?.alreadyFiring, true);
  assert.equal(s[2]?.delayMs, 0);
  assert.equal(r.verdict, 'fail');
  assert.match(r.reason, /step 1: fired after 12s, beyond 5\.0s/, 'steps are numbered from 1, as the reports number them');
});

test('steps: fires on the steps named (from 1), quiet before them, not judged after; a named step that never ran is inconclusive', () => {
  const three = [
    { index: 0, startedAt: T0, endedAt: T0 + 10_000 },
    { index: 1, startedAt: T0 + 10_000, endedAt: T0 + 20_000 },
    { index: 2, startedAt: T0 + 20_000, endedAt: T0 + 30_000 },
  ];
  const run = (steps: typeof three, at: (t: number) => ObservedAlert[], expected: number[]) =>
    evaluateAlerts(base({ steps, closedAt: (steps.at(-1)?.endedAt ?? 0), until: T0 + 35_000, expectations: [{ name: 'Burn', within: 5_000, steps: expected }], polls: polls(0, 35_000, at) }));
  // Quiet in step 1, fires 2 s into step 2, keeps firing in step 3: "fires on step 2".
  const onTwo = run(three, (t) => (t >= 12_000 && t < 31_000 ? [firing('Burn', T0 + 12_000)] : []), [2]);
  assert.equal(onTwo.verdict, 'pass', onTwo.reason);
  const a = onTwo.alerts[0];
  assert.deepEqual(a?.steps.map((x) => [x.verdict, x.judged]), [['pass', 'quiet'], ['pass', 'fire'], ['pass', false]]);
  assert.equal(a?.delayMs, 2_000, 'the delay is from the step it is expected on');
  assert.deepEqual(a?.onSteps, [2]);
  assert.match(a?.reason ?? '', /fired 2\.0s after step 2 began; quiet before step 2/);
  // The same alert expected on step 3 only: it fired in step 2, a level the team tolerates → fail.
  const onThree = run(three, (t) => (t >= 12_000 && t < 31_000 ? [firing('Burn', T0 + 12_000)] : []), [3]);
  assert.equal(onThree.verdict, 'fail');
  assert.match(onThree.reason, /step 2: fired at .*, before step 3 where it is expected/);
  // Not firing on step 2 where it is expected → fail, naming the step.
  const silent = run(three, () => [], [2, 3]);
  assert.equal(silent.verdict, 'fail');
  assert.match(silent.reason, /step 2: did not fire within 5\.0s; step 3: did not fire within 5\.0s/);
  // The ladder stopped after step 2: step 3 never ran; what ran held → inconclusive, not pass.
  const stopped = run(three.slice(0, 2), (t) => (t >= 12_000 && t < 21_000 ? [firing('Burn', T0 + 12_000)] : []), [2, 3]);
  assert.equal(stopped.alerts[0]?.verdict, 'inconclusive', stopped.reason);
  assert.match(stopped.reason, /step 3 did not run/);
});

test('no answer from the alerts API → inconclusive, never pass', () => {
  const r = evaluateAlerts(base({ expectations: [{ name: 'Quiet', never: true }], polls: [], failedPolls: 12 }));
  assert.equal(r.verdict, 'inconclusive');
  assert.equal(r.alerts[0]?.verdict, 'inconclusive');
});

test('onFail: report leaves the run state alone; fail turns passed or inconclusive into failed, never a halt', () => {
  const failed = evaluateAlerts(base({ expectations: [{ name: 'Burn', within: 1_000 }], polls: polls(0, 12_000, () => []), onFail: 'fail' }));
  const outcome = { state: 'passed' as const, verdict: 'pass' as const, reason: 'all passed' };
  assert.deepEqual(combineWithAlerts(outcome, { ...failed, onFail: 'report' }), outcome);
  assert.equal(combineWithAlerts(outcome, failed).state, 'failed');
  assert.equal(combineWithAlerts({ ...outcome, state: 'inconclusive', verdict: 'inconclusive' }, failed).state, 'failed');
  assert.equal(combineWithAlerts({ state: 'halted', verdict: 'fail', reason: 'halt' }, failed).state, 'halted');
});

test('spec: within xor never; a non-Prometheus source needs expect.prometheus', () => {
  const spec = (expect: unknown, source: object = { kind: 'prometheus', url: 'http://127.0.0.1:9090' }) =>
    validateExperiment({
      apiVersion: 'steadystate.dev/v1alpha1',
      kind: 'Experiment',
      metadata: { name: 'x' },
      spec: {
        source,
        steadyState: [{ name: 'm', query: 'm{group="$group"}' }],
        fault: { injector: 'http-proxy', params: { admin: 'http://127.0.0.1:1', latencyMs: 1 }, duration: '1m' },
        expect,
      },
    });
  assert.ok(spec({ alerts: [{ name: 'A', within: '5m' }, { name: 'B', never: true }] }).ok);
  const both = spec({ alerts: [{ name: 'A', within: '5m', never: true }] });
  assert.ok(!both.ok && both.issues.some((i) => /either within/.test(i.message)));
  const neither = spec({ alerts: [{ name: 'A' }] });
  assert.ok(!neither.ok);
  const pastTheLadder = spec({ alerts: [{ name: 'A', within: '5m', steps: [2] }] });
  assert.ok(!pastTheLadder.ok && pastTheLadder.issues.some((i) => i.path === 'spec.expect.alerts[0].steps[0]' && /the fault has 1 step$/.test(i.message)), JSON.stringify(!pastTheLadder.ok && pastTheLadder.issues));
  const neverOnSteps = spec({ alerts: [{ name: 'A', never: true, steps: [1] }] });
  assert.ok(!neverOnSteps.ok && neverOnSteps.issues.some((i) => /steps applies to an alert that must fire/.test(i.message)));
  const dd = spec({ alerts: [{ name: 'A', within: '5m' }] }, { kind: 'datadog', site: 'datadoghq.com' });
  assert.ok(!dd.ok && dd.issues.some((i) => i.path.includes('expect.prometheus')), JSON.stringify(!dd.ok && dd.issues));
  const inline = spec({ alerts: [{ name: 'A', within: '5m' }], alertmanager: { url: 'http://user:pw@127.0.0.1:9093' } });
  assert.ok(inline.ok, 'credentials in a URL are the policy check’s to refuse (spec-checks), not the schema’s');
  const refused = outboundIssues(inline.experiment, { ...DEFAULT_POLICY, allowedHosts: ['127.0.0.1'] });
  assert.deepEqual(refused.map((i) => i.path), ['spec.expect.alertmanager.url']);
  const elsewhere = spec({ alerts: [{ name: 'A', within: '5m' }], alertmanager: { url: 'http://am.example.com', headers: { Authorization: { fromEnv: 'AM_TOKEN' } } } });
  assert.ok(elsewhere.ok);
  const issues = [...outboundIssues(elsewhere.experiment, { ...DEFAULT_POLICY, allowedHosts: ['127.0.0.1'] }), ...secretReferenceIssues(elsewhere.experiment, DEFAULT_POLICY)];
  assert.deepEqual(issues.map((i) => i.path).sort(), ['spec.expect.alertmanager.headers.Authorization.fromEnv', 'spec.expect.alertmanager.url']);
});
