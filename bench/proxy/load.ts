/**
 * One load run with autocannon's programmatic API. Latencies are taken from
 * its per-response event in float milliseconds: autocannon's own histogram
 * keeps whole milliseconds, too coarse for a budget of 0.5 ms.
 */
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  connections: number;
  durationS: number;
  /** Requests per second over all connections; unlimited when absent. */
  rate?: number | undefined;
  /** Distinct x-user-id values sent round-robin, so the proxy's grouping does real work. */
  users: number;
}

export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

/** At most this many latencies are kept per run (about 20 s at 100k req/s). */
const MAX_SAMPLES = 2_000_000;

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const latencies = new Float64Array(MAX_SAMPLES);
  let n = 0;
  let next = 0;
  let finish: (r: autocannon.Result) => void = () => undefined;
  let fail: (e: unknown) => void = () => undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const instance = autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.durationS,
    ...(opts.rate === undefined ? {} : { overallRate: opts.rate }),
    requests: [
      {
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'x-user-id': `user-${next++ % opts.users}` } }),
      },
    ],
  }, (err: unknown, r: autocannon.Result) => (err ? fail(err) : finish(r)));
  instance.on('response', (_client, _status, _bytes, ms) => {
    if (n < MAX_SAMPLES) latencies[n++] = ms;
  });
  const result = await done;
  const sorted = latencies.subarray(0, n).sort();
  const at = (q: number): number => (n === 0 ? Number.NaN : (sorted[Math.min(n - 1, Math.floor(q * n))] as number));
  return {
    requests: result.requests.total,
    rps: result.requests.total / opts.durationS,
    p50: at(0.5),
    p99: at(0.99),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}
