/**
 * A real Prometheus for integration tests, and a tiny scrape target to feed it.
 *
 * `startPrometheus` runs the installed binary (Debian's /usr/bin/prometheus, or
 * `prometheus` on PATH) with a generated config, its TSDB in a temp dir and
 * its web server on 127.0.0.1 only. Every wait is bounded in time and in
 * attempts; failures carry the tail of Prometheus's own log.
 *
 *   const target = await startMetricsTarget(registry);      // prom-client Registry
 *   const prom = await startPrometheus({ targets: [target.target] });
 *   after(async () => { await prom.stop(); await target.stop(); });
 *   await prom.waitForTargetsUp(10_000);
 *
 * Use `checkBinary('prometheus', PROMETHEUS_DEFAULT_PATH)` from ./skip.ts to skip
 * (loudly, never in CI) where the binary is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { stringify } from 'yaml';
import { findBinary } from '../lib/binaries.ts';
import { freePort } from '../lib/ports.ts';


export const PROMETHEUS_DEFAULT_PATH = '/usr/bin/prometheus';

const POLL_INTERVAL_MS = 100;
const LOG_LIMIT = 64 * 1024;
const START_ATTEMPTS = 3;

export interface StartPrometheusOptions {
  /** Scrape targets as `host:port`; the host must be loopback. */
  targets: string[];
  /** Go duration, default `1s`; also the scrape timeout and evaluation interval unless given. */
  scrapeInterval?: string;
  evaluationInterval?: string;
  /** Default `/metrics`. */
  metricsPath?: string;
  /** Job label of the targets, default `steadystate-test`. */
  jobName?: string;
  /** Binary to run; default /usr/bin/prometheus, then `prometheus` on PATH. */
  binary?: string;
  /** Bound on waiting for `/-/ready`, default 20 s. */
  startTimeoutMs?: number;
  /** More command-line flags (e.g. `--query.max-concurrency=200` for a benchmark that queries hard). */
  extraArgs?: readonly string[];
  /** Rule files to load, by file name → YAML text (written beside the config). */
  ruleFiles?: Readonly<Record<string, string>>;
  /** Alertmanagers (loopback `host:port`) to send alerts to, with API v2. */
  alertmanagers?: readonly string[];
}

/** One element of an instant-query vector. */
export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface RunningPrometheus {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  /** The temp dir holding config and TSDB; removed by stop(). */
  dir: string;
  /** SIGTERM, wait (bounded), SIGKILL if needed, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Resolves once every configured target is active and `up`. */
  waitForTargetsUp(timeoutMs?: number): Promise<void>;
  /** Resolves with the first non-empty instant-query answer for `query`. */
  waitForSeries(query: string, timeoutMs?: number): Promise<VectorSample[]>;
  /** One instant query (`status: success` required). */
  query(query: string): Promise<VectorSample[]>;
  /** The tail of Prometheus's stdout/stderr, for failure messages. */
  logs(): string;
}

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

function assertLoopbackTarget(target: string): void {
  let url: URL;
  try {
    url = new URL(`http://${target}`);
  } catch {
    throw new Error(`scrape target "${target}" is not host:port`);
  }
  const loopback = LOOPBACK_HOSTS.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  if (!loopback || url.port === '' || url.pathname !== '/' || `${url.hostname}:${url.port}` !== target) {
    throw new Error(`scrape target "${target}" must be a loopback host:port (tests never scrape other hosts)`);
  }
}

/** Keeps the last LOG_LIMIT characters of a stream. */
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

