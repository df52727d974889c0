/**
 * The login's credentials file: `$XDG_CONFIG_HOME/steadystate/credentials.json`
 * (or `~/.config/steadystate/credentials.json`), mode 0600 in a 0700
 * directory, written atomically (a temporary file in the same directory,
 * renamed over the old one), so a crash mid-write never leaves half a token
 * and other users never see one.
 *
 *   { "current": "https://steadystate.example", "servers": { "https://steadystate.example": { "token": "sst_…", "savedAt": "…" } } }
 *
 * `current` is the server commands use when neither `--server` nor
 * STEADYSTATE_SERVER names one, as kubectl's current context.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { EXIT_BAD_INPUT } from './exit-codes.ts';
import { CliFailure } from './client.ts';

export interface SavedServer {
  token: string;
  savedAt: string;
}

export interface Credentials {
  current?: string;
  servers: Record<string, SavedServer>;
}

/** Where the credentials live for this environment. */
export function credentialsPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), '.config');
  return join(base, 'steadystate', 'credentials.json');
}

/** A server URL as the key of the file: origin and path, no trailing slash. */
export function normalizeServer(text: string, flag = '--server'): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliFailure(`${flag} "${text}" is not a URL (e.g. http://127.0.0.1:8080)`, EXIT_BAD_INPUT);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliFailure(`${flag} "${text}" is not an http(s) URL`, EXIT_BAD_INPUT);
  if (url.username || url.password) throw new CliFailure(`${flag} must not carry credentials in the URL; use steadystate login`, EXIT_BAD_INPUT);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The file's content; an absent file is empty. A file that is not ours is bad input, naming the file. */
export async function readCredentials(path: string): Promise<Credentials> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { servers: {} };
    throw new CliFailure(`${path}: cannot read the credentials file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, EXIT_BAD_INPUT);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliFailure(`${path}: not JSON; fix it or delete it and log in again`, EXIT_BAD_INPUT);
  }
  const obj = parsed as Partial<Credentials> | null;
  if (!obj || typeof obj !== 'object' || typeof obj.servers !== 'object' || obj.servers === null) {
    throw new CliFailure(`${path}: no "servers" object; fix it or delete it and log in again`, EXIT_BAD_INPUT);
  }
  const servers: Record<string, SavedServer> = {};
  for (const [server, entry] of Object.entries(obj.servers)) {
    if (entry && typeof entry.token === 'string') servers[server] = { token: entry.token, savedAt: String(entry.savedAt ?? '') };
  }
  return { ...(typeof obj.current === 'string' ? { current: obj.current } : {}), servers };
}

/** Whether others than the owner may read the file (then the token may have leaked). */
export async function tooOpen(path: string): Promise<boolean> {
  try {
    return ((await stat(path)).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}

/** Write atomically with mode 0600 (directory 0700). */
export async function writeCredentials(path: string, creds: Credentials): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.credentials.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  // `wx` with the mode: the file is 0600 from its first byte, whatever the umask allows more.
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(creds, null, 2)}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
