/**
 * `steadystate validate --explain`: per metric and group the rendered query,
 * step and window, the collection plan (one `by (group)` query, or one per
 * group and why) and how it is judged; per guardrail what it evaluates, with
 * the SLO burn-rate windows scaled to the fault.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { explainExperiment } from '../../src/cli/explain.ts';
import { queryWarnings } from '../../src/cli/validate-command.ts';
import { createMetricSource, metricSourceRegistry } from '../../src/metric-sources/registry.ts';
import { parseExperiment } from '../../src/spec/load.ts';
import type { Experiment } from '../../src/spec/schema.ts';

const spec = (source: string, extra = ''): Experiment => {
  const r = parseExperiment(`
apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata: { name: explain, service: shop }
spec:
  source: ${source}
  groups: { control: blue, experiment: green }
  steadyState:
    - { name: sps, query: 'sum(rate(shop_checkouts_total{service="$service",group="$group"}[15s]))', direction: decrease, tolerance: 5% }
    - { name: errors, query: '(sum(rate(e_total{group="$group"}[15s])) or vector(0)) / sum(rate(r_total{group="$group"}[15s]))', direction: increase, tolerance: 0.01 }
  fault: { injector: http-proxy, params: { admin: 'http://127.0.0.1:9101', latencyMs: 100 }, duration: 2m }
  guardrails:
    - { name: budget, slo: { good: 'sum(rate(ok_total{group="$group"}[$window]))', total: 'sum(rate(all_total{group="$group"}[$window]))', objective: 99.9% }, burnRate: 14.4 }
    - { name: budget-fixed, slo: { good: 'sum(rate(ok_total[$window]))', total: 'sum(rate(all_total[$window]))', objective: 99% }, burnRate: 6, windows: { long: 1m, short: 5s } }
    - { name: cap, query: 'max(x{group="$group"})', max: 3, for: 2 }
    - { name: drop, compare: sps }
${extra}`);
  if (!r.ok) assert.fail(JSON.stringify(r.issues));
  return r.experiment;
};

describe('validate --explain', () => {
  it('on Prometheus: rendered queries per group, one grouped query where sound, the reason where not, and the judging', () => {
    const lines = explainExperiment(spec('{ kind: prometheus, url: "http://127.0.0.1:9090", step: 1s }'));
    const at = (prefix: string): number => lines.findIndex((l) => l.startsWith(prefix));
    const sps = at('  metric sps:');
    assert.deepEqual(lines.slice(sps, sps + 7), [
      '  metric sps: a decrease is bad, tolerance 5% of control\'s mean, at least 30 samples per group',
      '    control:    sum(rate(shop_checkouts_total{service="shop",group="blue"}[15s]))',
      '    experiment: sum(rate(shop_checkouts_total{service="shop",group="green"}[15s]))',
      '    step 1s, range window 15s',
      '    collection: one query for both groups, split by label group (ADR 017):',
      '      sum by (group) (rate(shop_checkouts_total{service="shop",group=~"blue|green"}[15s]))',
      '    judged: counter rate, 15s window at 1s step: 8 independent windows in the fault (4 per minute)',
    ]);
    const errors = at('  metric errors:');
    assert.equal(lines[errors], '  metric errors: an increase is bad, tolerance 0.01 in the metric\'s unit, at least 30 samples per group');
    assert.equal(lines[errors + 4], '    collection: one query per group, because vector() makes or rewrites labels');
    assert.match(lines[errors + 5]!, /^ {4}judged: ratio of windowed rates, 15s window at 1s step/);
    assert.match(lines[0]!, /^ {2}plan: prometheus source at 1s step; fault window 2m \(120 samples per group\); guardrails every 5s; judged by the paired judge/);
  });

  it('SLO guardrails: burn-rate windows scaled to the fault (or as set), the error-ratio queries, the threshold on the ratio', () => {
    const lines = explainExperiment(spec('{ kind: prometheus, url: "http://127.0.0.1:9090", step: 1s }'));
    const budget = lines.findIndex((l) => l.startsWith('  guardrail budget '));
    assert.deepEqual(lines.slice(budget, budget + 4), [
      '  guardrail budget (SLO 99.9%, burn rate 14.4×): halts when the error ratio is at least 1.44% over both windows for 1 evaluation in a row',
      '    windows: long 30s, short 3s, scaled to the 2m fault at 1s step (long: a quarter of the fault, 10 steps and 10s to 1h; short: a twelfth of long, at least 3 steps)',
      '    long:  1 - ((sum(rate(ok_total{group="green"}[30s]))) / (sum(rate(all_total{group="green"}[30s]))))',
      '    short: 1 - ((sum(rate(ok_total{group="green"}[3s]))) / (sum(rate(all_total{group="green"}[3s]))))',
    ]);
    const fixed = lines.findIndex((l) => l.startsWith('  guardrail budget-fixed '));
    assert.match(lines[fixed]!, /at least 6% over both windows/);
    assert.equal(lines[fixed + 1], '    windows: long 1m, short 5s, as the spec sets them, in whole steps');
    const cap = lines.findIndex((l) => l.startsWith('  guardrail cap '));
    assert.deepEqual(lines.slice(cap, cap + 2), ['  guardrail cap (threshold): halts when above 3 for 2 evaluations in a row', '    query: max(x{group="green"})']);
    const drop = lines.findIndex((l) => l.startsWith('  guardrail drop '));
    assert.match(lines[drop]!, /compare sps\): anytime-valid sequential test at alpha 0\.05, .*noise learned over the 10m before the window/);
    // A counter rate: the shorter windows it tries at preflight (ADR 026), and the query it would read.
    assert.match(lines[drop + 1]!, /^ {4}reads sps over 2s or 4s windows if the source answers them .*else the query's own 15s\): a sudden drop then shows within a few steps, not 15 \(ADR 026\)$/);
    assert.equal(lines[drop + 2], '      experiment: sum(rate(shop_checkouts_total{service="shop",group="green"}[2s]))');
  });

  it('keeps the warnings about queries that cannot be judged soundly (printed after the explanation)', () => {
    const long = spec('{ kind: prometheus, url: "http://127.0.0.1:9090", step: 1s }');
    assert.deepEqual(queryWarnings('exp.yaml', long), []);
    const metric = long.spec.steadyState[0]!;
    const weak: Experiment = { ...long, spec: { ...long.spec, steadyState: [{ ...metric, query: metric.query.replace('[15s]', '[1m]') }] } };
    const [warning, ...rest] = queryWarnings('exp.yaml', weak);
    assert.equal(rest.length, 0);
    assert.match(warning ?? '', /^exp\.yaml: warning: spec\.steadyState\[0\]\.query: the 1m range window is long for a 2m fault: only 2 independent windows/);
    assert.ok(explainExperiment(weak).includes('    judged: counter rate, 1m window at 1s step: 2 independent windows in the fault (1 per minute)'));
  });

  it('on a source asked once per group (Datadog): per-group queries, and says why', () => {
    const lines = explainExperiment(spec('{ kind: datadog, step: 10s }', '  analysis: { minSamples: 5 }'));
    assert.ok(lines.includes('    collection: one query per group, because the datadog source is asked once per group'), lines.join('\n'));
  });

  it('says grouped only where the source really groups by label (the registry agrees with the sources)', async () => {
    assert.equal(metricSourceRegistry.get('prometheus')?.groupsByLabel, true);
    const config: { kind: string } = { kind: 'prometheus', ...{ url: 'http://127.0.0.1:9' } };
    const prom = createMetricSource(config);
    assert.equal(prom.groupsByLabel, true);
    for (const [kind, factory] of metricSourceRegistry) {
      if (kind === 'prometheus') continue;
      assert.notEqual(factory.groupsByLabel, true, kind);
    }
  });

  it('the command prints it after "valid", exit 0', async () => {
    const bin = new URL('../../bin/steadystate.js', import.meta.url).pathname;
    const file = new URL('../../examples/slo-rehearsal.yaml', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'validate', '--explain', file]);
    const lines = stdout.split('\n');
    assert.equal(lines[0], `${file}: valid (checkout-slo-rehearsal)`);
    assert.ok(lines.includes('    windows: long 150s, short 15s, scaled to the 10m fault at 5s step (long: a quarter of the fault, 10 steps and 10s to 1h; short: a twelfth of long, at least 3 steps)'), stdout);
    assert.ok(lines.includes('      sum by (group) (rate(shop_checkouts_total{group=~"control|experiment"}[1m]))'), stdout);
  });
});
