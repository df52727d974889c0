/**
 * `spec.fault.steps` (ADR 022): each step's merged params are validated by
 * the adapter, durations add up to the deadline, and only adapters that can
 * change an open fault accept a ladder.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseExperiment } from '../../src/spec/load.ts';
import { levelLabel } from '../../src/spec/fault-ladder.ts';

const valid = readFileSync(new URL('../fixtures/specs/valid.yaml', import.meta.url), 'utf8');

function withFault(fault: string): ReturnType<typeof parseExperiment> {
  const text = valid.replace(/ {2}fault:\n(?: {4}.*\n)+/, `  fault:\n${fault.replace(/^/gm, '    ')}\n`).replace('alpha: 0.05 }', 'alpha: 0.05, minSamples: 10 }');
  return parseExperiment(text);
}

function issues(r: ReturnType<typeof parseExperiment>): string[] {
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
}

test('a latency ladder: steps merged over params, held stepDuration or their own, deadline = their sum, stopAt fail', () => {
  const r = withFault(`injector: http-proxy
params: { admin: "http://127.0.0.1:9101", paths: ["/checkout*"] }
stepDuration: 20s
steps:
  - { latencyMs: 200 }
  - { latencyMs: 500 }
  - { latencyMs: 1s, duration: 30s }`);
  assert.ok(r.ok, JSON.stringify(issues(r)));
  const fault = r.experiment.spec.fault;
  assert.equal(fault.duration, 70_000);
  assert.equal(fault.stopAt, 'fail');
  assert.deepEqual(fault.steps?.map((s) => [s.index, s.duration, s.level]), [
    [0, 20_000, { latencyMs: 200 }],
    [1, 20_000, { latencyMs: 500 }],
    [2, 30_000, { latencyMs: '1s' }],
  ]);
  // The window opens with the first step's params; each step carries its full params.
  assert.deepEqual(fault.params, { admin: 'http://127.0.0.1:9101', paths: ['/checkout*'], latencyMs: 200 });
  assert.deepEqual((fault.steps?.[2]?.params as { latencyMs: number }).latencyMs, 1000);
});

test('an error-rate ladder in percent; its labels read as percent', () => {
  const r = withFault(`injector: http-proxy
params: { admin: "http://127.0.0.1:9101" }
stepDuration: 20s
stopAt: halt
steps: [{ errorRate: 0.1% }, { errorRate: 0.5% }, { errorRate: 1.5% }]`);
  assert.ok(r.ok, JSON.stringify(issues(r)));
  assert.deepEqual(r.experiment.spec.fault.steps?.map((s) => (s.params as { errorRate: number }).errorRate), [0.001, 0.005, 0.015]);
  assert.equal(r.experiment.spec.fault.stopAt, 'halt');
  assert.equal(levelLabel({ errorRate: 0.005 }), 'errorRate=0.5%');
  assert.equal(levelLabel({ latencyMs: 200 }), 'latencyMs=200');
});

test('ladder mistakes are reported at the step and field they come from', () => {
  const r = withFault(`injector: http-proxy
params: { admin: "http://127.0.0.1:9101" }
duration: 1m
steps:
  - { latencyMs: 200, duration: 20s }
  - { errorRate: 150%, duration: 20s }
  - { latencyMs: 300 }
  - { admin: "http://127.0.0.1:9999", latencyMs: 400, duration: 20s }`);
  const found = issues(r);
  assert.ok(found.some((i) => /^spec\.fault\.steps\[1\]\.errorRate: must be between/.test(i)), found.join('\n'));
  assert.ok(found.some((i) => /^spec\.fault\.steps\[2\]\.duration: needs a duration, or fault\.stepDuration/.test(i)), found.join('\n'));
  assert.ok(found.some((i) => /^spec\.fault\.steps\[3\]: must keep the first step's admin URL/.test(i)), found.join('\n'));
});

test('duration must equal the steps total; stepDuration and stopAt need steps; a plain fault still needs its duration', () => {
  const total = withFault(`injector: http-proxy
params: { admin: "http://127.0.0.1:9101" }
duration: 2m
stepDuration: 20s
steps: [{ latencyMs: 200 }, { latencyMs: 500 }]`);
  assert.ok(issues(total).some((i) => /^spec\.fault\.duration: must equal the steps' total \(40s\)/.test(i)), issues(total).join('\n'));
  const stray = withFault(`injector: http-proxy
params: { admin: "http://127.0.0.1:9101", latencyMs: 200 }
duration: 1m
stopAt: never
stepDuration: 20s`);
  assert.deepEqual(issues(stray).sort(), ['spec.fault.stepDuration: needs steps', 'spec.fault.stopAt: needs steps']);
  const none = withFault(`injector: http-proxy
params: { admin: "http://127.0.0.1:9101", latencyMs: 200 }`);
  assert.deepEqual(issues(none), ['spec.fault.duration: is required']);
});

test('only injectors that change an open fault take steps; the error names them', () => {
  const r = withFault(`injector: command
params: { open: ["true"], close: ["true"] }
stepDuration: 20s
steps: [{ open: ["true"] }, { open: ["false"] }]`);
  const found = issues(r);
  assert.ok(found.some((i) => /^spec\.fault\.steps: the command injector cannot change a fault while it is open; fault\.steps works with: http-proxy, toxiproxy$/.test(i)), found.join('\n'));
});

test('a step too short for minSamples is refused: each step is judged on its own samples', () => {
  const r = withFault(`injector: http-proxy
params: { admin: "http://127.0.0.1:9101" }
steps: [{ latencyMs: 200, duration: 30s }, { latencyMs: 500, duration: 5s }]`);
  const found = issues(r);
  assert.ok(found.some((i) => /^spec\.fault\.steps\[1\]: is held 5s: \d+ samples per group .* below minSamples 10/.test(i)), found.join('\n'));
  assert.ok(!found.some((i) => i.startsWith('spec.fault.steps[0]')), found.join('\n'));
});

test("the operator's policy reads every step's params, not only the first step's", async () => {
  const { outboundIssues } = await import('../../src/service/spec-checks.ts');
  const { DEFAULT_POLICY } = await import('../../src/security/policy.ts');
  const r = withFault(`injector: http-proxy
params: { admin: "http://127.0.0.1:9101" }
stepDuration: 20s
steps:
  - { latencyMs: 200 }
  - { latencyMs: 500 }`);
  assert.ok(r.ok, JSON.stringify(issues(r)));
  // An allowlist without the proxy's host: the refusal names the first step's params and the second step.
  const source = new URL(String((r.experiment.spec.source as { url?: string }).url)).hostname;
  const refused = outboundIssues(r.experiment, { ...DEFAULT_POLICY, allowedHosts: [source === '127.0.0.1' ? 'source.allowed.test' : source] }).map((i) => i.path);
  assert.deepEqual(refused.filter((p) => p.startsWith('spec.fault')), ['spec.fault.params.admin', 'spec.fault.steps[1].admin']);
  assert.deepEqual(outboundIssues(r.experiment, { ...DEFAULT_POLICY, allowedHosts: [source, '127.0.0.1'] }), []);
});
