/**
 * What every command that talks to a running service shares: where the
 * server is (`--server`, else STEADYSTATE_SERVER, else the login's current
 * server), the token (STEADYSTATE_TOKEN, else the credentials file, never a
 * flag of its own: flags show in the process list), the streams (results on
 * stdout, progress and errors on stderr), and one way to turn failures into
 * exit codes.
 */
import { ValidationError } from '../lib/errors.ts';
import type { SleepFn } from '../lib/retry.ts';
import { ApiClient, CliFailure } from './client.ts';
import { credentialsPath, normalizeServer, readCredentials, tooOpen } from './credentials.ts';
import { EXIT_BAD_INPUT } from './exit-codes.ts';
import { cliActor } from './actor.ts';

/** Injectable for tests; the CLI uses the process's streams and environment. */
export interface CliIo {
  env?: NodeJS.ProcessEnv;
  stdout?: (s: string) => void;
  stderr?: (s: string) => void;
  /** All of standard input, as text. */
  readStdin?: () => Promise<string>;
  fetch?: typeof fetch;
  sleep?: SleepFn;
}

export interface Streams {
  env: NodeJS.ProcessEnv;
  out: (s: string) => void;
  err: (s: string) => void;
  readStdin: () => Promise<string>;
}

export function streams(io: CliIo): Streams {
  return {
    env: io.env ?? process.env,
    out: io.stdout ?? ((s: string) => void process.stdout.write(s)),
    err: io.stderr ?? ((s: string) => void process.stderr.write(s)),
    readStdin: io.readStdin ?? readProcessStdin,
  };
}

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export interface Connection {
  server: string;
  /** For `wait`'s polling; never printed. */
  token: string;
  client: ApiClient;
}

/** The server and token for a command; bad input (64) when either is missing. */
export async function connect(flagServer: string | undefined, io: CliIo): Promise<Connection> {
  const { env, err } = streams(io);
  const file = credentialsPath(env);
  const creds = await readCredentials(file);
  const given = flagServer ?? (env.STEADYSTATE_SERVER || undefined);
  const raw = given ?? creds.current;
  if (!raw) throw new CliFailure('no server: give --server URL, set STEADYSTATE_SERVER, or run `steadystate login --server URL` first', EXIT_BAD_INPUT);
  const server = normalizeServer(raw, flagServer !== undefined ? '--server' : given !== undefined ? 'STEADYSTATE_SERVER' : `"current" in ${file}`);
  let token = env.STEADYSTATE_TOKEN?.trim() || undefined;
  if (!token) {
    token = creds.servers[server]?.token;
    if (token && (await tooOpen(file))) err(`steadystate: warning: ${file} is readable by other users; run chmod 600 on it\n`);
  }
  if (!token) throw new CliFailure(`no token for ${server}: run \`steadystate login --server ${server}\` or set STEADYSTATE_TOKEN`, EXIT_BAD_INPUT);
  return {
    server,
    token,
    client: new ApiClient({ server, token, userAgent: `steadystate-cli/0.1.0 (${cliActor()})`, ...(io.fetch ? { fetch: io.fetch } : {}), ...(io.sleep ? { sleep: io.sleep } : {}) }),
  };
}

/**
 * Run a command body and turn what it throws into an exit code with one
 * clear line on stderr: CliFailure carries its code, ValidationError is 64;
 * anything else reaches main (exit 4).
 */
export async function exitCodeOf(command: string, io: CliIo, body: () => Promise<number>): Promise<number> {
  const { err } = streams(io);
  try {
    return await body();
  } catch (e) {
    if (e instanceof CliFailure) {
      err(`steadystate ${command}: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof ValidationError) {
      for (const issue of e.issues) err(`steadystate ${command}: ${issue.path}: ${issue.message}\n`);
      return EXIT_BAD_INPUT;
    }
    throw e;
  }
}

/** `--server` help text, the same on every command. */
export const SERVER_HELP = 'the steadystate service (env STEADYSTATE_SERVER; default: the server of the last login)';

/** Fixed-width columns for tables on stdout. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}
