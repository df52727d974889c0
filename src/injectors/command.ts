/**
 * Command injector: opens and closes a fault by running local programs
 * (`kubectl`, `tc`, a team's own script).
 *
 * - Programs are started with `spawn(argv[0], argv.slice(1), { shell: false })`
 *   and never through a shell: each argv element reaches the program as one
 *   literal argument, so `$(…)`, `;`, `|` or globs in a spec or in a template
 *   value cannot run anything. Placeholders are substituted per element.
 * - The executable (argv[0]) may not hold placeholders: what runs is fixed by
 *   the spec, only its arguments vary per run.
 * - Every run has a timeout: SIGTERM, then SIGKILL after a grace period, sent
 *   to the child's whole process group so helpers it started die with it.
 * - Off unless the service's operator lists the program (command-policy.ts):
 *   checked before every spawn, on the file the name resolves to. The child
 *   gets a minimal environment, never the service's (which holds its tokens).
 * - Exit code 0 is success; any other exit is a retryable InjectorError with
 *   the exit code and the tail of stderr, redacted (a program may print what
 *   it was given). Retryable because we cannot tell a
 *   flaky `kubectl` from a broken one, and every retry here is bounded.
 * - Status convention, borrowed from LSB init scripts' `status` action:
 *   exit 0 = the fault is active, exit 3 = it is not (closed), anything else
 *   (or a timeout) = unknown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { AbortedError, InjectorError } from '../lib/errors.ts';
import { redactText } from '../lib/redact.ts';
import { DEFAULT_POLICY, PolicyError, type SecurityPolicy } from '../security/policy.ts';
import { durationMs } from '../spec/fields.ts';
import { childEnv, childPath, commandProgramCheck } from './command-policy.ts';
import { hasPlaceholder, renderTemplate, templateString, templateVars, usesPlaceholder, type TemplateVars } from './template.ts';
import type { Injector, InjectorDeps, InjectorFactory, InjectorHandle, InjectorStatus, OpenContext } from './types.ts';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_KILL_GRACE_MS = 5_000;
/** How much of stderr an error message quotes. */
const STDERR_TAIL_BYTES = 500;
/** Exit code of a status command that reports the fault gone (LSB: "program is not running"). */
export const STATUS_EXIT_CLOSED = 3;
/**
 * After the child exits, how long we keep reading its output. A program that
 * left a background helper holding our pipes would otherwise keep us waiting.
 */
const DRAIN_AFTER_EXIT_MS = 500;

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

const argvSchema = z
  .array(templateString)
  .min(1, 'needs at least the program to run')
  .superRefine((argv, ctx) => {
    const program = argv[0];
    if (program === undefined) return;
    if (program === '') ctx.addIssue({ code: 'custom', path: [0], message: 'the program cannot be empty' });
    if (hasPlaceholder(program)) {
      ctx.addIssue({ code: 'custom', path: [0], message: 'the program cannot hold placeholders; put them in the arguments' });
    }
  });

export const commandParamsSchema = z.strictObject({
  open: argvSchema,
  close: argvSchema,
  status: argvSchema.optional(),
  /** Per run. Default: the deps' timeout, else 30 s. */
  timeout: durationMs.refine((ms) => ms > 0, 'must be greater than 0').optional(),
  /**
   * Set in the child's environment (not templated). Only names the program's
   * STEADYSTATE_COMMAND_ALLOW entry lists; the child inherits nothing else
   * but PATH, HOME and LANG.
   */
  env: z.record(z.string().regex(ENV_NAME_RE, 'must be an environment variable name'), z.string()).optional(),
});

export type CommandParams = z.output<typeof commandParamsSchema>;

const handleSchema = z.object({
  injector: z.literal('command'),
  close: z.array(z.string()).min(1),
  status: z.array(z.string()).min(1).optional(),
  timeoutMs: z.number().positive(),
  env: z.record(z.string(), z.string()).optional(),
});
type CommandHandle = z.output<typeof handleSchema>;

