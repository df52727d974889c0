/**
 * `steadystate proxy --listen HOST:PORT --upstream URL --admin HOST:PORT
 *  [--control-percent N] [--experiment-percent N] [--sticky-header NAME] [--admin-host NAME…] [--workers N]
 *  [--route PATTERN…]`
 *
 * Validates the flags (every message names its flag), starts the proxy,
 * resolves once both listeners are up, and closes them on SIGINT/SIGTERM.
 * Closing first closes the open fault window, so stopping the proxy never
 * leaves a fault behind; a second signal exits at once.
 */
import type { Logger } from 'pino';
import { type InputIssue, ValidationError } from '../lib/errors.ts';
import { createLogger } from '../lib/logger.ts';
import { type FaultProxy, type HostPort, startFaultProxy } from './fault-proxy.ts';
import { MAX_WORKERS } from './proxy-options.ts';

/** The flags as commander hands them over (strings), or numbers from code. */
export interface ProxyCommandOptions {
  listen: string;
  upstream: string;
  admin: string;
  controlPercent?: string | number;
  experimentPercent?: string | number;
  stickyHeader?: string;
  /** Extra names the admin API answers to (--admin-host, repeatable). */
  adminHost?: string[];
  /** Processes serving traffic (--workers); default 1. */
  workers?: string | number;
  /** Path patterns for the `route` metric label (--route, repeatable). */
  route?: string[];
}

export interface ProxyCommandDeps {
  logger?: Logger;
  /** Signals that stop the proxy. Default SIGINT and SIGTERM. */
  signals?: NodeJS.Signals[];
}

const FLAG_OF: Record<string, string> = {
  listen: '--listen',
  admin: '--admin',
  upstream: '--upstream',
  controlPercent: '--control-percent',
  experimentPercent: '--experiment-percent',
  stickyHeader: '--sticky-header',
  adminHosts: '--admin-host',
  workers: '--workers',
  routes: '--route',
};

/** `127.0.0.1:8080`, `[::1]:8080`, `localhost:0` → { host, port }; undefined when malformed. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const host = (m[1] ?? m[2]) as string;
  const port = Number(m[3]);
  if (port > 65_535) return undefined;
  return { host, port };
}

/** `5`, `0.5`, `5%` → 5; undefined unless a finite number in [0, 100]. */
export function parsePercent(value: string | number): number | undefined {
  const n = typeof value === 'number' ? value : /^\s*\d+(?:\.\d+)?\s*%?\s*$/.test(value) ? Number.parseFloat(value) : Number.NaN;
  return Number.isFinite(n) && n >= 0 && n <= 100 ? n : undefined;
}

export async function runProxyCommand(options: ProxyCommandOptions, deps: ProxyCommandDeps = {}): Promise<FaultProxy> {
  const issues: InputIssue[] = [];
  const endpoint = (flag: string, value: string | undefined): HostPort | undefined => {
    if (value === undefined || value === '') {
      issues.push({ path: flag, message: 'is required (HOST:PORT, e.g. 127.0.0.1:8080)' });
      return undefined;
    }
    const hp = parseHostPort(value);
    if (!hp) issues.push({ path: flag, message: `"${value}" is not HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080; port 0 picks a free one)` });
    return hp;
  };
  const share = (flag: string, value: string | number | undefined): number | undefined => {
    if (value === undefined) return 5;
    const n = parsePercent(value);
    if (n === undefined) issues.push({ path: flag, message: `"${value}" is not a percentage between 0 and 100` });
    return n;
  };

  const listen = endpoint('--listen', options.listen);
  const admin = endpoint('--admin', options.admin);
  if (!options.upstream) issues.push({ path: '--upstream', message: 'is required (e.g. http://127.0.0.1:3000)' });
  const controlPercent = share('--control-percent', options.controlPercent);
  const experimentPercent = share('--experiment-percent', options.experimentPercent);
  if (controlPercent !== undefined && experimentPercent !== undefined && controlPercent + experimentPercent > 100) {
    issues.push({ path: '--experiment-percent', message: '--control-percent + --experiment-percent must not exceed 100' });
  }
  const workers = options.workers === undefined ? 1 : Number(options.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    issues.push({ path: '--workers', message: `"${String(options.workers)}" is not a whole number between 1 and ${MAX_WORKERS}` });
  }
  if (listen && admin && listen.port !== 0 && listen.port === admin.port && listen.host === admin.host) {
    issues.push({ path: '--admin', message: 'must differ from --listen' });
  }
  if (issues.length > 0 || !listen || !admin || controlPercent === undefined || experimentPercent === undefined) {
    throw new ValidationError(issues);
  }

  const logger = deps.logger ?? createLogger({ name: 'steadystate-proxy' });
  let proxy: FaultProxy;
  try {
    proxy = await startFaultProxy({
      listen,
      admin,
      upstream: options.upstream,
      controlPercent,
      experimentPercent,
      workers,
      ...(options.stickyHeader === undefined ? {} : { stickyHeader: options.stickyHeader }),
      ...(options.adminHost === undefined ? {} : { adminHosts: options.adminHost }),
      ...(options.route === undefined ? {} : { routes: options.route }),
      logger,
    });
  } catch (err) {
    // The proxy names its option fields; the user typed flags.
    if (err instanceof ValidationError) {
      throw new ValidationError(
        err.issues.map((i) => {
          // `listen.port` → `--listen (port)`; `routes[1]` → `--route[1]` (the second --route).
          const [, field = '', rest = ''] = /^([A-Za-z]+)(.*)$/.exec(i.path) ?? [];
          const flag = FLAG_OF[field];
          if (!flag) return i;
          return { ...i, path: rest === '' ? flag : rest.startsWith('[') ? `${flag}${rest}` : `${flag} (${rest.replace(/^\./, '')})` };
        }),
      );
    }
    throw err;
  }
  if (!isLoopback(admin.host)) {
    logger.warn({ admin: proxy.adminUrl }, 'the admin API is reachable beyond this machine: whoever reaches it can inject faults');
  }

  const signals = deps.signals ?? ['SIGINT', 'SIGTERM'];
  const closeServers = (): Promise<void> => proxy.close();
  let stopping = false;
  // Whoever closes the proxy (a signal or the caller), the handlers go, so the process exits once idle.
  const close = async (): Promise<void> => {
    try {
      await closeServers();
    } finally {
      for (const s of signals) process.off(s, onSignal);
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting for in-flight requests');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'stopping the fault proxy');
    close().then(
      () => logger.info('fault proxy stopped'),
      (err: unknown) => {
        logger.error({ err }, 'fault proxy did not close cleanly');
        process.exitCode = 1;
      },
    );
  };
  for (const s of signals) process.on(s, onSignal);
  return { ...proxy, close };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
