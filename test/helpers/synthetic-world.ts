/**
 * A small, deterministic world for service runs on loopback: one contract
 * server that answers as Prometheus does (`/api/v1/status/buildinfo`,
 * `POST /api/v1/query_range`, the documented matrix envelope) and as a fault
 * API does (`POST /fault/open`, `POST /fault/close`, for the webhook
 * injector). Values are a pure function of the query and the time, so the
 * increments the engine fetches during the window and its final query agree
 * point for point — the run the service stores is the run the engine holds.
 *
 * Queries name what they want: `checkouts{group="control"}` (steady state),
 * `guard_errors`, `guard_latency`, `guard_saturation` (guardrails, far below
 * their thresholds). Real adapters talk to it over HTTP; nothing of ours is
 * replaced.
 */
import { startContractServer, type ContractServer, type Recorded } from './contract-server.ts';
import { seriesFor } from '../metric-sources/fake-prometheus.ts';

export interface SyntheticWorld {
  url: string;
  server: ContractServer;
  /** Requests to the fault API so far. */
  opens(): number;
  closes(): number;
  stop(): Promise<void>;
}

/** Deterministic value of a query at t (ms): a gentle wave, the same for both groups. */
export function syntheticValue(query: string, tMs: number): number {
  const s = tMs / 1000;
  const wave = Math.sin(s / 3) * 0.5 + Math.cos(s / 7) * 0.3;
  if (query.includes('guard_errors')) return 0.01 + 0.002 * wave;
  if (query.includes('guard_latency')) return 0.2 + 0.02 * wave;
  if (query.includes('guard_saturation')) return 0.5 + 0.05 * wave;
  return 100 + 2 * wave;
}

function queryRange(req: Recorded): { status: number; body: unknown } {
  const form = new URLSearchParams(req.body);
  const query = form.get('query') ?? '';
  const start = Number(form.get('start')) * 1000;
  const end = Number(form.get('end')) * 1000;
  const step = Number(form.get('step')) * 1000;
  if (!(step > 0) || !(end >= start)) return { status: 400, body: { status: 'error', errorType: 'bad_data', error: 'bad range' } };
  const values: [number, string][] = [];
  // Bounded by the source's own 11,000-point cap.
  for (let t = start, i = 0; t <= end && i < 11_000; t += step, i++) values.push([t / 1000, String(syntheticValue(query, Math.round(t)))]);
  return { status: 200, body: { status: 'success', data: { resultType: 'matrix', result: seriesFor(query, values) } } };
}

export async function startSyntheticWorld(): Promise<SyntheticWorld> {
  const server = await startContractServer();
  server
    .route('GET', '/api/v1/status/buildinfo', () => ({ status: 200, body: { status: 'success', data: { version: '2.53.0' } } }))
    .route('POST', '/api/v1/query_range', queryRange)
    .route('POST', '/fault/open', () => ({ status: 200, body: { id: 'fault-1' } }))
    .route('POST', '/fault/close', () => ({ status: 200, body: {} }));
  return {
    url: server.url,
    server,
    opens: () => server.sent('POST', '/fault/open').length,
    closes: () => server.sent('POST', '/fault/close').length,
    stop: () => server.stop(),
  };
}

/** A spec on that world: one KPI, three threshold guardrails, a webhook fault. */
export function syntheticSpecYaml(name: string, world: { url: string }, opts: { duration?: string; interval?: string; openBody?: string } = {}): string {
  return `apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata:
  name: ${JSON.stringify(name)}
  service: shop
spec:
  source: { kind: prometheus, url: "${world.url}", step: 1s, timeout: 5s }
  steadyState:
    - name: checkout-sps
      query: sum(checkouts{group="$group"})
      direction: decrease
      tolerance: 10%
  fault:
    injector: webhook
    params:
      open: { url: "${world.url}/fault/open", body: ${JSON.stringify(opts.openBody ?? 'run {{runId}}')} }
      close: { url: "${world.url}/fault/close" }
    duration: ${opts.duration ?? '6s'}
  guardrails:
    - name: error-ratio
      query: guard_errors
      max: 0.05
    - name: p95-latency
      query: guard_latency
      max: 1
    - name: saturation
      query: guard_saturation
      max: 0.9
  analysis: { interval: ${opts.interval ?? '1s'}, minSamples: 3, settle: 1s }
`;
}
