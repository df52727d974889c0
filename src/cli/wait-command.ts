/**
 * `steadystate wait RUN_ID... --server URL [--token T] [--timeout 30m] [--json]`
 *
 * Blocks until every run has ended, by polling `GET /api/v1/runs/{id}` (a
 * viewer token is enough), and exits with the run exit codes (the `run`
 * contract): 0 passed, 1 failed, 2 halted, 3 inconclusive, 4 errored or
 * aborted (and halt_failed: the fault may still be active); 64 for bad
 * input — no run ids, a bad flag, an unknown run, a refused token.
 *
 * Several runs: the worst wins, in this order (worst first):
 *   4 errored/aborted/halt_failed — the outcome is unknown, or a fault may be left behind;
 *   2 halted — a guardrail saw harm and stopped the fault;
 *   1 failed — the judge measured harm beyond tolerance;
 *   3 inconclusive — no evidence either way;
 *   0 passed.
 * Not yet ended when `--timeout` expires: exit 4, with the runs still active
 * listed (stderr, and `timedOut` in `--json`).
 *
 * Polling backs off from 1 s to at most 10 s (×1.5 each round, with jitter),
 * and rides out 5xx and 429 (the server is there, just busy) until the
 * timeout. A server that cannot be reached is different: an unknown host
 * fails at once, and refused, reset or timed-out connections fail once
 * nothing has answered for 10 s (exit 4, naming the server) — a mistyped
 * `--server` must not look like a slow run for 30 minutes. The server may
 * come from STEADYSTATE_SERVER or the last `steadystate login`; the token from
 * STEADYSTATE_TOKEN or the login's credentials file instead of the flag, which
 * keeps it out of the process list and CI logs.
 */
import type { Command } from 'commander';
import { EXIT_BAD_INPUT, EXIT_CODES, TERMINAL_STATES, type TerminalState } from '../engine/types.ts';
import { parseDuration } from '../lib/duration.ts';
import { describeNetworkError } from './client.ts';
import { credentialsPath, readCredentials } from './credentials.ts';
import { worstExitCode } from './exit-codes.ts';
import { sleep as realSleep, type SleepFn } from '../lib/retry.ts';

export { EXIT_SEVERITY, worstExitCode } from './exit-codes.ts';

const TERMINAL = new Set<string>(TERMINAL_STATES);

export interface RunOutcome {
  id: string;
  experiment: string | null;
  state: string | null;
  verdict: string | null;
  reason: string | null;
  /** null while the run has not ended. */
  exitCode: number | null;
}

export interface WaitResult {
  exitCode: number;
  timedOut: boolean;
  runs: RunOutcome[];
  /** Set when the answer is 64 (what was wrong) or the server could not be reached. */
  error?: string;
  /** The server could not be reached (exit 4). */
  unreachable?: boolean;
}

export interface WaitOptions {
  server: string;
  token: string;
  timeoutMs: number;
  minIntervalMs?: number;
  maxIntervalMs?: number;
  fetch?: typeof fetch;
  sleep?: SleepFn;
  now?: () => number;
  random?: () => number;
  /** A run changed state (progress lines). */
  onChange?: (run: RunOutcome) => void;
  /** Per request. Default 10 s. */
  requestTimeoutMs?: number;
  /** Give up (exit 4) when no request got an answer for this long. Default 10 s. */
  unreachableMs?: number;
}

class BadInput extends Error {}
class Transient extends Error {}
/** The request got no answer; `fatal` when retrying cannot help (an unknown host). */
class NoAnswer extends Error {
  constructor(
    message: string,
    readonly fatal: boolean,
  ) {
    super(message);
  }
}

