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
import { createLogger } from '../../src/lib/logger.ts';
import { redactSpecSource } from '../../src/lib/redact-source.ts';
import { redact, redactText, redactUrlSecrets, redactUrlUserinfo, REDACTED, registerSecretValues } from '../../src/lib/redact.ts';
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

test('redactText: strings built from secrets (targets, reasons, stderr, error bodies)', () => {
  const cases: [string, string][] = [
    ['webhook:{"close":{"headers":{"Authorization":"Bearer tgt-secret-1"}}}', 'tgt-secret-1'],
    ['stderr: Authorization: Bearer abcdef-from-stderr', 'abcdef-from-stderr'],
    ['failed: token=qq-secret-77 at step 3', 'qq-secret-77'],
    ['{"apiKey":"json-key-88"}', 'json-key-88'],
    ['see https://ghp_tokenasuser@github.com/org/repo', 'ghp_tokenasuser'],
    ['DD-API-KEY: dd-echoed-99', 'dd-echoed-99'],
  ];
  for (const [text, secret] of cases) assert.ok(!redactText(text).includes(secret), `${text} → ${redactText(text)}`);
  // Where a secret lives is not the secret, and ordinary messages stay readable.
  assert.equal(redactText('the API key from DD_API_KEY was refused (HTTP 403)'), 'the API key from DD_API_KEY was refused (HTTP 403)');
  assert.equal(redactText('apiKeyFile: /run/secrets/dd'), 'apiKeyFile: /run/secrets/dd');
  // A registered value is removed wherever it appears.
  registerSecretValues(['registered-value-123456']);
  assert.equal(redactText('echo registered-value-123456 done'), `echo ${REDACTED} done`);
});

test('redact reaches any depth and keeps secret references as written', () => {
  const deep = { a: { b: { c: { d: { headers: { Authorization: 'Bearer deep-secret-5', Ref: { fromFile: '/run/secrets/t' } } } } } } };
  const out = redact(deep);
  assert.equal(out.a.b.c.d.headers.Authorization, REDACTED);
  assert.deepEqual(out.a.b.c.d.headers.Ref, { fromFile: '/run/secrets/t' });
});

test('the spec source text is redacted field by field, comments included, layout kept', () => {
  const yaml = `# token: comment-secret-1
spec:
  source: { kind: prometheus, url: "http://u:pw-secret-2@h:9090", headers: { Authorization: "Bearer hdr-secret-3", X: { fromEnv: SHOP_T } } }
  fault:
    params:
      open: { url: "http://h/open?token=q-secret-4" }
      password: plain-secret-5
`;
  const out = redactSpecSource(yaml, 'yaml');
  for (const s of ['comment-secret-1', 'pw-secret-2', 'hdr-secret-3', 'q-secret-4', 'plain-secret-5']) assert.ok(!out.includes(s), `${s} in\n${out}`);
  assert.match(out, /\{ fromEnv: SHOP_T \}/);
  assert.equal(out.split('\n').length, yaml.split('\n').length);
  assert.ok(!redactSpecSource(JSON.stringify({ headers: { A: 'json-secret-6' } }), 'json').includes('json-secret-6'));
});

test('a log line holds no secret however deep it sits (pino redact paths reached one level)', () => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } });
  logger.child({ runId: 'r1' }).info(
    { event: 'window.opened', handle: { close: { url: 'http://u:log-pw-1@h/x?token=log-q-2', headers: { Authorization: 'Bearer log-hdr-3' } } }, err: new Error('failed with token=log-err-4') },
    'fault window open; Authorization: Bearer log-msg-5',
  );
  assert.equal(lines.length, 1);
  for (const s of ['log-pw-1', 'log-q-2', 'log-hdr-3', 'log-err-4', 'log-msg-5']) assert.ok(!lines[0]!.includes(s), `${s} in ${lines[0]}`);
  const parsed = JSON.parse(lines[0]!);
  assert.equal(parsed.runId, 'r1');
  assert.equal(parsed.event, 'window.opened');
  assert.equal(parsed.err.type, 'Error');
});

test('ids and names of secrets are not secrets: a token id stays readable in logs and answers', () => {
  assert.deepEqual(redact({ tokenId: 'tok_123456', secretName: 'shop', token: 'x-secret-value' }), { tokenId: 'tok_123456', secretName: 'shop', token: REDACTED });
});

void test('words that only start like a secret key are left alone: a verdict "passed: checkout-sps" is not a password', async () => {
  const { redact: r } = await import('../../src/lib/redact.ts');
  assert.equal(r('all 2 metrics passed: checkout-sps, p95-latency'), 'all 2 metrics passed: checkout-sps, p95-latency');
  assert.deepEqual(r({ passed: 3, passes: 'x' }), { passed: 3, passes: 'x' });
  assert.equal(r('password: hunter2'), 'password: [redacted]');
});
