/**
 * A data-plane worker of `steadystate proxy --workers N`. It serves traffic
 * with the same data plane as the single-process proxy, but its fault window
 * is a copy the primary sends (window-mirror.ts). Safety rules:
 *
 * - The primary gone (IPC disconnect: it died or exited) → drop the window at
 *   once, stop accepting, finish what is in flight, exit. A worker never
 *   injects without a living primary.
 * - No word from the primary for a lease → drop the window (the mirror does).
 * - SIGINT/SIGTERM (Ctrl-C reaches the whole process group) → same as a
 *   shutdown from the primary.
 */
import { setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../lib/logger.ts';
import { isPrimaryMessage, type WorkerConfig, WORKER_CONFIG_ENV, type WorkerMessage } from './cluster-messages.ts';
import { createDataPlane } from './data-plane.ts';
import { splitFromPercents } from './groups.ts';
import { createProxyMetrics } from './proxy-metrics.ts';
import { WindowMirror } from './window-mirror.ts';

/** How long in-flight requests get to finish when the worker stops. */
const DRAIN_MS = 10_000;

export async function runProxyWorker(): Promise<void> {
  const send = process.send?.bind(process);
  const raw = process.env[WORKER_CONFIG_ENV];
  if (!send || raw === undefined) throw new Error('runProxyWorker: not started by the proxy primary');
  const cfg = JSON.parse(raw) as WorkerConfig;
  const logger = createLogger({ name: 'steadystate-proxy' }).child({ worker: process.pid });

  const mirror = new WindowMirror();
  const metrics = createProxyMetrics({ windowGauge: false, routes: cfg.routes });
  const shutdown = new AbortController();
  setMaxListeners(0, shutdown.signal);
  const data = createDataPlane({
    upstream: cfg.upstream,
    split: splitFromPercents(cfg.controlPercent, cfg.experimentPercent),
    stickyHeader: cfg.stickyHeader,
    routes: cfg.routes,
    windows: mirror,
    metrics,
    logger,
    shutdown: shutdown.signal,
  });

  let stopping = false;
  const stop = (why: string): void => {
    mirror.drop();
    if (stopping) return;
    stopping = true;
    logger.info({ why }, 'proxy worker stopping');
    shutdown.abort();
    // Bounded: a client that never finishes must not keep a worker without a primary alive.
    setTimeout(() => process.exit(0), DRAIN_MS).unref();
    // After the requests the abort released have been forwarded: closing the pool first would fail them.
    setImmediate(() => {
      void data.close().then(() => {
        if (process.connected) process.disconnect();
        process.exit(0);
      });
    });
  };

  // With a callback a failed send (the primary just died) is reported here instead of crashing the worker.
  const tell = (m: WorkerMessage): void => {
    if (process.connected) send(m, undefined, {}, () => undefined);
  };
  let firstWindow: (() => void) | undefined;
  const gotFirstWindow = new Promise<void>((resolve) => (firstWindow = resolve));
  process.on('message', (m: unknown) => {
    if (!isPrimaryMessage(m)) return;
    switch (m.t) {
      case 'window':
        if (!stopping) mirror.set(m.window, m.leaseMs);
        tell({ t: 'applied', seq: m.seq });
        firstWindow?.();
        return;
      case 'lease':
        mirror.renew(m.leaseMs);
        return;
      case 'metrics':
        void metrics.registry.getMetricsAsJSON().then((json) => tell({ t: 'metrics', id: m.id, metrics: json }));
        return;
      case 'shutdown':
        stop('the primary asked');
        return;
    }
  });
  process.on('disconnect', () => stop('lost the primary'));
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => stop(s));

  tell({ t: 'hello' });
  // Listen only once the current window is known, so a new worker injects exactly what the others do.
  await gotFirstWindow;
  if (stopping) return;
  await new Promise<void>((resolve, reject) => {
    data.server.once('error', reject);
    data.server.listen({ host: cfg.listen.host, port: cfg.listen.port }, () => resolve());
  });
  tell({ t: 'listening', port: (data.server.address() as AddressInfo).port });
}