export interface CommandDeps extends InjectorDeps {
  /** Between SIGTERM and SIGKILL. Default 5 s. */
  killGraceMs?: number;
  /** The operator's policy; its `command` part decides what may run. Default: off. */
  policy?: SecurityPolicy;
  /** The service's environment, where pass-through variables come from. Default process.env. */
  serviceEnv?: NodeJS.ProcessEnv;
}

type Phase = 'open' | 'close' | 'status';

interface RunResult {
  /** null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string;
  stdoutTail: string;
}

/** Keeps the last `max` bytes of a stream. */
class Tail {
  private buf = Buffer.alloc(0);
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    if (this.buf.length > this.max) this.buf = this.buf.subarray(this.buf.length - this.max);
  }
  text(): string {
    // Cutting bytes may split a UTF-8 character; drop the replacement char that leaves at the start.
    return this.buf.toString('utf8').replace(/^\uFFFD+/, '').trim();
  }
}

interface RunOptions {
  phase: Phase;
  timeoutMs: number;
  killGraceMs: number;
  /** The child's whole environment. */
  env: Record<string, string>;
  signal: AbortSignal | undefined;
}

/**
 * Run argv to completion. Resolves with the exit status whatever it is;
 * rejects on a spawn failure, a timeout (retryable) or an abort.
 */
function run(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
  const program = argv[0] ?? '';
  const what = `command ${opts.phase} ${program}`;
  // A process group of its own, so a timeout can end the helpers a script started too.
  const ownGroup = process.platform !== 'win32';

  return new Promise<RunResult>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new AbortedError(`${what}: aborted`));
      return;
    }
    let child: ChildProcess;
    try {
      child = spawn(program, argv.slice(1), {
        shell: false,
        env: opts.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: ownGroup,
        windowsHide: true,
      });
    } catch (err) {
      // Synchronous failures are bad arguments (e.g. a NUL byte): asking again will not help.
      reject(new InjectorError(`${what}: cannot start: ${err instanceof Error ? err.message : String(err)}`, { retryable: false, code: 'command_spawn' }));
      return;
    }

    const stdout = new Tail(STDERR_TAIL_BYTES);
    const stderr = new Tail(STDERR_TAIL_BYTES);
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));

    let settled = false;
    let ending: 'timeout' | 'abort' | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;

    const kill = (sig: NodeJS.Signals): void => {
      try {
        if (ownGroup && child.pid !== undefined) process.kill(-child.pid, sig);
        else child.kill(sig);
      } catch {
        // Already gone (ESRCH): nothing left to end.
      }
    };
    const terminate = (why: 'timeout' | 'abort'): void => {
      if (ending || settled) return;
      ending = why;
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), opts.killGraceMs);
    };
    const timer = setTimeout(() => terminate('timeout'), opts.timeoutMs);
    const onAbort = (): void => terminate('abort');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      clearTimeout(drainTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      outcome();
    };

    child.on('error', (err: NodeJS.ErrnoException) => {
      // Emitted when the program could not be started (ENOENT, EACCES), and on rare kill failures.
      if (child.pid !== undefined) return;
      const permanent = err.code === 'ENOENT' || err.code === 'EACCES' || err.code === 'ENOTDIR';
      finish(() =>
        reject(
          new InjectorError(`${what}: cannot start (${err.code ?? err.message})`, {
            retryable: !permanent,
            code: 'command_spawn',
          }),
        ),
      );
    });
    child.on('exit', () => {
      drainTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, DRAIN_AFTER_EXIT_MS);
    });
    child.on('close', (code: number | null, sig: NodeJS.Signals | null) => {
      finish(() => {
        if (ending === 'timeout') {
          reject(
            new InjectorError(`${what}: did not finish within ${opts.timeoutMs} ms and was killed`, {
              retryable: true,
              code: 'injector_timeout',
            }),
          );
        } else if (ending === 'abort') {
          reject(new AbortedError(`${what}: aborted`));
        } else {
          resolve({ code, signal: sig, stderrTail: stderr.text(), stdoutTail: stdout.text() });
        }
      });
    });
  });
}

