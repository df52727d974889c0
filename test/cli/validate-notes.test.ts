/** `steadystate validate` says how each metric will be judged, and warns about queries it cannot judge soundly. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judgingNotes } from '../../src/cli/validate-command.ts';
import { parseExperiment } from '../../src/spec/load.ts';

const spec = (window: string): string => `
apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata: { name: notes }
spec:
  source: { kind: prometheus, url: http://127.0.0.1:9090, step: 1s }
  steadyState:
    - { name: sps, query: 'sum(rate(shop_checkouts_total{group="$group"}[${window}]))', direction: decrease }
    - { name: p95, query: 'histogram_quantile(0.95, sum by (le) (rate(h_bucket{group="$group"}[15s])))', direction: increase }
  fault: { injector: http-proxy, params: { admin: 'http://127.0.0.1:9101', latencyMs: 100 }, duration: 2m }
`;

test('validate: per metric, the query kind, window and independent windows; a warning for a window too long for the fault', () => {
  const ok = parseExperiment(spec('15s'));
  assert.ok(ok.ok);
  if (!ok.ok) return;
  assert.deepEqual(judgingNotes('exp.yaml', ok.experiment), [
    '  sps: counter rate, 15s window at 1s step: 8 independent windows in the fault (4 per minute)\n',
    '  p95: histogram quantile, 15s window at 1s step: 8 independent windows in the fault (4 per minute)\n',
  ]);
  const long = parseExperiment(spec('1m'));
  assert.ok(long.ok);
  if (!long.ok) return;
  const notes = judgingNotes('exp.yaml', long.experiment);
  assert.match(notes[1] ?? '', /^exp\.yaml: warning: spec\.steadyState\[0\]\.query: the 1m range window is long for a 2m fault: only 2 independent windows/);
});
