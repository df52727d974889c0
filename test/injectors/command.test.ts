/**
 * The command injector against real processes: small TypeScript fixtures in
 * test/fixtures/injectors/ run through tsx, plus `sleep` and `node -e`.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { commandInjector, createCommandInjector as createWithDeps, resolveExecutable, type CommandDeps, type CommandParams } from '../../src/injectors/command.ts';
import { DEFAULT_POLICY } from '../../src/security/policy.ts';

/** These tests are the operator running their own programs (`steadystate run --allow-command`). */
const ANY_PROGRAM = { ...DEFAULT_POLICY, command: { mode: 'any' as const } };
const createCommandInjector = (params: CommandParams, deps: CommandDeps = {}) => createWithDeps(params, { policy: ANY_PROGRAM, ...deps });
import { closeWithRetry } from '../../src/injectors/close.ts';
import type { InjectorHandle } from '../../src/injectors/types.ts';
import { AbortedError, InjectorError } from '../../src/lib/errors.ts';

const NODE = process.execPath;
const FIXTURES = fileURLToPath(new URL('../fixtures/injectors/', import.meta.url));
/** Absolute, so fixtures load tsx whatever the child's cwd. */
const TSX = import.meta.resolve('tsx');
const fixture = (name: string, ...args: string[]): string[] => [NODE, '--import', TSX, path.join(FIXTURES, name), ...args];

const work = mkdtempSync(path.join(tmpdir(), 'steadystate-command-'));
after(() => rmSync(work, { recursive: true, force: true }));
let fileSeq = 0;
const tmpFile = (name: string): string => path.join(work, `${++fileSeq}-${name}`);

// The retry policy lives in closeWithRetry (src/injectors/close.ts); tests shrink its backoff.
const fastRetry = { baseMs: 1, maxMs: 5 };
const ok = [NODE, '-e', ''];

function parse(params: unknown): ReturnType<typeof commandInjector.paramsSchema.parse> {
  return commandInjector.paramsSchema.parse(params);
}

function ctx(over: Partial<{ runId: string; experiment: string; deadline: Date; signal: AbortSignal }> = {}): {
  runId: string;
  experiment: string;
  deadline: Date;
  signal?: AbortSignal;
} {
  return { runId: 'run-7', experiment: 'cache-flush', deadline: new Date(Date.now() + 90_000), ...over };
}