function exitError(phase: Phase, program: string, result: RunResult): InjectorError {
  const how = result.code !== null ? `exit code ${result.code}` : `killed by signal ${result.signal ?? 'unknown'}`;
  const tail = result.stderrTail ? `; stderr: ${redactText(result.stderrTail)}` : '; no stderr output';
  return new InjectorError(`command ${phase} ${program}: ${how}${tail}`, { retryable: true, code: 'command_failed' });
}

/**
 * Where `program` would be found: a path with a slash is taken relative to
 * `cwd`, a bare name is looked up on `pathEnv`. Returns undefined unless the
 * candidate is a regular file with the execute bit for us.
 */
export async function resolveExecutable(program: string, pathEnv: string | undefined, cwd: string = process.cwd()): Promise<string | undefined> {
  const candidates = program.includes('/')
    ? [path.resolve(cwd, program)]
    : // Empty PATH entries would mean the current directory; not honoured, as that is how the wrong program runs.
      (pathEnv ?? '').split(path.delimiter).filter((dir) => dir !== '').map((dir) => path.join(dir, program));
  for (const candidate of candidates) {
    try {
      if (!(await stat(candidate)).isFile()) continue;
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here, or not executable: try the next one.
    }
  }
  return undefined;
}

function parseHandle(handle: InjectorHandle): CommandHandle {
  const parsed = handleSchema.safeParse(handle);
  if (!parsed.success) {
    throw new InjectorError(`not a command handle: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, {
      retryable: false,
      code: 'invalid_handle',
    });
  }
  return parsed.data;
}

export function createCommandInjector(params: CommandParams, deps: CommandDeps = {}): Injector {
  const timeoutMs = params.timeout ?? deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const killGraceMs = deps.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const policy = (deps.policy ?? DEFAULT_POLICY).command;
  // spawn looks programs up on the PATH of the env it is given, so check() must use the same one.
  const pathFor = (env: Record<string, string> | undefined): string | undefined => childPath(env);

  /** Refuse a program the policy does not allow; otherwise the environment it runs with. */
  const allowed = (phase: Phase, argv: readonly string[], specEnv: Record<string, string> | undefined): Record<string, string> => {
    const verdict = commandProgramCheck(argv[0] ?? '', policy, specEnv);
    if (!verdict.ok) throw new PolicyError(`command ${phase}: ${verdict.problem}`);
    return childEnv(verdict.entry, specEnv, deps.serviceEnv ?? process.env);
  };

  const missingPrograms = async (programs: (string | undefined)[], env: Record<string, string> | undefined): Promise<string[]> => {
    const missing: string[] = [];
    for (const program of new Set(programs)) {
      if (program !== undefined && (await resolveExecutable(program, pathFor(env))) === undefined) missing.push(program);
    }
    return missing;
  };

  return {
    kind: 'command',

    async open(ctx: OpenContext): Promise<InjectorHandle> {
      const vars = templateVars(ctx);
      const openArgv = renderArgv(params.open, vars);
      const handle = commandHandle(params, vars, timeoutMs);

      // Opening a fault we may not (or cannot) close would leave it running until its deadline.
      allowed('close', handle.close, params.env);
      if (handle.status) allowed('status', handle.status, params.env);
      const openEnv = allowed('open', openArgv, params.env);
      const missing = await missingPrograms([handle.close[0]], params.env);
      if (missing.length > 0) {
        throw new InjectorError(`command open: the close program is not an executable file: ${missing.join(', ')}`, {
          retryable: false,
          code: 'command_spawn',
        });
      }
      const result = await run(openArgv, { phase: 'open', timeoutMs, killGraceMs, env: openEnv, signal: ctx.signal });
      if (result.code !== 0) throw exitError('open', openArgv[0] ?? '', result);
      return handle;
    },

    // One attempt: closeWithRetry (./close.ts) owns the retry policy.
    async close(raw: InjectorHandle, signal?: AbortSignal): Promise<void> {
      const handle = parseHandle(raw);
      const env = allowed('close', handle.close, handle.env);
      const result = await run(handle.close, { phase: 'close', timeoutMs: handle.timeoutMs, killGraceMs, env, signal });
      if (result.code !== 0) throw exitError('close', handle.close[0] ?? '', result);
    },

    async status(raw: InjectorHandle, signal?: AbortSignal): Promise<InjectorStatus> {
      const handle = parseHandle(raw);
      if (!handle.status) return { state: 'unknown', detail: 'no status command configured' };
      const env = allowed('status', handle.status, handle.env);
      let result: RunResult;
      try {
        result = await run(handle.status, { phase: 'status', timeoutMs: handle.timeoutMs, killGraceMs, env, signal });
      } catch (err) {
        if (err instanceof AbortedError) throw err;
        return { state: 'unknown', detail: err instanceof Error ? err.message : String(err) };
      }
      // The last line of stdout is the program's own word on the fault; worth showing as is.
      const lastLine = redactText(result.stdoutTail.split('\n').at(-1)?.slice(0, 200) ?? '') || undefined;
      if (result.code === 0) return lastLine ? { state: 'active', detail: lastLine } : { state: 'active' };
      if (result.code === STATUS_EXIT_CLOSED) return lastLine ? { state: 'closed', detail: lastLine } : { state: 'closed' };
      const how = result.code !== null ? `status exit code ${result.code}` : `status killed by signal ${result.signal ?? 'unknown'}`;
      return { state: 'unknown', detail: lastLine ? `${how}: ${lastLine}` : how };
    },

    /** Without running anything: every program resolves to an executable file. */
    async check(signal?: AbortSignal): Promise<void> {
      if (signal?.aborted) throw new AbortedError('command check: aborted');
      allowed('open', params.open, params.env);
      allowed('close', params.close, params.env);
      if (params.status) allowed('status', params.status, params.env);
      const missing = await missingPrograms([params.open[0], params.close[0], params.status?.[0]], params.env);
      if (missing.length > 0) {
        throw new InjectorError(`command: not found or not executable: ${missing.join(', ')}`, { retryable: false, code: 'command_spawn' });
      }
    },
  };
}

export const commandInjector: InjectorFactory<CommandParams> = {
  kind: 'command',
  paramsSchema: commandParamsSchema,
  create(params: CommandParams, deps: CommandDeps = {}): Injector {
    return createCommandInjector(params, deps);
  },
  // A crash between the open and recording its handle: the close (and status) argv are the params
  // rendered for this run, as open() rendered them. Without the opening's deadline a template that
  // uses it cannot be rendered, and nothing is guessed.
  handleFor(params, runId, opening) {
    if (!opening) return undefined;
    const deadline = opening.deadline ? new Date(opening.deadline) : undefined;
    const argvs = [params.close, ...(params.status ? [params.status] : [])];
    if (!deadline && argvs.some((argv) => argv.some((arg) => usesPlaceholder(arg, ['deadline', 'deadlineUnix', 'durationSeconds'])))) return undefined;
    const vars = templateVars({ runId, experiment: opening.experiment, deadline: deadline ?? new Date() });
    return commandHandle(params, vars, params.timeout ?? DEFAULT_TIMEOUT_MS);
  },
};

function renderArgv(argv: readonly string[], vars: TemplateVars): string[] {
  return argv.map((arg) => renderTemplate(arg, vars));
}

/** What a window needs to be closed (and asked about) later: the close and status argv rendered for it. */
function commandHandle(params: CommandParams, vars: TemplateVars, timeoutMs: number): CommandHandle {
  const handle: CommandHandle = { injector: 'command', close: renderArgv(params.close, vars), timeoutMs };
  if (params.status) handle.status = renderArgv(params.status, vars);
  if (params.env) handle.env = { ...params.env };
  return handle;
}
