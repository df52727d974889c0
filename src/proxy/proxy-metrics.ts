/**
 * The proxy's own metrics. Names and labels are a contract: experiment specs
 * and guardrails query them (`steadystate_proxy_requests_total{group="experiment",code=~"5.."}`).
 * A registry per proxy, never prom-client's global one, so that two proxies
 * (or a proxy and the service) in one process do not mix their counts.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { GroupHistogram } from './group-histogram.ts';
import type { Group } from './groups.ts';
import { OTHER_ROUTE } from './routes.ts';

export type FaultKind = 'latency' | 'error' | 'abort';

/** 1 ms … 10 s, dense where latency faults and SLO thresholds usually sit (50–500 ms). */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10];

/** Methods kept as-is in labels; anything else is `OTHER`, so a client cannot blow up cardinality. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER';
}

export interface ProxyMetrics {
  readonly registry: Registry;
  /**
   * `code`: the status sent to the client, `aborted` for an injected abort, `499` when the client went away first.
   * `route`: the configured path pattern the request matched (routes.ts), default `other`.
   */
  observeRequest(group: Group, method: string, code: string, seconds: number, route?: string): void;
  faultInjected(group: Group, fault: FaultKind): void;
  setWindowOpen(open: boolean): void;
}

export interface ProxyMetricsOptions {
  /**
   * Whether this registry carries `steadystate_proxy_window_open`. With workers the primary owns the
   * windows and the gauge; workers count requests only, and their counts are summed.
   */
  windowGauge?: boolean;
  /** Configured route patterns: their series (and `other`'s) exist at zero from the start. */
  routes?: readonly string[];
}

export function createProxyMetrics(opts: ProxyMetricsOptions = {}): ProxyMetrics {
  const registry = new Registry();
  // Counted per request in a plain Map (prom-client's inc() validates and hashes labels every time); handed
  // to prom-client when scraped.
  const requestCounts = new Map<string, { labels: { group: Group; route: string; method: string; code: string }; n: number }>();
  new Counter({
    name: 'steadystate_proxy_requests_total',
    help: 'Requests through the fault proxy, by traffic group, route, method and the status sent to the client (aborted for injected aborts).',
    labelNames: ['group', 'route', 'method', 'code'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, n } of requestCounts.values()) this.inc(labels, n);
    },
  });
  const duration = new GroupHistogram(
    'steadystate_proxy_request_duration_seconds',
    'Time from the request reaching the proxy to the response ending, injected latency included, by traffic group and route.',
    DURATION_BUCKETS,
    registry,
    // Zero series for both arms up front: a rate over a series that does not exist yet is "no data", not 0.
    ['control', 'experiment'],
    [...(opts.routes ?? []), OTHER_ROUTE],
  );
  const faults = new Counter({
    name: 'steadystate_proxy_faults_injected_total',
    help: 'Faults the proxy injected, by traffic group and fault (latency, error, abort).',
    labelNames: ['group', 'fault'] as const,
    registers: [registry],
  });
  const windowOpen = opts.windowGauge === false ? undefined : createWindowGauge(registry);
  for (const group of ['control', 'experiment'] as const) {
    for (const fault of ['latency', 'error', 'abort'] as const) faults.inc({ group, fault }, 0);
  }

  return {
    registry,
    observeRequest(group, method, code, seconds, route = OTHER_ROUTE) {
      const m = methodLabel(method);
      const key = `${group} ${route} ${m} ${code}`;
      const entry = requestCounts.get(key);
      // Codes are three digits or a word, routes at most MAX_ROUTES + 1: bounded combinations.
      if (entry === undefined) requestCounts.set(key, { labels: { group, route, method: m, code }, n: 1 });
      else entry.n++;
      duration.observe(group, route, seconds);
    },
    faultInjected(group, fault) {
      faults.inc({ group, fault });
    },
    setWindowOpen(open) {
      windowOpen?.set(open ? 1 : 0);
    },
  };
}

/** `steadystate_proxy_window_open`, 0 until a window opens. */
export function createWindowGauge(registry: Registry): Gauge {
  const gauge = new Gauge({
    name: 'steadystate_proxy_window_open',
    help: '1 while a fault window is open, else 0.',
    registers: [registry],
  });
  gauge.set(0);
  return gauge;
}
