/**
 * Runs on the server: `steadystate start NAME [--wait]`, `steadystate abort
 * ID --reason TEXT`, `steadystate halt-all --reason TEXT` (and `--clear`).
 *
 * `start` sends an Idempotency-Key, so a start retried after a lost answer
 * never makes two runs. Without `--wait` it prints the run id (stdout) and
 * exits 0; with `--wait` it follows the run (progress on stderr) and exits
 * with the run's code, as `run` and `wait` do: 0 passed, 1 failed, 2 halted,
 * 3 inconclusive, 4 errored/aborted/halt_failed or not ended by `--timeout`.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { parseDuration } from '../lib/duration.ts';
import { CliFailure } from './client.ts';
import { EXIT_BAD_INPUT, EXIT_CODES } from './exit-codes.ts';
import type { RunDetail } from './get-command.ts';
import { connect, exitCodeOf, SERVER_HELP, streams, type CliIo } from './service-context.ts';
import { waitForRuns, type WaitOptions } from './wait-command.ts';

export interface StartOptions {
  server?: string;
  wait?: boolean;
  timeout: string;
  json?: boolean;
}

/** `io.wait` is for tests (poll intervals). */
export async function startCommand(name: string, opts: StartOptions, io: CliIo & { wait?: Partial<WaitOptions> } = {}): Promise<number> {
  return exitCodeOf('start', io, async () => {
    const { out, err } = streams(io);
    const timeoutMs = parseDuration(opts.timeout);
    if (timeoutMs === undefined || timeoutMs <= 0) throw new CliFailure(`--timeout "${opts.timeout}" is not a duration (e.g. 30m)`, EXIT_BAD_INPUT);
    const { server, token, client } = await connect(opts.server, io);
    const started = await client.request<{ run: { id: string; experiment: string; version: number }; created: boolean }>(
      'POST',
      `/api/v1/experiments/${encodeURIComponent(name)}/runs`,
      { headers: { 'idempotency-key': randomUUID() }, idempotent: true },
    );
    const run = started.body.run;
    err(`run ${run.id} of ${run.experiment} (version ${run.version}) started\n`);
    if (!opts.wait) {
      out(opts.json ? `${JSON.stringify(started.body)}\n` : `${run.id}\n`);
      return 0;
    }
    const result = await waitForRuns([run.id], {
      server,
      token,
      timeoutMs,
      onChange: (r) => err(`[${new Date().toISOString().slice(11, 19)}] ${r.id}: ${r.state ?? '?'}\n`),
      ...(io.fetch ? { fetch: io.fetch } : {}),
      ...io.wait,
    });
    if (result.error && !result.timedOut) throw new CliFailure(result.error, result.exitCode);
    const { series: _series, ...final } = (await client.get<{ run: RunDetail }>(`/api/v1/runs/${encodeURIComponent(run.id)}`)).run;
    if (opts.json) {
      out(`${JSON.stringify({ run: final })}\n`);
    } else {
      out(`${final.experiment}: ${final.state.toUpperCase()} — ${final.reason}\n`);
      for (const m of final.metrics) out(`  ${m.name}: ${m.verdict} — ${m.reason}\n`);
      out(`report: ${server}/api/v1/runs/${encodeURIComponent(run.id)}/report.html\n`);
    }
    if (result.timedOut) err(`steadystate start: run ${run.id} had not ended after ${opts.timeout} (it goes on; \`steadystate wait ${run.id}\` to follow it)\n`);
    return result.exitCode;
  });
}

const requireReason = (reason: string | undefined): string => {
  const text = reason?.trim() ?? '';
  if (text === '' || text.length > 500) throw new CliFailure('--reason must be 1 to 500 characters: say why, it is recorded on the run', EXIT_BAD_INPUT);
  return text;
};

