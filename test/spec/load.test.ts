import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { formatPath, parseExperiment } from '../../src/spec/load.ts';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/specs/${name}`, import.meta.url), 'utf8');

test('a valid spec parses into numbers: durations in ms, tolerances, defaults', () => {
  const r = parseExperiment(fixture('valid.yaml'));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  const spec = r.experiment.spec;
  assert.equal(spec.fault.duration, 120_000);
  assert.equal(spec.source.step, 1_000);
  assert.deepEqual(spec.steadyState[0]?.tolerance, { kind: 'relative', value: 0.05 });
  assert.equal(spec.steadyState[1]?.direction, 'increase');
  assert.equal(spec.analysis.interval, 5_000);
  assert.equal(spec.analysis.minSamples, 30);
  const g0 = spec.guardrails[0];
  assert.ok(g0?.kind === 'threshold');
  assert.equal(g0.max, 0.02);
  assert.equal(g0.for, 1);
});

test('three mistakes are all reported, each with its line and field path', () => {
  const r = parseExperiment(fixture('three-mistakes.yaml'));
  assert.equal(r.ok, false);
  if (r.ok) return;
  const found = r.issues.map((i) => `${i.line} ${i.path}`).sort();
  assert.deepEqual(found, [
    '10 spec.steadyState[0].direction',
    '13 spec.steadyState[1].query',
    '18 spec.fault.duration',
  ].sort());
  const byPath = new Map(r.issues.map((i) => [i.path, i.message]));
  assert.match(byPath.get('spec.steadyState[0].direction') ?? '', /increase|decrease|either/);
  assert.match(byPath.get('spec.steadyState[1].query') ?? '', /\$group/);
  assert.match(byPath.get('spec.fault.duration') ?? '', /not a duration/);
});

test('unknown injector and source kinds list the known ones', () => {
  const text = fixture('valid.yaml').replace('injector: http-proxy', 'injector: chaos-monkey').replace('kind: prometheus', 'kind: graphite');
  const r = parseExperiment(text);
  assert.equal(r.ok, false);
  if (r.ok) return;
  const inj = r.issues.find((i) => i.path === 'spec.fault.injector');
  const src = r.issues.find((i) => i.path === 'spec.source.kind');
  assert.match(inj?.message ?? '', /unknown injector "chaos-monkey"; known: .*http-proxy/);
  assert.match(src?.message ?? '', /unknown source kind "graphite"; known: .*prometheus/);
  assert.equal(inj?.line, 21);
  assert.equal(src?.line, 9);
});

test('adapter params are validated by the adapter schema, with the full path', () => {
  const text = fixture('valid.yaml').replace('admin: "http://127.0.0.1:9101"', 'admin: "not a url"');
  const r = parseExperiment(text);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.ok(r.issues.some((i) => i.path === 'spec.fault.params.admin' && i.line === 22), JSON.stringify(r.issues));
});

test('YAML syntax errors and duplicate keys carry a line', () => {
  const r = parseExperiment('apiVersion: steadystate.dev/v1alpha1\nkind: Experiment\nkind: Experiment\n');
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.issues[0]?.path, '(yaml)');
  assert.equal(r.issues[0]?.line, 3);
  const r2 = parseExperiment('a: [1, 2\nb: 3\n');
  assert.equal(r2.ok, false);
});

test('SLO burn-rate and KPI-comparison guardrails parse; their mistakes are located', () => {
  const ok = fixture('valid.yaml').replace(
    '  onNoData: halt',
    '    - name: budget\n      slo:\n        good: sum(rate(ok[$window]))\n        total: sum(rate(all[$window]))\n        objective: 99.9%\n      burnRate: 14.4\n    - name: sps-drop\n      compare: checkout-sps\n  onNoData: halt',
  );
  const r = parseExperiment(ok);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  const [, slo, compare] = r.experiment.spec.guardrails;
  assert.ok(slo?.kind === 'slo' && slo.slo.objective === 0.999 && slo.burnRate === 14.4 && slo.slo.period === 30 * 86_400_000);
  assert.ok(compare?.kind === 'compare' && compare.compare === 'checkout-sps');

  const bad = ok.replace('total: sum(rate(all[$window]))', 'total: sum(rate(all[5m]))').replace('burnRate: 14.4', 'burnRate: -1');
  const r2 = parseExperiment(bad);
  assert.equal(r2.ok, false);
  if (r2.ok) return;
  const paths = r2.issues.map((i) => `${i.line} ${i.path}`);
  assert.ok(paths.includes('31 spec.guardrails[1].slo.total'), paths.join('\n'));
  assert.ok(paths.includes('33 spec.guardrails[1].burnRate'), paths.join('\n'));
});

test('an unknown template variable is named, with the known ones', () => {
  const text = fixture('valid.yaml').replace('{group="$group"}[15s]))\n      direction: decrease', '{group="$group",env="$env"}[15s]))\n      direction: decrease');
  const r = parseExperiment(text);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.issues[0]?.path, 'spec.steadyState[0].query');
  assert.match(r.issues[0]?.message ?? '', /unknown variable \$env; known: \$group/);
  assert.equal(r.issues[0]?.line, 13);
});

test('semantic checks: duplicate names, too few samples, interval ≥ duration', () => {
  const text = fixture('valid.yaml')
    .replace('name: p95-latency', 'name: checkout-sps')
    .replace('duration: 2m', 'duration: 5s');
  const r = parseExperiment(text);
  assert.equal(r.ok, false);
  if (r.ok) return;
  const messages = r.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
  assert.match(messages, /spec\.steadyState\[1\]\.name: duplicate name "checkout-sps"/);
  assert.match(messages, /spec\.fault\.duration: guarantees 5 samples per group/);
  assert.match(messages, /spec\.analysis\.interval: must be shorter than fault\.duration/);
});

test('formatPath', () => {
  assert.equal(formatPath(['spec', 'steadyState', 1, 'query']), 'spec.steadyState[1].query');
  assert.equal(formatPath([]), '(root)');
});

test('oversized and non-object input is refused without throwing', () => {
  assert.equal(parseExperiment('x'.repeat(300 * 1024)).ok, false);
  assert.equal(parseExperiment('42').ok, false);
  assert.equal(parseExperiment('').ok, false);
  assert.equal(parseExperiment('- a\n- b\n').ok, false);
});
