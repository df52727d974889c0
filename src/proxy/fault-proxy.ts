/**
 * The built-in HTTP fault proxy: the ChAP idea on one process. Every request is
 * put in a traffic group (control, experiment or none) by a sticky hash, the
 * group is forwarded upstream in `x-steadystate-group` so the service can label
 * its own business metrics, and while a fault window is open the fault is
 * applied to the experiment group only. Control gets the same treatment minus
 * the fault, which is what makes the comparison fair.
 *
 * Two listeners: the data plane (clients, plain node:http and undici, see
 * data-plane.ts) and the admin API (steadystate, fastify).
 */
import { setMaxListeners } from 'node:events';
import { buildAdminApp } from './admin-api.ts';
import { createDataPlane } from './data-plane.ts';
import { FaultWindows } from './fault-windows.ts';
import { splitFromPercents } from './groups.ts';
import { startProxyCluster } from './proxy-cluster.ts';
import { createProxyMetrics } from './proxy-metrics.ts';
import { type FaultProxy, type FaultProxyOptions, listenFastify, listenServer, parseProxyOptions, urlOf } from './proxy-options.ts';

export type { FaultProxy, FaultProxyOptions, HostPort } from './proxy-options.ts';

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const { logger, ...rest } = opts;
  const cfg = parseProxyOptions(rest);
  if (cfg.workers > 1) return startProxyCluster(cfg, logger);
  const log = logger?.child({ component: 'fault-proxy' });

  const metrics = createProxyMetrics({ routes: cfg.routes });
  const windows = new FaultWindows();
  windows.events.on('opened', (w) => {
    metrics.setWindowOpen(true);
    log?.info({ window: w }, 'fault window opened');
  });
  windows.events.on('updated', (w) => log?.info({ window: w }, 'fault window changed'));
  windows.events.on('closed', (w) => {
    metrics.setWindowOpen(false);
    log?.info({ window: w }, `fault window closed (${w.closedReason ?? 'closed'})`);
  });
  // Aborted on shutdown so requests held by a latency fault do not hold up close().
  const shutdown = new AbortController();
  // Every held request listens on it: thousands of listeners are expected, not a leak.
  setMaxListeners(0, shutdown.signal);

  const data = createDataPlane({
    upstream: cfg.upstream,
    split: splitFromPercents(cfg.controlPercent, cfg.experimentPercent),
    stickyHeader: cfg.stickyHeader,
    routes: cfg.routes,
    windows,
    metrics,
    logger,
    shutdown: shutdown.signal,
  });
  const admin = buildAdminApp({ windows, metrics, logger, hostNames: [cfg.admin.host, ...cfg.adminHosts] });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      windows.closeAll();
      shutdown.abort();
      await Promise.all([admin.close(), data.close()]);
    })();
    return closing;
  };

  try {
    await listenServer(data.server, cfg.listen, 'listen');
    await listenFastify(admin, cfg.admin, 'admin');
  } catch (err) {
    await close();
    throw err;
  }
  const proxy: FaultProxy = {
    listenUrl: urlOf(data.server, cfg.listen.host),
    adminUrl: urlOf(admin.server, cfg.admin.host),
    events: windows.events,
    close,
  };
  log?.info(
    { listen: proxy.listenUrl, admin: proxy.adminUrl, upstream: cfg.upstream, controlPercent: cfg.controlPercent, experimentPercent: cfg.experimentPercent },
    'fault proxy listening',
  );
  return proxy;
}

