/**
 * Issue #14 item 2: the command injector runs nothing unless the operator of
 * the service turned it on, and a program it runs never sees the service's
 * secrets. Real children throughout: `node -e` writes the environment it got
 * to a file, `/bin/sh -c` tries to print the admin token.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { commandInjector, createCommandInjector } from '../../src/injectors/command.ts';
import { DEFAULT_POLICY, parseCommandAllow, PolicyError, type SecurityPolicy } from '../../src/security/policy.ts';
import { startHttpHarness } from '../http/harness.ts';

const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));
const ADMIN_TOKEN = 'admin-token-that-no-child-may-see-0123456789abcdef';
const WEBHOOK_SECRET = 'webhook-secret-no-child-may-see-42';
const DUMP_ENV = "require('node:fs').writeFileSync(process.argv[1], JSON.stringify(process.env))";

function ctx() {
  return { runId: 'run-1', experiment: 'cmd', deadline: new Date(Date.now() + 60_000) };
}

function allow(text: string): SecurityPolicy {
  const problems: string[] = [];
  const command = parseCommandAllow(text, problems);
  assert.deepEqual(problems, []);
  return { ...DEFAULT_POLICY, command };
}

describe('command injector: off unless the operator turns it on', () => {
  let dir: string;
  const saved: Record<string, string | undefined> = {};

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'steadystate-cmd-sec-'));
    // The service's own secrets, in the environment of the process that spawns the children.
    for (const [k, v] of Object.entries({ STEADYSTATE_ADMIN_TOKEN: ADMIN_TOKEN, STEADYSTATE_WEBHOOK_SECRET_GITHUB: WEBHOOK_SECRET, SHOP_PASS_THROUGH: 'kube-context-a' })) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });
  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('without a policy nothing runs: open and check are refused, naming STEADYSTATE_COMMAND_ALLOW', async () => {
    const marker = join(dir, 'ran-without-policy');
    const params = commandInjector.paramsSchema.parse({ open: [process.execPath, '-e', DUMP_ENV, marker], close: [process.execPath, '-e', ''] });
    const injector = createCommandInjector(params);
    const err = await injector.open(ctx()).catch((e: unknown) => e);
    assert.ok(err instanceof PolicyError, String(err));
    assert.equal(err.retryable, false);
    assert.match(err.message, /off on this service.*STEADYSTATE_COMMAND_ALLOW/);
    await assert.rejects(injector.check(), /STEADYSTATE_COMMAND_ALLOW/);
    assert.equal(existsSync(marker), false, 'the program ran');
  });

  it('the API refuses a command spec at create time, naming the field', async () => {
    const h = await startHttpHarness({});
    try {
      const spec = {
        apiVersion: 'steadystate.dev/v1alpha1',
        kind: 'Experiment',
        metadata: { name: 'shell' },
        spec: {
          source: { kind: 'prometheus', url: 'http://127.0.0.1:9', step: '1s' },
          steadyState: [{ name: 'sps', query: 'sum(x{group="$group"})' }],
          fault: { injector: 'command', params: { open: ['/bin/sh', '-c', 'echo $STEADYSTATE_ADMIN_TOKEN >&2; exit 1'], close: ['/bin/true'] }, duration: '1m' },
          analysis: { minSamples: 3 },
        },
      };
      const res = await h.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: { authorization: `Bearer ${h.tokens.admin}` }, payload: spec });
      assert.equal(res.statusCode, 400, res.body);
      const errors = res.json().errors as { path: string; message: string }[];
      assert.ok(errors.some((e) => e.path === 'spec.fault.params.open[0]' && /STEADYSTATE_COMMAND_ALLOW/.test(e.message)), res.body);
    } finally {
      await h.close();
    }
  });

  it('`steadystate run` refuses it without --allow-command (exit 64) and runs nothing', async () => {
    const marker = join(dir, 'ran-from-cli');
    const file = join(dir, 'cmd.json');
    await writeFile(
      file,
      JSON.stringify({
        apiVersion: 'steadystate.dev/v1alpha1',
        kind: 'Experiment',
        metadata: { name: 'cli-cmd' },
        spec: {
          source: { kind: 'prometheus', url: 'http://127.0.0.1:9', step: '1s', timeout: '200ms' },
          steadyState: [{ name: 'sps', query: 'sum(x{group="$group"})' }],
          fault: { injector: 'command', params: { open: [process.execPath, '-e', DUMP_ENV, marker], close: [process.execPath, '-e', ''] }, duration: '10s' },
          analysis: { minSamples: 3, interval: '1s' },
        },
      }),
    );
    const env = { ...process.env, STEADYSTATE_COMMAND_ALLOW: '' };
    const r = spawnSync(process.execPath, [BIN, 'run', file, '--report-dir', dir], { encoding: 'utf8', timeout: 60_000, env });
    assert.equal(r.status, 64, r.stderr);
    assert.match(r.stderr, /spec\.fault\.params\.open\[0\]: the command injector is off/);
    assert.match(r.stderr, /--allow-command/);
    assert.equal(existsSync(marker), false, 'the program ran');
  });

  it('an allowed program gets PATH, HOME, LANG and its listed variables: no service secret', async () => {
    const out = join(dir, 'child-env.json');
    const policy = allow(`${process.execPath}:SHOP_PASS_THROUGH`);
    const params = commandInjector.paramsSchema.parse({ open: [process.execPath, '-e', DUMP_ENV, out], close: [process.execPath, '-e', ''] });
    await createCommandInjector(params, { policy }).open(ctx());
    const seen = JSON.parse(await readFile(out, 'utf8')) as Record<string, string>;
    const text = JSON.stringify(seen);
    assert.ok(!text.includes(ADMIN_TOKEN) && !text.includes(WEBHOOK_SECRET), `the child saw a service secret: ${text}`);
    const allowed = new Set(['PATH', 'HOME', 'LANG', 'SHOP_PASS_THROUGH']);
    // Node itself may add a variable or two (e.g. on macOS); nothing from the service's environment.
    const fromService = Object.keys(seen).filter((k) => !allowed.has(k) && process.env[k] === seen[k]);
    assert.deepEqual(fromService, [], `inherited from the service: ${fromService.join(', ')}`);
    assert.equal(seen.SHOP_PASS_THROUGH, 'kube-context-a');
    assert.equal(seen.PATH, process.env.PATH);
  });

  it('`/bin/sh -c "echo $STEADYSTATE_ADMIN_TOKEN >&2; exit 1"` (the issue\'s example) shows no token, and stderr is redacted', async () => {
    const policy = allow('/bin/sh');
    const params = commandInjector.paramsSchema.parse({
      open: ['/bin/sh', '-c', 'echo "token: $STEADYSTATE_ADMIN_TOKEN" >&2; echo "Authorization: Bearer printed-by-the-program-123" >&2; exit 1'],
      close: ['/bin/sh', '-c', 'exit 0'],
    });
    const err = await createCommandInjector(params, { policy }).open(ctx()).catch((e: unknown) => e);
    assert.ok(err instanceof Error);
    assert.match(err.message, /exit code 1; stderr:/);
    assert.ok(!err.message.includes(ADMIN_TOKEN));
    assert.ok(!err.message.includes('printed-by-the-program-123'), err.message);
  });

  it('with the injector on, a program not on the list, and env the entry does not name, are refused', async () => {
    const policy = allow(`${process.execPath}:SHOP_PASS_THROUGH`);
    const marker = join(dir, 'not-listed');
    const other = commandInjector.paramsSchema.parse({ open: ['/bin/sh', '-c', `touch ${marker}`], close: [process.execPath, '-e', ''] });
    await assert.rejects(createCommandInjector(other, { policy }).open(ctx()), /\/bin\/sh.*not in STEADYSTATE_COMMAND_ALLOW/);
    assert.equal(existsSync(marker), false);
    const preload = commandInjector.paramsSchema.parse({ open: [process.execPath, '-e', ''], close: [process.execPath, '-e', ''], env: { NODE_OPTIONS: '--require /tmp/evil.js' } });
    await assert.rejects(createCommandInjector(preload, { policy }).open(ctx()), /env NODE_OPTIONS may not be set/);
  });
});
