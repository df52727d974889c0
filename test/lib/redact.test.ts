/**
 * Secrets never reach reports: a spec carrying an Authorization header, a
 * token and a password in a URL is written as a report, and none of the
 * secret strings appear in any file.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunRecord } from '../../src/engine/types.ts';
import { redact, redactUrlSecrets, redactUrlUserinfo, REDACTED } from '../../src/lib/redact.ts';
import { writeRunReports } from '../../src/reports/write-reports.ts';
import { validateExperiment } from '../../src/spec/load.ts';

const SECRETS = ['Bearer s3cr3t-prom-token', 'hunter2', 'tok-abc-123'];

test('redact: header maps, secret-looking keys and URL passwords; env references stay visible', () => {
  const out = redact({
    source: { url: 'http://alice:hunter2@prom:9090', headers: { Authorization: 'Bearer s3cr3t-prom-token', 'X-Ref': { fromEnv: 'TOKEN' } } },
    apiKey: 'tok-abc-123',
    nested: [{ password: 'hunter2', keep: 'visible' }],
  });
  assert.equal(out.source.url, `http://alice:${REDACTED}@prom:9090`);
  assert.equal(out.source.headers.Authorization, REDACTED);
  assert.deepEqual(out.source.headers['X-Ref'], { fromEnv: 'TOKEN' });
  assert.equal(out.apiKey, REDACTED);
  assert.equal(out.nested[0]?.password, REDACTED);
  assert.equal(out.nested[0]?.keep, 'visible');
  assert.equal(redactUrlUserinfo('no url here'), 'no url here');
  assert.equal(redactUrlSecrets('http://h/open?run=1&token=abc&api_key=k#x'), `http://h/open?run=1&token=${REDACTED}&api_key=${REDACTED}#x`);
});

test('reports written for a run whose spec holds credentials contain none of them', async () => {
  const r = validateExperiment({
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: 'secretive' },
    spec: {
      source: { kind: 'prometheus', url: 'http://alice:hunter2@127.0.0.1:9090', headers: { Authorization: 'Bearer s3cr3t-prom-token' } },
      steadyState: [{ name: 'sps', query: 'sum(rate(x{group="$group"}[5s]))' }],
      fault: { injector: 'webhook', params: { open: { url: 'http://127.0.0.1:1/open?token=tok-abc-123' }, close: { url: 'http://127.0.0.1:1/close' } }, duration: '1m' },
    },
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  const run: RunRecord = {
    id: 'run-secret',
    experiment: 'secretive',
    state: 'errored',
    verdict: null,
    reason: 'source http://alice:hunter2@127.0.0.1:9090 failed',
    startedAt: new Date(0).toISOString(),
    endedAt: new Date(1).toISOString(),
    metrics: [],
    series: [],
    guardrails: [],
    events: [{ at: new Date(0).toISOString(), type: 'window.opened', message: 'open', data: { handle: { injector: 'webhook', token: 'tok-abc-123' } } }],
  };
  const dir = await mkdtemp(join(tmpdir(), 'steadystate-redact-'));
  try {
    await writeRunReports(dir, run, r.experiment);
    const files = await readdir(dir);
    assert.ok(files.length >= 3, files.join(', '));
    for (const file of files) {
      const text = await readFile(join(dir, file), 'utf8');
      for (const secret of SECRETS) assert.ok(!text.includes(secret), `${file} contains ${secret}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
