/**
 * `steadystate proxy --workers N`: this process is the primary. It owns the
 * fault windows and their deadline timers, the admin API and the window
 * gauge; N forked workers serve the data plane on one shared port (node's
 * cluster hands connections round-robin). See docs/adr/016-proxy-workers.md.
 *
 * - Every change of the window is broadcast with a sequence number, and the
 *   admin API answers an open or a close only once every worker has applied
 *   it (or after SYNC_MS): a window looks the same whichever worker serves a
 *   request. A worker that has not applied a close within SYNC_MS is killed;
 *   the cluster forks a fresh one, which starts from the current state.
 * - Workers enforce the deadline themselves too, and drop the window when the
 *   primary goes away or stops renewing their lease.
 * - /metrics sums the workers' registries (prom-client's AggregatorRegistry)
 *   plus the primary's window gauge; a worker that does not answer fails the
 *   scrape rather than making counters go backwards.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { AggregatorRegistry, Registry } from 'prom-client';
import { AppError } from '../lib/errors.ts';
import { buildAdminApp } from './admin-api.ts';
import { isWorkerMessage, LEASE_MS, LEASE_RENEW_MS, type PrimaryMessage, type WorkerConfig, WORKER_CONFIG_ENV } from './cluster-messages.ts';
import { FaultWindows, type WindowWire } from './fault-windows.ts';
import { createWindowGauge } from './proxy-metrics.ts';
import { type FaultProxy, listenFastify, type ResolvedProxyOptions, urlOf } from './proxy-options.ts';

/** How long an open or close waits for every worker to apply it. */
const SYNC_MS = 1_000;
const METRICS_MS = 2_000;
const START_MS = 30_000;
const STOP_MS = 12_000;
/** A worker that keeps dying right after its start is a bug or a bad config, not bad luck: give up. */
const MAX_RESTARTS_PER_MINUTE = 5;

export class WorkersUnavailableError extends AppError {
  constructor(message: string) {
    super(message, { code: 'workers_unavailable', httpStatus: 503, retryable: true });
  }
}

interface WorkerState {
  worker: Worker;
  applied: number;
  listening: boolean;
}