async function getJson(url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

/**
 * Poll `probe` until it returns a value other than undefined. Bounded both by
 * `timeoutMs` and by a count of attempts, so a probe that hangs or a clock
 * that jumps cannot make it spin forever.
 */
async function pollUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  describeLast: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const maxAttempts = Math.ceil(timeoutMs / POLL_INTERVAL_MS) + 1;
  for (let attempt = 0; attempt < maxAttempts && Date.now() <= deadline; attempt += 1) {
    const value = await probe();
    if (value !== undefined) return value;
    await delay(POLL_INTERVAL_MS);
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}; last seen: ${describeLast()}`);
}

function killOnExit(child: ChildProcess): () => void {
  // If the test process dies without calling stop(), do not leave an orphan
  // Prometheus holding a port and a temp dir.
  const handler = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', handler);
  return () => process.removeListener('exit', handler);
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

export async function startPrometheus(opts: StartPrometheusOptions): Promise<RunningPrometheus> {
  if (opts.targets.length === 0) throw new Error('startPrometheus needs at least one target');
  for (const target of [...opts.targets, ...(opts.alertmanagers ?? [])]) assertLoopbackTarget(target);
  const binary = opts.binary ?? findBinary('prometheus', PROMETHEUS_DEFAULT_PATH);
  if (!binary) throw new Error(`prometheus binary not found at ${PROMETHEUS_DEFAULT_PATH} nor on PATH`);

  const scrapeInterval = opts.scrapeInterval ?? '1s';
  const config = {
    global: {
      scrape_interval: scrapeInterval,
      // Prometheus rejects a scrape timeout longer than the interval, and its
      // default (10s) is longer than the short intervals tests use.
      scrape_timeout: scrapeInterval,
      evaluation_interval: opts.evaluationInterval ?? scrapeInterval,
    },
    scrape_configs: [
      {
        job_name: opts.jobName ?? 'steadystate-test',
        metrics_path: opts.metricsPath ?? '/metrics',
        static_configs: [{ targets: opts.targets }],
      },
    ],
    ...(opts.ruleFiles ? { rule_files: Object.keys(opts.ruleFiles).map((n) => basename(n)) } : {}),
    ...(opts.alertmanagers?.length ? { alerting: { alertmanagers: [{ api_version: 'v2', static_configs: [{ targets: opts.alertmanagers }] }] } } : {}),
  };

  const dir = await mkdtemp(join(tmpdir(), 'steadystate-prom-'));
  try {
    const configFile = join(dir, 'prometheus.yml');
    await writeFile(configFile, stringify(config));
    // Relative rule_files entries resolve against the config file's directory.
    for (const [name, text] of Object.entries(opts.ruleFiles ?? {})) await writeFile(join(dir, basename(name)), text);
    let lastError: Error | undefined;
    // The port from freePort() may be taken before Prometheus binds it.
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt += 1) {
      const port = await freePort();
      try {
        return await launch(binary, dir, configFile, port, opts.targets.length, opts.startTimeoutMs ?? 20_000, opts.extraArgs ?? []);
      } catch (err) {
        lastError = err as Error;
        if (!/address already in use/i.test(lastError.message)) break;
      }
    }
    throw lastError ?? new Error('prometheus did not start');
  } catch (err) {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    throw err;
  }
}

async function launch(
  binary: string,
  dir: string,
  configFile: string,
  port: number,
  targetCount: number,
  startTimeoutMs: number,
  extraArgs: readonly string[],
): Promise<RunningPrometheus> {
  const url = `http://127.0.0.1:${port}`;
  const log = new LogTail();
  const child = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, `data-${port}`)}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=info',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (c: Buffer) => log.append(c));
  child.stderr?.on('data', (c: Buffer) => log.append(c));
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const forget = killOnExit(child);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await waitForExit(child, 10_000))) {
          child.kill('SIGKILL');
          await waitForExit(child, 5_000);
        }
      }
      forget();
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopping;
  };

  const exited = (): string | undefined => {
    if (spawnError) return `could not be started: ${spawnError.message}`;
    if (child.exitCode !== null || child.signalCode !== null) {
      return `exited (code ${String(child.exitCode)}, signal ${String(child.signalCode)})`;
    }
    return undefined;
  };

  let lastReady = 'no answer yet';
  try {
    await pollUntil(
      `${url}/-/ready`,
      startTimeoutMs,
      async () => {
        const gone = exited();
        if (gone) throw new Error(`prometheus ${gone}`);
        try {
          const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
          await res.body?.cancel();
          lastReady = `HTTP ${res.status}`;
          return res.status === 200 ? true : undefined;
        } catch (err) {
          lastReady = (err as Error).message;
          return undefined;
        }
      },
      () => lastReady,
    );
  } catch (err) {
    // Stop the child but keep the dir: the caller removes it (and may retry in it).
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await waitForExit(child, 5_000);
    }
    forget();
    throw new Error(`${(err as Error).message}\n--- prometheus log (tail) ---\n${log.toString()}`, { cause: err });
  }

  const query = async (q: string): Promise<VectorSample[]> => {
    const res = await getJson(`${url}/api/v1/query?query=${encodeURIComponent(q)}`, 5_000);
    const body = res.body as { status?: string; data?: { resultType?: string; result?: VectorSample[] }; error?: string };
    if (res.status !== 200 || body.status !== 'success' || body.data?.resultType !== 'vector') {
      throw new Error(`instant query ${JSON.stringify(q)} failed: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    }
    return body.data.result ?? [];
  };

  const waitForTargetsUp = async (timeoutMs = 15_000): Promise<void> => {
    let last = 'no answer yet';
    await pollUntil(
      `${targetCount} target(s) up on ${url}`,
      timeoutMs,
      async () => {
        const res = await getJson(`${url}/api/v1/targets?state=active`, 2_000);
        const targets =
          (res.body as { data?: { activeTargets?: { scrapeUrl: string; health: string; lastError: string }[] } }).data
            ?.activeTargets ?? [];
        last = JSON.stringify(targets.map((t) => ({ url: t.scrapeUrl, health: t.health, lastError: t.lastError })));
        return targets.length === targetCount && targets.every((t) => t.health === 'up') ? true : undefined;
      },
      () => last,
    );
  };

  const waitForSeries = async (q: string, timeoutMs = 15_000): Promise<VectorSample[]> => {
    let last = 'no answer yet';
    return pollUntil(
      `a non-empty answer to ${JSON.stringify(q)}`,
      timeoutMs,
      async () => {
        const result = await query(q);
        last = JSON.stringify(result);
        return result.length > 0 ? result : undefined;
      },
      () => last,
    );
  };

  return { url, port, dir, stop, waitForTargetsUp, waitForSeries, query, logs: () => log.toString() };
}

export { startMetricsTarget, type MetricsTarget } from './metrics-target.ts';
