/**
 * `steadystate login [--server URL]` and `steadystate logout [--server URL]`.
 *
 * login reads the token from STEADYSTATE_TOKEN or standard input (a prompt
 * that does not echo when stdin is a terminal; never a flag, which would show
 * in the process list and shell history), checks it against the server
 * (`GET /api/v1/halt-all`, which any valid token may read), and saves it in
 * the credentials file (credentials.ts) as the current server. The token is
 * never printed.
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { ApiClient, CliFailure } from './client.ts';
import { credentialsPath, normalizeServer, readCredentials, writeCredentials } from './credentials.ts';
import { EXIT_BAD_INPUT } from './exit-codes.ts';
import { exitCodeOf, SERVER_HELP, streams, type CliIo } from './service-context.ts';

/** A line from the terminal without echoing it. */
async function promptHidden(question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    return await new Promise<string>((resolve) => {
      rl.question(question, (answer) => resolve(answer));
      muted = true;
    });
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

async function readToken(io: CliIo): Promise<string> {
  const { env, readStdin } = streams(io);
  const fromEnv = env.STEADYSTATE_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  const text = io.readStdin === undefined && process.stdin.isTTY ? await promptHidden('token: ') : await readStdin();
  const token = text.trim();
  if (token === '') throw new CliFailure('no token: set STEADYSTATE_TOKEN or give the token on standard input (e.g. from your secret store)', EXIT_BAD_INPUT);
  if (/\s/.test(token) || token.length > 512) throw new CliFailure('the token on standard input must be one word of at most 512 characters', EXIT_BAD_INPUT);
  return token;
}

export async function loginCommand(opts: { server?: string }, io: CliIo = {}): Promise<number> {
  return exitCodeOf('login', io, async () => {
    const { env, err } = streams(io);
    const raw = opts.server ?? (env.STEADYSTATE_SERVER || undefined);
    if (!raw) throw new CliFailure('--server URL (or STEADYSTATE_SERVER) is required', EXIT_BAD_INPUT);
    const server = normalizeServer(raw, opts.server !== undefined ? '--server' : 'STEADYSTATE_SERVER');
    const token = await readToken(io);
    const client = new ApiClient({ server, token, ...(io.fetch ? { fetch: io.fetch } : {}), ...(io.sleep ? { sleep: io.sleep } : {}) });
    await client.get('/api/v1/halt-all');
    const file = credentialsPath(env);
    const creds = await readCredentials(file);
    creds.servers[server] = { token, savedAt: new Date().toISOString() };
    creds.current = server;
    await writeCredentials(file, creds);
    err(`logged in to ${server}; the token is saved in ${file} (mode 0600)\n`);
    return 0;
  });
}

export async function logoutCommand(opts: { server?: string }, io: CliIo = {}): Promise<number> {
  return exitCodeOf('logout', io, async () => {
    const { env, err } = streams(io);
    const file = credentialsPath(env);
    const creds = await readCredentials(file);
    const raw = opts.server ?? (env.STEADYSTATE_SERVER || undefined) ?? creds.current;
    if (!raw) throw new CliFailure(`not logged in (${file} names no server)`, EXIT_BAD_INPUT);
    const server = normalizeServer(raw);
    if (!creds.servers[server]) {
      err(`not logged in to ${server}; nothing to do\n`);
      return 0;
    }
    delete creds.servers[server];
    if (creds.current === server) delete creds.current;
    await writeCredentials(file, creds);
    err(`logged out of ${server}; the token is removed from ${file} (it stays valid until an admin revokes it)\n`);
    return 0;
  });
}

export function registerLoginCommands(program: Command, io: CliIo = {}): void {
  program
    .command('login')
    .description('check a token against the server and save it (mode 0600) for the other commands; the token comes from STEADYSTATE_TOKEN or standard input')
    .option('--server <url>', 'the steadystate service (env STEADYSTATE_SERVER)')
    .action(async (opts: { server?: string }) => {
      process.exitCode = await loginCommand(opts, io);
    });
  program
    .command('logout')
    .description('forget the saved token of a server')
    .option('--server <url>', SERVER_HELP)
    .action(async (opts: { server?: string }) => {
      process.exitCode = await logoutCommand(opts, io);
    });
}