export async function startProxyCluster(cfg: ResolvedProxyOptions, logger: Logger | undefined): Promise<FaultProxy> {
  const log = logger?.child({ component: 'fault-proxy' });
  const windows = new FaultWindows();
  const gaugeRegistry = new Registry();
  const gauge = createWindowGauge(gaugeRegistry);
  const states = new Map<number, WorkerState>();
  let seq = 0;
  let closing = false;
  let started = false;
  let startFailed: Error | undefined;
  const restarts: number[] = [];
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of waiters) w();
  };

  const current = (): WindowWire | null => {
    const a = windows.active();
    return a ? { id: a.id, deadlineMs: a.deadlineMs, fault: a.fault } : null;
  };
  const tell = (s: WorkerState, m: PrimaryMessage): void => {
    if (s.worker.isConnected()) s.worker.send(m);
  };
  const broadcast = (): void => {
    seq++;
    for (const s of states.values()) tell(s, { t: 'window', seq, window: current(), leaseMs: LEASE_MS });
  };
  windows.events.on('opened', (w) => {
    gauge.set(1);
    broadcast();
    log?.info({ window: w }, 'fault window opened');
  });
  windows.events.on('updated', (w) => {
    broadcast();
    log?.info({ window: w }, 'fault window changed');
  });
  windows.events.on('closed', (w) => {
    gauge.set(0);
    broadcast();
    log?.info({ window: w }, `fault window closed (${w.closedReason ?? 'closed'})`);
  });
  const lease = setInterval(() => {
    for (const s of states.values()) tell(s, { t: 'lease', leaseMs: LEASE_MS });
  }, LEASE_RENEW_MS);
  lease.unref();

  /** Resolves when every live worker has applied `target`, or after `ms`; returns the laggards. */
  const waitApplied = async (target: number, ms: number): Promise<WorkerState[]> => {
    const laggards = (): WorkerState[] => [...states.values()].filter((s) => s.applied < target);
    if (laggards().length === 0) return [];
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (laggards().length > 0) return;
        done();
      };
      const timer = setTimeout(() => done(), ms);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
    });
    return laggards();
  };

  /** After every open or close: the admin API answers once the workers agree. */
  const sync = async (): Promise<void> => {
    const windowNow = current();
    const late = await waitApplied(seq, SYNC_MS);
    if (late.length === 0) return;
    if (windowNow === null) {
      // A worker that may still inject after a close must not live on: a fresh one starts closed.
      for (const s of late) {
        log?.error({ worker: s.worker.process.pid }, 'worker did not apply the close in time: killing it');
        s.worker.process.kill('SIGKILL');
      }
    } else {
      log?.warn({ workers: late.map((s) => s.worker.process.pid) }, 'not every worker applied the window in time');
    }
  };

  let metricsSeq = 0;
  const pendingMetrics = new Map<number, (metrics: object[]) => void>();
  const collect = async (): Promise<object[][]> => {
    const live = [...states.values()].filter((s) => s.listening);
    return Promise.all(
      live.map((s) => {
        const id = ++metricsSeq;
        return new Promise<object[]>((resolve, reject) => {
          const timer = setTimeout(() => {
            pendingMetrics.delete(id);
            reject(new WorkersUnavailableError(`proxy worker ${s.worker.process.pid} did not report its metrics within ${METRICS_MS} ms`));
          }, METRICS_MS);
          pendingMetrics.set(id, (v) => {
            clearTimeout(timer);
            pendingMetrics.delete(id);
            resolve(v);
          });
          tell(s, { t: 'metrics', id });
        });
      }),
    );
  };
  const exposition = async (): Promise<string> => {
    const perWorker = await collect();
    const all = [await gaugeRegistry.getMetricsAsJSON(), ...perWorker];
    return AggregatorRegistry.aggregate(all).metrics();
  };
  const workerViews = async (): Promise<object[]> => {
    const live = [...states.values()];
    const counts = await collect().catch(() => undefined);
    return live.map((s, i) => ({
      pid: s.worker.process.pid,
      listening: s.listening,
      appliedSeq: s.applied,
      upToDate: s.applied === seq,
      requests: counts ? requestsIn(counts[i] ?? []) : null,
    }));
  };

  const workerConfig: WorkerConfig = {
    listen: cfg.listen,
    upstream: cfg.upstream,
    controlPercent: cfg.controlPercent,
    experimentPercent: cfg.experimentPercent,
    stickyHeader: cfg.stickyHeader,
    routes: cfg.routes,
  };
  // Workers of one primary share one port: with port 0 cluster picks it once for all of them.
  let port: number | undefined;
  const fork = (): WorkerState => {
    const worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(workerConfig) });
    const state: WorkerState = { worker, applied: 0, listening: false };
    states.set(worker.id, state);
    worker.on('message', (m: unknown) => {
      if (!isWorkerMessage(m)) return;
      if (m.t === 'hello') tell(state, { t: 'window', seq, window: current(), leaseMs: LEASE_MS });
      else if (m.t === 'applied') state.applied = Math.max(state.applied, m.seq);
      else if (m.t === 'listening') {
        state.listening = true;
        port ??= m.port;
      } else if (m.t === 'metrics') pendingMetrics.get(m.id)?.(m.metrics);
      wake();
    });
    worker.on('exit', (code, signal) => {
      states.delete(worker.id);
      if (!started && !closing) startFailed ??= new Error(`a proxy worker exited (${signal ?? code}) before it listened: see its error above`);
      wake();
      if (closing || !started) return;
      log?.error({ worker: worker.process.pid, code, signal }, 'proxy worker exited: starting another');
      const now = Date.now();
      restarts.push(now);
      while (restarts.length > 0 && (restarts[0] as number) < now - 60_000) restarts.shift();
      if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
        log?.fatal('proxy workers keep dying: stopping the proxy');
        void close().finally(() => process.exit(1));
        return;
      }
      fork();
    });
    return state;
  };

  const exec = fileURLToPath(new URL(`./worker-main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
  // From sources the workers need tsx as this process has it (bin/steadystate.js registers it in code, not on the command line).
  const execArgv = exec.endsWith('.ts') && !process.execArgv.some((a) => a.includes('tsx')) ? [...process.execArgv, '--import', 'tsx'] : process.execArgv;
  cluster.setupPrimary({ exec, execArgv, args: [], silent: false });

  const admin = buildAdminApp({
    windows,
    logger,
    hostNames: [cfg.admin.host, ...cfg.adminHosts],
    sync,
    exposition: { text: exposition, contentType: gaugeRegistry.contentType },
    workers: workerViews,
  });

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      clearInterval(lease);
      windows.closeAll();
      const exits = [...states.values()].map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.worker.isDead()) return resolve();
            const timer = setTimeout(() => s.worker.process.kill('SIGKILL'), STOP_MS);
            s.worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            tell(s, { t: 'shutdown' });
          }),
      );
      await Promise.all([admin.close(), ...exits]);
    })();
    return closed;
  };

  try {
    for (let i = 0; i < cfg.workers; i++) fork();
    await waitListening(states, cfg.workers, () => startFailed ?? (closing ? new Error('the proxy stopped while its workers started') : undefined), waiters);
    await listenFastify(admin, cfg.admin, 'admin');
    started = true;
  } catch (err) {
    await close();
    throw err;
  }
  const host = cfg.listen.host.includes(':') ? `[${cfg.listen.host}]` : cfg.listen.host;
  const proxy: FaultProxy = { listenUrl: `http://${host}:${port}`, adminUrl: urlOf(admin.server, cfg.admin.host), events: windows.events, close };
  log?.info(
    { listen: proxy.listenUrl, admin: proxy.adminUrl, upstream: cfg.upstream, workers: cfg.workers, controlPercent: cfg.controlPercent, experimentPercent: cfg.experimentPercent },
    'fault proxy listening',
  );
  return proxy;
}

async function waitListening(states: Map<number, WorkerState>, n: number, failed: () => Error | undefined, waiters: Set<() => void>): Promise<void> {
  const ready = (): boolean => [...states.values()].filter((s) => s.listening).length >= n;
  if (ready()) return;
  const early = failed();
  if (early) throw early;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`proxy workers did not listen within ${START_MS} ms`)), START_MS);
    const check = (): void => {
      if (ready()) done();
      else if (failed()) done(failed());
    };
    const done = (err?: Error): void => {
      clearTimeout(timer);
      waiters.delete(check);
      if (err) reject(err);
      else resolve();
    };
    waiters.add(check);
  });
}

/** Sum of steadystate_proxy_requests_total in one worker's metrics JSON. */
function requestsIn(metrics: object[]): number {
  const m = (metrics as { name: string; values: { value: number }[] }[]).find((x) => x.name === 'steadystate_proxy_requests_total');
  return m ? m.values.reduce((acc, v) => acc + v.value, 0) : 0;
}