/** Alive and not a zombie (a container's PID 1 may never reap orphans). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

void describe('command injector', () => {
  void it('passes argv verbatim, one literal argument per element, with no shell', async () => {
    const out = tmpFile('argv.json');
    const pwned = tmpFile('pwned');
    const hostile = [`$(touch ${pwned})`, `; touch ${pwned}`, `\`touch ${pwned}\``, `| touch ${pwned}`, '*', '~', '$HOME', '"quoted"', "it's", '', 'a  b'];
    const injector = createCommandInjector(
      parse({ open: [...fixture('record-args.ts'), ...hostile, 'run={{runId}}'], close: ok, env: { RECORD_TO: out } }),
    );
    // The experiment name is hostile too: substituted values are not interpreted either.
    await injector.open(ctx({ experiment: `x; touch ${pwned}` }));
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), [...hostile, 'run=run-7']);
    assert.equal(existsSync(pwned), false, 'nothing may have been executed');

    const out2 = tmpFile('argv2.json');
    const injector2 = createCommandInjector(parse({ open: [...fixture('record-args.ts'), '{{experiment}}'], close: ok, env: { RECORD_TO: out2 } }));
    await injector2.open(ctx({ experiment: `x; touch ${pwned}` }));
    assert.deepEqual(JSON.parse(readFileSync(out2, 'utf8')), [`x; touch ${pwned}`]);
    assert.equal(existsSync(pwned), false);
  });

  void it('substitutes every placeholder per element and stores the rendered close and status argv in the handle', async () => {
    const out = tmpFile('argv.json');
    const deadline = new Date(Date.now() + 90_000);
    // close and status use a stand-in found through the env's PATH: never a real tool that could act on something.
    const bin = mkdtempSync(path.join(work, 'bin-'));
    writeFileSync(path.join(bin, 'steadystate-fault-tool'), '#!/bin/sh\nexit 0\n');
    chmodSync(path.join(bin, 'steadystate-fault-tool'), 0o755);
    const PATH = `${bin}${path.delimiter}${process.env.PATH ?? ''}`;
    const injector = createCommandInjector(
      parse({
        open: [...fixture('record-args.ts'), '--run={{runId}}', '{{experiment}}', '{{deadline}}', '{{deadlineUnix}}', 'for {{durationSeconds}}s'],
        close: ['steadystate-fault-tool', 'delete', 'fault', '{{runId}}'],
        status: ['steadystate-fault-tool', 'get', 'fault', '{{runId}}'],
        timeout: '20s',
        env: { RECORD_TO: out, PATH },
      }),
    );
    const handle = await injector.open(ctx({ deadline }));
    const args = JSON.parse(readFileSync(out, 'utf8')) as string[];
    assert.deepEqual(args.slice(0, 4), ['--run=run-7', 'cache-flush', deadline.toISOString(), String(Math.floor(deadline.getTime() / 1000))]);
    assert.match(args[4]!, /^for (89|90)s$/);

    assert.deepEqual(JSON.parse(JSON.stringify(handle)), handle);
    assert.deepEqual(handle, {
      injector: 'command',
      close: ['steadystate-fault-tool', 'delete', 'fault', 'run-7'],
      status: ['steadystate-fault-tool', 'get', 'fault', 'run-7'],
      timeoutMs: 20_000,
      env: { RECORD_TO: out, PATH },
    });
    assert.deepEqual(await injector.status(handle), { state: 'active' });
    await injector.close(handle);
  });

  void it('kills a command that outlives its timeout (sleep 30) and fails with a retryable error', async () => {
    const injector = createCommandInjector(parse({ open: ['sleep', '30'], close: ok, timeout: '200ms' }));
    const started = Date.now();
    const err = await injector.open(ctx()).catch((e: unknown) => e);
    assert.ok(err instanceof InjectorError, String(err));
    assert.equal(err.retryable, true);
    assert.equal(err.code, 'injector_timeout');
    assert.match(err.message, /command open sleep: did not finish within 200 ms/);
    assert.ok(Date.now() - started < 5_000, 'sleep must have been killed, not waited for');
  });

  void it('sends SIGKILL after the grace period to a command that ignores SIGTERM', async () => {
    const ready = tmpFile('ready');
    const injector = createCommandInjector(parse({ open: fixture('ignore-sigterm.ts', ready), close: ok, timeout: '1500ms' }), { killGraceMs: 300 });
    const started = Date.now();
    const err = await injector.open(ctx()).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    assert.ok(existsSync(ready), 'the fixture should have installed its SIGTERM handler before the timeout');
    assert.ok(err instanceof InjectorError && err.code === 'injector_timeout', String(err));
    // SIGTERM at 1.5 s was ignored; only the SIGKILL 0.3 s later ended it.
    assert.ok(elapsed >= 1_700 && elapsed < 10_000, `took ${elapsed} ms`);
  });

  void it('a timeout also ends the processes the command started', { skip: process.platform !== 'linux' && 'needs /proc' }, async () => {
    const pidFile = tmpFile('grandchild.pid');
    const injector = createCommandInjector(parse({ open: fixture('spawn-grandchild.ts', pidFile), close: ok, timeout: '2s' }), { killGraceMs: 300 });
    await assert.rejects(injector.open(ctx()), /did not finish within/);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(pid > 0);
    // The group got SIGTERM before open() settled; give the kernel a moment to finish the kill.
    const until = Date.now() + 2_000;
    while (isAlive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(isAlive(pid), false, `grandchild ${pid} should be gone`);
  });

  void it('a non-zero exit fails with the exit code and the last ~500 bytes of stderr', async () => {
    const script = "process.stderr.write('HEAD' + 'x'.repeat(3000) + 'THE-END\\n'); process.exit(7)";
    const injector = createCommandInjector(parse({ open: [NODE, '-e', script], close: ok }));
    const err = await injector.open(ctx()).catch((e: unknown) => e);
    assert.ok(err instanceof InjectorError);
    assert.equal(err.retryable, true);
    assert.equal(err.code, 'command_failed');
    assert.match(err.message, /exit code 7; stderr: x+THE-END$/);
    assert.ok(!err.message.includes('HEAD'), 'only the tail is quoted');
    const tail = err.message.slice(err.message.indexOf('stderr: ') + 'stderr: '.length);
    assert.ok(tail.length > 400 && tail.length <= 500, `tail is ${tail.length} bytes`);
    // Arguments may carry tokens: only the program is named.
    assert.ok(!err.message.includes('repeat'));
  });

  void it('a program that does not exist is a fatal error', async () => {
    const injector = createCommandInjector(parse({ open: ['steadystate-no-such-program'], close: ok }));
    const err = await injector.open(ctx()).catch((e: unknown) => e);
    assert.ok(err instanceof InjectorError);
    assert.equal(err.retryable, false);
    assert.match(err.message, /cannot start \(ENOENT\)/);
  });

  void it('open refuses to start when the close program cannot run', async () => {
    const out = tmpFile('argv.json');
    const injector = createCommandInjector(parse({ open: [...fixture('record-args.ts')], close: ['steadystate-no-such-program'], env: { RECORD_TO: out } }));
    await assert.rejects(injector.open(ctx()), (e: unknown) => e instanceof InjectorError && !e.retryable && /steadystate-no-such-program/.test(e.message));
    assert.equal(existsSync(out), false, 'open must not have run');
  });

  void it('close retries a failing command, then succeeds', async () => {
    const counter = tmpFile('counter');
    const retried: string[] = [];
    const injector = createCommandInjector(parse({ open: ok, close: fixture('flaky.ts', counter, '2') }));
    await closeWithRetry(injector, await injector.open(ctx()), {
      ...fastRetry,
      onRetry: (err) => retried.push((err as Error).message),
    });
    assert.equal(readFileSync(counter, 'utf8'), '3');
    assert.equal(retried.length, 2);
    assert.match(retried[0]!, /exit code 1; stderr: transient failure #1$/);
  });

  void it('close gives up after 6 attempts', async () => {
    const counter = tmpFile('counter');
    const injector = createCommandInjector(parse({ open: ok, close: fixture('flaky.ts', counter, '100') }));
    const err = await closeWithRetry(injector, await injector.open(ctx())).catch((e: unknown) => e);
    assert.ok(err instanceof InjectorError);
    assert.equal(err.retryable, true);
    assert.match(err.message, /transient failure #6$/);
    assert.equal(readFileSync(counter, 'utf8'), '6');
  });

  void it('handleFor: a crash before the handle was recorded still leaves the exact close argv open() would have stored', async () => {
    const params = parse({
      open: ['steadystate-fault-tool', 'create', '{{runId}}', '--until', '{{deadline}}'],
      close: ['steadystate-fault-tool', 'delete', '{{experiment}}/{{runId}}'],
      status: ['steadystate-fault-tool', 'get', '{{runId}}'],
      timeout: '20s',
    });
    const deadline = '2026-12-02T10:00:30.000Z';
    assert.deepEqual(commandInjector.handleFor?.(params, 'run-9', { experiment: 'cache-flush', deadline }), {
      injector: 'command',
      close: ['steadystate-fault-tool', 'delete', 'cache-flush/run-9'],
      status: ['steadystate-fault-tool', 'get', 'run-9'],
      timeoutMs: 20_000,
    });
    // Without the opening's record nothing is guessed; without its deadline, a close that needs it is not rendered.
    assert.equal(commandInjector.handleFor?.(params, 'run-9'), undefined);
    const needsDeadline = parse({ open: ok, close: ['steadystate-fault-tool', 'delete', '--before', '{{deadlineUnix}}'] });
    assert.equal(commandInjector.handleFor?.(needsDeadline, 'run-9', { experiment: 'x' }), undefined);
    assert.deepEqual(commandInjector.handleFor?.(needsDeadline, 'run-9', { experiment: 'x', deadline })?.close, ['steadystate-fault-tool', 'delete', '--before', String(Date.parse(deadline) / 1000)]);
  });

  void it('close works from the persisted handle alone, in another injector', async () => {
    const counter = tmpFile('counter');
    const opener = createCommandInjector(parse({ open: ok, close: fixture('flaky.ts', counter, '0') }));
    const persisted = JSON.parse(JSON.stringify(await opener.open(ctx()))) as InjectorHandle;
    const closer = createCommandInjector(parse({ open: ['unused'], close: ['unused'] }));
    await closer.close(persisted);
    assert.equal(readFileSync(counter, 'utf8'), '1');
    await assert.rejects(closer.close({ injector: 'webhook', close: {} }), /not a command handle/);
  });

  void it('status: exit 0 is active, exit 3 is closed, anything else unknown', async () => {
    const statusOf = async (status: string[] | undefined): Promise<unknown> => {
      const injector = createCommandInjector(parse({ open: ok, close: ok, ...(status ? { status } : {}), timeout: '500ms' }));
      return injector.status(await injector.open(ctx()));
    };
    assert.deepEqual(await statusOf([NODE, '-e', '']), { state: 'active' });
    assert.deepEqual(await statusOf([NODE, '-e', "console.log('3 pods degraded')"]), { state: 'active', detail: '3 pods degraded' });
    assert.deepEqual(await statusOf([NODE, '-e', 'process.exit(3)']), { state: 'closed' });
    assert.deepEqual(await statusOf([NODE, '-e', 'process.exit(1)']), { state: 'unknown', detail: 'status exit code 1' });
    assert.deepEqual(await statusOf([NODE, '-e', 'process.exit(4)']), { state: 'unknown', detail: 'status exit code 4' });
    const timedOut = (await statusOf(['sleep', '30'])) as { state: string; detail: string };
    assert.equal(timedOut.state, 'unknown');
    assert.match(timedOut.detail, /did not finish within 500 ms/);
    assert.deepEqual(await statusOf(undefined), { state: 'unknown', detail: 'no status command configured' });
  });

  void it('an abort ends a running command at once', async () => {
    const controller = new AbortController();
    const injector = createCommandInjector(parse({ open: ['sleep', '30'], close: ok }));
    const started = Date.now();
    const pending = injector.open(ctx({ signal: controller.signal }));
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(pending, AbortedError);
    assert.ok(Date.now() - started < 5_000);
  });

  void it('check() finds the programs without running them', async () => {
    const marker = tmpFile('ran');
    const good = createCommandInjector(parse({ open: ['touch', marker], close: [NODE, '-e', ''], status: ['sleep', '1'] }));
    await good.check();
    assert.equal(existsSync(marker), false, 'check must not run anything');

    const notExecutable = path.join(FIXTURES, 'flaky.ts');
    const bad = createCommandInjector(parse({ open: ['steadystate-no-such-program'], close: [notExecutable], status: ['./nope/x'] }));
    const err = await bad.check().catch((e: unknown) => e);
    assert.ok(err instanceof InjectorError);
    assert.equal(err.retryable, false);
    assert.match(err.message, /steadystate-no-such-program/);
    assert.ok(err.message.includes(notExecutable), 'a file without the execute bit is not a program');
    assert.match(err.message, /\.\/nope\/x/);
  });
});

void describe('resolveExecutable', () => {
  void it('looks bare names up on the given PATH and takes paths with a slash as they are', async () => {
    const bin = mkdtempSync(path.join(work, 'path-'));
    const exe = path.join(bin, 'tool');
    writeFileSync(exe, '#!/bin/sh\n');
    chmodSync(exe, 0o755);
    writeFileSync(path.join(bin, 'plain'), 'not executable');
    assert.equal(await resolveExecutable('tool', `/nonexistent${path.delimiter}${bin}`), exe);
    assert.equal(await resolveExecutable('tool', '/nonexistent'), undefined);
    assert.equal(await resolveExecutable('plain', bin), undefined);
    assert.equal(await resolveExecutable(exe, ''), exe);
    assert.equal(await resolveExecutable('./tool', '', bin), exe);
    assert.equal(await resolveExecutable(bin, ''), undefined, 'a directory is not a program');
  });
});

void describe('command params schema', () => {
  void it('rejects an empty argv, placeholders in the program, unknown placeholders and unknown keys', () => {
    const cases: [unknown, string][] = [
      [{ open: [], close: ['x'] }, 'open'],
      [{ open: [''], close: ['x'] }, 'open.0'],
      [{ open: ['{{runId}}.sh'], close: ['x'] }, 'open.0'],
      [{ open: ['x', '{{runid}}'], close: ['x'] }, 'open.1'],
      [{ open: ['x'], close: ['x'], shell: true }, ''],
      [{ open: ['x'], close: ['x'], env: { 'BAD-NAME': 'v' } }, 'env.BAD-NAME'],
      [{ open: ['x'], close: ['x'], timeout: 'soon' }, 'timeout'],
      [{ open: 'x --flag', close: ['x'] }, 'open'],
    ];
    for (const [params, where] of cases) {
      const r = commandInjector.paramsSchema.safeParse(params);
      assert.equal(r.success, false, JSON.stringify(params));
      assert.ok(
        r.error.issues.some((i) => i.path.join('.') === where),
        `${JSON.stringify(params)}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    assert.equal(parse({ open: ['x'], close: ['y'], timeout: '45s' }).timeout, 45_000);
  });
});