async function poll(id: string, opts: WaitOptions): Promise<RunOutcome> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const url = `${opts.server.replace(/\/+$/, '')}/api/v1/runs/${encodeURIComponent(id)}`;
  let res: Response;
  try {
    res = await doFetch(url, {
      headers: { authorization: `Bearer ${opts.token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(opts.requestTimeoutMs ?? 10_000),
    });
  } catch (err) {
    const net = describeNetworkError(err, opts.server);
    throw new NoAnswer(`cannot reach the server: ${net.message}`, !net.transient);
  }
  if (res.status === 401 || res.status === 403) throw new BadInput(`the server refused the token (${res.status}); it needs at least the viewer role`);
  if (res.status === 404) throw new BadInput(`run "${id}" not found`);
  if (res.status === 429 || res.status >= 500) throw new Transient(`GET /api/v1/runs/${id} answered ${res.status}`);
  if (!res.ok) throw new BadInput(`GET /api/v1/runs/${id} answered ${res.status}`);
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new Transient(`GET /api/v1/runs/${id} answered without JSON`);
  }
  const run = (body as { run?: Record<string, unknown> } | null)?.run;
  if (!run || typeof run.state !== 'string') throw new Transient(`GET /api/v1/runs/${id}: no run state in the answer`);
  const state = run.state;
  return {
    id,
    experiment: typeof run.experiment === 'string' ? run.experiment : null,
    state,
    verdict: typeof run.verdict === 'string' ? run.verdict : null,
    reason: typeof run.reason === 'string' ? run.reason : null,
    exitCode: TERMINAL.has(state) ? (EXIT_CODES[state as TerminalState] ?? EXIT_CODES.errored) : null,
  };
}

/** Poll until every run ended or the timeout passed. Never throws for the server's answers. */
export async function waitForRuns(ids: readonly string[], opts: WaitOptions): Promise<WaitResult> {
  const now = opts.now ?? Date.now;
  const doSleep = opts.sleep ?? realSleep;
  const random = opts.random ?? Math.random;
  const minInterval = opts.minIntervalMs ?? 1_000;
  const maxInterval = Math.max(minInterval, opts.maxIntervalMs ?? 10_000);
  const deadline = now() + opts.timeoutMs;
  const runs = new Map<string, RunOutcome>(ids.map((id) => [id, { id, experiment: null, state: null, verdict: null, reason: null, exitCode: null }]));
  const unreachableMs = opts.unreachableMs ?? 10_000;
  let interval = minInterval;
  let lastTransient: string | undefined;
  /** When the current stretch of unanswered rounds began. */
  let silentSince: number | undefined;

  for (;;) {
    const pending = [...runs.values()].filter((r) => r.exitCode === null);
    const roundStart = now();
    const answers = await Promise.allSettled(pending.map((r) => poll(r.id, opts)));
    const unanswered = answers.filter((a) => a.status === 'rejected' && a.reason instanceof NoAnswer).map((a) => (a as PromiseRejectedResult).reason as NoAnswer);
    if (unanswered.length === answers.length && unanswered.length > 0) {
      silentSince ??= roundStart;
      const first = unanswered[0] as NoAnswer;
      if (first.fatal || now() - silentSince >= unreachableMs) {
        const how = first.fatal ? '' : ` (no answer for ${Math.round((now() - silentSince) / 1000)} s)`;
        return { exitCode: EXIT_CODES.errored, timedOut: false, runs: [...runs.values()], error: `${first.message}${how}; check --server or STEADYSTATE_SERVER`, unreachable: true };
      }
    } else {
      silentSince = undefined;
    }
    for (const answer of answers) {
      if (answer.status === 'fulfilled') {
        const before = runs.get(answer.value.id);
        runs.set(answer.value.id, answer.value);
        if (before?.state !== answer.value.state) opts.onChange?.(answer.value);
      } else if (answer.reason instanceof BadInput) {
        return { exitCode: EXIT_BAD_INPUT, timedOut: false, runs: [...runs.values()], error: answer.reason.message };
      } else {
        lastTransient = answer.reason instanceof Error ? answer.reason.message : String(answer.reason);
      }
    }
    const all = [...runs.values()];
    if (all.every((r) => r.exitCode !== null)) {
      return { exitCode: worstExitCode(all.map((r) => r.exitCode as number)), timedOut: false, runs: all };
    }
    const left = deadline - now();
    if (left <= 0) {
      return { exitCode: EXIT_CODES.errored, timedOut: true, runs: all, ...(lastTransient ? { error: `last error: ${lastTransient}` } : {}) };
    }
    // Jitter in [0.8, 1.2) × interval spreads many waiting pipelines; never past the deadline.
    await doSleep(Math.min(left, Math.round(interval * (0.8 + 0.4 * random()))));
    interval = Math.min(maxInterval, Math.round(interval * 1.5));
  }
}

export interface WaitCommandOptions {
  server?: string;
  token?: string;
  timeout: string;
  json?: boolean;
}

/** The command: validates its input (64), waits, prints, returns the exit code. */
export interface WaitIo {
  env?: NodeJS.ProcessEnv;
  stdout?: (s: string) => void;
  stderr?: (s: string) => void;
  wait?: Partial<WaitOptions>;
}

export async function waitCommand(ids: string[], opts: WaitCommandOptions, io: WaitIo = {}): Promise<number> {
  const env = io.env ?? process.env;
  const out = io.stdout ?? ((s: string) => void process.stdout.write(s));
  const err = io.stderr ?? ((s: string) => void process.stderr.write(s));
  const bad = (message: string): number => {
    err(`steadystate wait: ${message}\n`);
    return EXIT_BAD_INPUT;
  };
  if (ids.length === 0) return bad('give at least one run id');
  const unique = [...new Set(ids)];
  for (const id of unique) if (!/^[\x21-\x7e]{1,128}$/.test(id)) return bad(`"${id}" is not a run id`);
  const creds = opts.server === undefined && !env.STEADYSTATE_SERVER ? await readCredentials(credentialsPath(env)).catch(() => undefined) : undefined;
  const server = opts.server ?? (env.STEADYSTATE_SERVER || undefined) ?? creds?.current;
  if (!server) return bad('--server URL (or STEADYSTATE_SERVER, or a `steadystate login`) is required');
  try {
    const u = new URL(server);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
  } catch {
    return bad(`--server "${server}" is not an http(s) URL`);
  }
  const saved = async (): Promise<string | undefined> => {
    const file = await readCredentials(credentialsPath(env)).catch(() => undefined);
    return file?.servers[`${new URL(server).origin}${new URL(server).pathname.replace(/\/+$/, '')}`]?.token;
  };
  const token = opts.token ?? (env.STEADYSTATE_TOKEN || undefined) ?? (await saved());
  if (!token) return bad(`--token (or STEADYSTATE_TOKEN, or \`steadystate login --server ${server}\`) is required`);
  const timeoutMs = parseDuration(opts.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0) return bad(`--timeout "${opts.timeout}" is not a duration (e.g. 30m)`);

  const result = await waitForRuns(unique, {
    server,
    token,
    timeoutMs,
    onChange: (r) => err(`[${new Date().toISOString().slice(11, 19)}] ${r.id}${r.experiment ? ` (${r.experiment})` : ''}: ${r.state ?? '?'}\n`),
    ...io.wait,
  });
  if (result.exitCode === EXIT_BAD_INPUT) return bad(result.error ?? 'bad input');
  if (result.unreachable) {
    err(`steadystate wait: ${result.error ?? 'cannot reach the server'}\n`);
    return result.exitCode;
  }
  if (opts.json) {
    out(`${JSON.stringify({ exitCode: result.exitCode, timedOut: result.timedOut, runs: result.runs })}\n`);
  } else {
    for (const r of result.runs) {
      const state = r.state ? r.state.toUpperCase() : 'UNKNOWN';
      out(`${r.id}${r.experiment ? ` ${r.experiment}` : ''}: ${state}${r.exitCode !== null ? ` (exit ${r.exitCode})` : ' (not ended)'}${r.reason ? ` — ${r.reason}` : ''}\n`);
    }
  }
  if (result.timedOut) {
    const active = result.runs.filter((r) => r.exitCode === null).map((r) => r.id);
    err(`steadystate wait: timed out after ${opts.timeout}; still active: ${active.join(', ')}${result.error ? ` (${result.error})` : ''}\n`);
  }
  return result.exitCode;
}

/** `io` is for tests; the CLI uses the process's streams and environment. */
export function registerWaitCommand(program: Command, io: WaitIo = {}): void {
  program
    .command('wait')
    .description('block until runs end; exit 0 passed, 1 failed, 2 halted, 3 inconclusive, 4 errored/aborted (worst wins: 4 > 2 > 1 > 3 > 0)')
    .argument('<runIds...>', 'run ids (from the deploy webhook answer or POST /api/v1/experiments/{name}/runs)')
    .option('--server <url>', 'the steadystate service (env STEADYSTATE_SERVER; default: the server of the last login)')
    .option('--token <token>', 'API token, viewer role is enough (env STEADYSTATE_TOKEN; default: the login\'s)')
    .option('--timeout <duration>', 'give up after this long (exit 4)', '30m')
    .option('--json', 'print one JSON object with every run on stdout')
    .action(async (ids: string[], opts: WaitCommandOptions) => {
      process.exitCode = await waitCommand(ids, opts, io);
    });
}
