/**
 * A real PostgreSQL server for integration tests, started from the installed
 * binaries (Debian's `postgresql` package: /usr/lib/postgresql/<ver>/bin, the
 * newest version wins; else `initdb` and `postgres` on PATH; or the directory
 * in STEADYSTATE_POSTGRES_BIN). The cluster lives in a temp dir, listens on
 * 127.0.0.1 only (and a Unix socket in the temp dir), with fsync off: a test
 * database that a crash may lose.
 *
 *   const pgCheck = checkPostgres();                  // loud skip, never under CI=true
 *   describe('…', { skip: pgCheck.skip }, () => {
 *     let server: RunningPostgres;
 *     before(async () => { server = await startPostgres(); });
 *     after(() => server.stop());
 *     it('…', async () => { const url = await server.createDatabase(); … });
 *   });
 *
 * PostgreSQL refuses to run as root. When the tests run as root (containers,
 * CI), initdb and postgres run as the `postgres` OS user the Debian package
 * creates: spawned with that uid/gid (node sets them between fork and exec,
 * dropping supplementary groups — the same as `setpriv`, with argv only and no
 * shell), and the temp dir is chowned to it. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from './ports.ts';
import { findBinary, missingPrerequisite } from './skip.ts';

const DEBIAN_ROOT = '/usr/lib/postgresql';
const POLL_INTERVAL_MS = 100;
const LOG_LIMIT = 64 * 1024;
const START_ATTEMPTS = 3;
const OS_USER = 'postgres';

export interface PostgresInstall {
  /** Directory holding `initdb` and `postgres`. */
  binDir: string;
  /** uid/gid to run as, when this process is root; undefined otherwise. */
  runAs?: { uid: number; gid: number };
}

export interface PostgresCheck {
  install: PostgresInstall | undefined;
  /** For `describe(name, { skip })`: false when PostgreSQL can be started. */
  skip: string | false;
}

export interface RunningPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth, loopback only). */
  url: string;
  port: number;
  /** The temp dir (cluster, socket, log); removed by stop(). */
  dir: string;
  /** A new empty database; returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Fast shutdown (SIGINT), SIGKILL after 10 s, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** The tail of the server's log, for failure messages. */
  logs(): string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function hasBinaries(dir: string): boolean {
  return isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'postgres'));
}