export async function abortCommand(id: string, opts: { server?: string; reason?: string; json?: boolean }, io: CliIo = {}): Promise<number> {
  return exitCodeOf('abort', io, async () => {
    const { out, err } = streams(io);
    const reason = requireReason(opts.reason);
    const { client } = await connect(opts.server, io);
    // The server closes the window before it answers; that may take a while.
    const answer = await client.request<{ run: { id: string; state: string; reason: string } }>('POST', `/api/v1/runs/${encodeURIComponent(id)}/abort`, { body: { reason } });
    const run = answer.body.run;
    if (opts.json) out(`${JSON.stringify(answer.body)}\n`);
    else out(`run/${run.id} ${run.state}${run.reason ? ` — ${run.reason}` : ''}\n`);
    if (run.state !== 'aborted') err(`steadystate abort: run ${run.id} had already ended (${run.state}); nothing to abort\n`);
    return 0;
  });
}

interface HaltAllAnswer {
  haltAll: { active: boolean; since?: string; actor?: string };
  halted?: string[];
}

export async function haltAllCommand(opts: { server?: string; reason?: string; clear?: boolean; json?: boolean }, io: CliIo = {}): Promise<number> {
  return exitCodeOf('halt-all', io, async () => {
    const { out } = streams(io);
    const reason = opts.clear && opts.reason === undefined ? undefined : requireReason(opts.reason);
    const { client } = await connect(opts.server, io);
    const answer = opts.clear
      ? await client.request<HaltAllAnswer>('DELETE', '/api/v1/halt-all', reason ? { body: { reason } } : {})
      : await client.request<HaltAllAnswer>('POST', '/api/v1/halt-all', { body: { reason } });
    const { haltAll, halted } = answer.body;
    if (opts.json) {
      out(`${JSON.stringify(answer.body)}\n`);
    } else if (opts.clear) {
      out(`halt-all ${haltAll.active ? 'is still on' : 'cleared'}: new runs may start\n`);
    } else {
      out(`halt-all on${haltAll.since ? ` since ${haltAll.since}` : ''}${haltAll.actor ? ` by ${haltAll.actor}` : ''}; new runs are refused until an admin runs \`steadystate halt-all --clear\`\n`);
      out(`halted ${halted?.length ?? 0} run(s)${halted && halted.length > 0 ? `: ${halted.join(', ')}` : ''}\n`);
    }
    return haltAll.active === !opts.clear ? 0 : EXIT_CODES.errored;
  });
}

export function registerRunControlCommands(program: Command, io: CliIo = {}): void {
  program
    .command('start')
    .description('start a run of an experiment on the server; with --wait, exit like run: 0 passed, 1 failed, 2 halted, 3 inconclusive, 4 errored/aborted')
    .argument('<name>', 'the experiment')
    .option('--server <url>', SERVER_HELP)
    .option('--wait', 'follow the run to its end and exit with its code')
    .option('--timeout <duration>', 'with --wait: give up waiting after this long (exit 4; the run goes on)', '30m')
    .option('--json', 'print { run, created } (with --wait: { run } as describe --json shows it) on stdout')
    .action(async (name: string, opts: StartOptions) => {
      process.exitCode = await startCommand(name, opts, io);
    });
  program
    .command('abort')
    .description('abort a run: its fault window is closed before the server answers')
    .argument('<id>', 'the run id')
    .option('--reason <text>', 'why (required; recorded on the run)')
    .option('--server <url>', SERVER_HELP)
    .option('--json', 'print { run } on stdout')
    .action(async (id: string, opts: { server?: string; reason?: string; json?: boolean }) => {
      process.exitCode = await abortCommand(id, opts, io);
    });
  program
    .command('halt-all')
    .description('the big red button: close every open fault window now and refuse new runs until cleared')
    .option('--reason <text>', 'why (required unless --clear; recorded)')
    .option('--clear', 'let runs start again (admin)')
    .option('--server <url>', SERVER_HELP)
    .option('--json', 'print { haltAll, halted } on stdout')
    .action(async (opts: { server?: string; reason?: string; clear?: boolean; json?: boolean }) => {
      process.exitCode = await haltAllCommand(opts, io);
    });
}
