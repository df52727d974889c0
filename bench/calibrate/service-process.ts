/**
 * `steadystate serve` as a child process, the way an operator runs it: PGlite
 * in a temp data dir, a bootstrap admin token, 127.0.0.1 on a free port, the
 * scheduler off, and the concurrent-run cap raised through its documented
 * variable (STEADYSTATE_MAX_CONCURRENT_RUNS). stop() sends SIGTERM, which
 * closes every open fault window before the service exits; SIGKILL after a
 * bounded wait. A process 'exit' hook kills it if the bench dies first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/lib/ports.ts';

const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));
const LOG_LIMIT = 64 * 1024;

export interface RunningService {
  url: string;
  token: string;
  pid: number;
  /** GET/POST with the admin token; JSON in and out. Bounded by `timeoutMs` (default 10 s). */
  api<T>(method: string, path: string, body?: { yaml: string } | { json: unknown }, opts?: { headers?: Record<string, string>; timeoutMs?: number }): Promise<{ status: number; body: T }>;
  /** Raw text of the service's /metrics. */
  metricsText(): Promise<string>;
  logs(): string;
  stop(): Promise<void>;
}

export interface StartServiceOptions {
  maxConcurrentRuns: number;
  /** Bound on waiting for /healthz. Default 120 s (tsx and PGlite start slowly on a loaded machine). */
  startTimeoutMs?: number;
  logLevel?: string;
  /** A PostgreSQL database instead of PGlite in the temp data dir. */
  databaseUrl?: string;
}

async function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  try {
    await once(child, 'exit', { signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return child.exitCode !== null || child.signalCode !== null;
  }
}

export async function startServiceProcess(opts: StartServiceOptions): Promise<RunningService> {
  const dataDir = await mkdtemp(join(tmpdir(), 'steadystate-calib-'));
  const token = `sst_calib-${randomBytes(24).toString('hex')}`;
  let lastError: Error | undefined;
  // freePort() can race with another process: retry a few times on a taken port.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    try {
      return await launch(port, dataDir, token, opts);
    } catch (err) {
      lastError = err as Error;
      if (!/EADDRINUSE|address already in use/i.test(lastError.message)) break;
    }
  }
  await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
  throw lastError ?? new Error('steadystate serve did not start');
}

async function launch(port: number, dataDir: string, token: string, opts: StartServiceOptions): Promise<RunningService> {
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  // BENCH_SERVICE_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": profile the service (NODE_OPTIONS refuses --cpu-prof).
  const nodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'serve', '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      // The bench's own environment minus anything that would point the service elsewhere.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(STEADYSTATE_|DATABASE_URL$|SLACK_|OTEL_)/.test(k))),
      ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : { STEADYSTATE_DATA_DIR: dataDir }),
      STEADYSTATE_ADMIN_TOKEN: token,
      STEADYSTATE_MAX_CONCURRENT_RUNS: String(opts.maxConcurrentRuns),
      STEADYSTATE_SCHEDULER: 'off',
      STEADYSTATE_LOG_LEVEL: opts.logLevel ?? 'warn',
    },
  });
  const append = (c: Buffer): void => {
    log += c.toString('utf8');
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const killOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        // The service closes open windows within its 20 s grace before exiting.
        if (!(await waitForExit(child, 30_000))) {
          child.kill('SIGKILL');
          await waitForExit(child, 5_000);
        }
      }
      process.removeListener('exit', killOnExit);
      await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopping;
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 120_000);
  for (let attempt = 0; attempt < 600 && Date.now() < deadline; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      process.removeListener('exit', killOnExit);
      throw new Error(`steadystate serve exited (code ${String(child.exitCode)}): ${log.slice(-4000)}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
      await res.body?.cancel();
      if (res.status === 200) break;
    } catch {
      // not up yet
    }
    await delay(200);
  }
  if (Date.now() >= deadline) {
    child.kill('SIGKILL');
    await waitForExit(child, 5_000);
    process.removeListener('exit', killOnExit);
    throw new Error(`steadystate serve did not answer /healthz within ${opts.startTimeoutMs ?? 120_000} ms: ${log.slice(-4000)}`);
  }

  const auth = { authorization: `Bearer ${token}` };
  return {
    url,
    token,
    pid: child.pid ?? -1,
    async api<T>(method: string, path: string, body?: { yaml: string } | { json: unknown }, o: { headers?: Record<string, string>; timeoutMs?: number } = {}) {
      const headers: Record<string, string> = { ...auth, accept: 'application/json', ...o.headers };
      let payload: string | undefined;
      if (body && 'yaml' in body) {
        headers['content-type'] = 'application/yaml';
        payload = body.yaml;
      } else if (body) {
        headers['content-type'] = 'application/json';
        payload = JSON.stringify(body.json);
      }
      const res = await fetch(`${url}${path}`, { method, headers, body: payload, signal: AbortSignal.timeout(o.timeoutMs ?? 10_000) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body: parsed as T };
    },
    async metricsText() {
      const res = await fetch(`${url}/metrics`, { headers: auth, signal: AbortSignal.timeout(5_000) });
      return res.text();
    },
    logs: () => log,
    stop,
  };
}