/** The newest /usr/lib/postgresql/<ver>/bin with both binaries, then PATH. */
export function findPostgresBinDir(): string | undefined {
  const override = process.env.STEADYSTATE_POSTGRES_BIN;
  if (override) return hasBinaries(override) ? override : undefined;
  let versions: string[] = [];
  try {
    versions = readdirSync(DEBIAN_ROOT).filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {
    // no Debian layout
  }
  versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  for (const version of versions) {
    const dir = join(DEBIAN_ROOT, version, 'bin');
    if (hasBinaries(dir)) return dir;
  }
  const initdb = findBinary('initdb');
  if (initdb && hasBinaries(dirname(initdb))) return dirname(initdb);
  return undefined;
}

/** uid and gid of an OS user, from /etc/passwd. */
function lookupUser(name: string): { uid: number; gid: number } | undefined {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

function locate(): { install?: PostgresInstall; why?: string } {
  const binDir = findPostgresBinDir();
  if (!binDir) {
    return { why: `initdb/postgres not found in ${DEBIAN_ROOT}/<version>/bin, on PATH, or in STEADYSTATE_POSTGRES_BIN (apt-get install postgresql)` };
  }
  if (process.getuid?.() !== 0) return { install: { binDir } };
  const runAs = lookupUser(OS_USER);
  if (!runAs) return { why: `running as root, and PostgreSQL refuses root, but there is no "${OS_USER}" OS user to run it as` };
  return { install: { binDir, runAs } };
}

/** Suite-level check: loud skip where allowed, an exception under CI=true or STEADYSTATE_REQUIRE_POSTGRES=1. */
export function checkPostgres(): PostgresCheck {
  const { install, why } = locate();
  if (install) return { install, skip: false };
  return { install: undefined, skip: missingPrerequisite('postgres', why ?? 'unavailable') };
}

class LogTail {
  private text = '';
  append(chunk: Buffer): void {
    this.text += chunk.toString('utf8');
    if (this.text.length > LOG_LIMIT) this.text = this.text.slice(-LOG_LIMIT);
  }
  toString(): string {
    return this.text;
  }
}

function exitedDescription(child: ChildProcess): string | undefined {
  if (child.exitCode !== null || child.signalCode !== null) {
    return `exited (code ${String(child.exitCode)}, signal ${String(child.signalCode)})`;
  }
  return undefined;
}

async function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exitedDescription(child)) return true;
  try {
    await once(child, 'exit', { signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return exitedDescription(child) !== undefined;
  }
}

function spawnAs(install: PostgresInstall, binary: string, args: string[], log: LogTail): ChildProcess {
  const child = spawn(join(install.binDir, binary), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    // A clean environment: no PG* variables from the caller, a locale that always exists.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C', TZ: 'UTC' },
    ...(install.runAs ?? {}),
  });
  child.stdout?.on('data', (c: Buffer) => log.append(c));
  child.stderr?.on('data', (c: Buffer) => log.append(c));
  return child;
}

async function initdb(install: PostgresInstall, dataDir: string, timeoutMs: number): Promise<void> {
  const log = new LogTail();
  const child = spawnAs(install, 'initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], log);
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  if (!(await waitForExit(child, timeoutMs))) {
    child.kill('SIGKILL');
    await waitForExit(child, 5_000);
    throw new Error(`initdb did not finish within ${timeoutMs}ms\n--- initdb output ---\n${log.toString()}`);
  }
  if (spawnError || child.exitCode !== 0) {
    throw new Error(`initdb failed: ${spawnError?.message ?? exitedDescription(child)}\n--- initdb output ---\n${log.toString()}`);
  }
}

async function canQuery(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface StartPostgresOptions {
  install?: PostgresInstall;
  /** Bound on initdb, default 60 s. */
  initTimeoutMs?: number;
  /** Bound on waiting for the server to answer, default 30 s. */
  startTimeoutMs?: number;
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<RunningPostgres> {
  const install = opts.install ?? locate().install;
  if (!install) throw new Error(`PostgreSQL unavailable: ${locate().why ?? 'unknown reason'}`);
  const dir = await mkdtemp(join(tmpdir(), 'steadystate-pg-'));
  try {
    await chmod(dir, 0o700);
    if (install.runAs) await chown(dir, install.runAs.uid, install.runAs.gid);
    const dataDir = join(dir, 'data');
    await initdb(install, dataDir, opts.initTimeoutMs ?? 60_000);
    let lastError: Error | undefined;
    // The port from freePort() may be taken before postgres binds it: retry on another.
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt += 1) {
      const port = await freePort();
      try {
        return await launch(install, dir, dataDir, port, opts.startTimeoutMs ?? 30_000);
      } catch (err) {
        lastError = err as Error;
        if (!/could not bind|address already in use/i.test(lastError.message)) break;
      }
    }
    throw lastError ?? new Error('postgres did not start');
  } catch (err) {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    throw err;
  }
}

async function launch(install: PostgresInstall, dir: string, dataDir: string, port: number, startTimeoutMs: number): Promise<RunningPostgres> {
  const log = new LogTail();
  const child = spawnAs(
    install,
    'postgres',
    [
      '-D', dataDir,
      '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1',
      '-c', `unix_socket_directories=${dir}`,
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
      // Containers often have a tiny /dev/shm; mmap'd files in the data dir always work.
      '-c', 'dynamic_shared_memory_type=mmap',
      '-c', 'max_connections=100',
    ],
    log,
  );
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  // If the test process dies without stop(), do not leave a server holding a port and a dir.
  const killOnExit = (): void => {
    if (!exitedDescription(child)) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const forget = (): void => {
    process.removeListener('exit', killOnExit);
  };

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + startTimeoutMs;
  const maxAttempts = Math.ceil(startTimeoutMs / POLL_INTERVAL_MS) + 1;
  let last = 'no answer yet';
  let ready = false;
  for (let attempt = 0; attempt < maxAttempts && Date.now() <= deadline; attempt += 1) {
    const gone = spawnError ? `could not be started: ${spawnError.message}` : exitedDescription(child);
    if (gone) {
      forget();
      throw new Error(`postgres ${gone}\n--- postgres log (tail) ---\n${log.toString()}`);
    }
    const problem = await canQuery(url);
    if (problem === undefined) {
      ready = true;
      break;
    }
    last = problem;
    await delay(POLL_INTERVAL_MS);
  }
  if (!ready) {
    child.kill('SIGKILL');
    await waitForExit(child, 5_000);
    forget();
    throw new Error(`timed out after ${startTimeoutMs}ms waiting for postgres on ${url}; last: ${last}\n--- postgres log (tail) ---\n${log.toString()}`);
  }

  let databases = 0;
  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    dir,
    async createDatabase(name?: string): Promise<string> {
      databases += 1;
      const db = name ?? `test_${databases}_${process.pid}`;
      // An identifier cannot be a bound parameter: allow only a safe alphabet instead.
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(db)) throw new Error(`database name "${db}" must match [a-z_][a-z0-9_]*`);
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${db}"`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${db}`;
    },
    stop(): Promise<void> {
      stopping ??= (async () => {
        if (!exitedDescription(child)) {
          child.kill('SIGINT'); // fast shutdown: disconnects clients, no checkpoint wait beyond what is needed
          if (!(await waitForExit(child, 10_000))) {
            child.kill('SIGKILL');
            await waitForExit(child, 5_000);
          }
        }
        forget();
        await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      })();
      return stopping;
    },
    logs: () => log.toString(),
  };
}
