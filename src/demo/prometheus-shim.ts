/**
 * The playground without Prometheus installed: the embedded scrape source
 * (src/metric-sources/scrape) behind the three Prometheus HTTP endpoints that
 * our own Prometheus adapter calls — `query_range` (GET or form POST),
 * `status/buildinfo` and `/-/ready`. So a spec written for
 * `kind: prometheus, url: http://127.0.0.1:9090` runs unchanged against the
 * playground on a machine without Prometheus. Only the PromQL subset the scrape
 * source evaluates (docs/sources/scrape.md); loopback only; not a Prometheus.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NoDataError } from '../lib/errors.ts';
import type { MetricSource } from '../metric-sources/types.ts';

/** Bodies of a query_range POST are a query and three numbers: more is a mistake. */
const MAX_BODY = 64 * 1024;
/** Prometheus's own bound on points per series. */
const MAX_POINTS = 11_000;

export interface PrometheusShim {
  url: string;
  close(): Promise<void>;
}

export async function startPrometheusShim(source: MetricSource, at: { host: string; port: number }): Promise<PrometheusShim> {
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const bad = (res: ServerResponse, error: string, status = 400, errorType = 'bad_data'): void => send(res, status, { status: 'error', errorType, error });

  const queryRange = async (params: URLSearchParams, res: ServerResponse): Promise<void> => {
    const query = params.get('query') ?? '';
    const start = Number(params.get('start'));
    const end = Number(params.get('end'));
    const step = parseStep(params.get('step') ?? '');
    if (query === '' || !Number.isFinite(start) || !Number.isFinite(end) || !(step > 0) || end < start) {
      return bad(res, 'query, start, end and a positive step are required');
    }
    if ((end - start) / step > MAX_POINTS) return bad(res, `exceeded maximum resolution of ${MAX_POINTS} points per timeseries`);
    try {
      const r = await source.queryRange(query, { start: new Date(start * 1000), end: new Date(end * 1000), stepMs: step * 1000 }, AbortSignal.timeout(10_000));
      const result = r.series.map((s) => ({ metric: s.labels, values: s.samples.map((p) => [p.t / 1000, String(p.v)]) }));
      send(res, 200, { status: 'success', data: { resultType: 'matrix', result }, ...(r.warnings.length > 0 ? { warnings: r.warnings } : {}) });
    } catch (err) {
      // Prometheus answers "nothing matched" with an empty matrix; the adapter turns that into no data.
      if (err instanceof NoDataError) return send(res, 200, { status: 'success', data: { resultType: 'matrix', result: [] } });
      bad(res, (err as Error).message, 422, 'execution');
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://shim');
    if (url.pathname === '/-/ready' || url.pathname === '/-/healthy') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('steadystate playground: scrape source ready\n');
      return;
    }
    if (url.pathname === '/api/v1/status/buildinfo') {
      return send(res, 200, { status: 'success', data: { version: 'steadystate-playground-scrape', revision: '', branch: '' } });
    }
    if (url.pathname !== '/api/v1/query_range') return bad(res, `${url.pathname} is not served here (only query_range)`, 404, 'not_found');
    if (req.method === 'GET') return queryRange(url.searchParams, res);
    if (req.method !== 'POST') return bad(res, 'GET or POST', 405);
    let body = '';
    for await (const chunk of req) {
      body += String(chunk);
      if (body.length > MAX_BODY) return bad(res, 'body too large', 413);
    }
    return queryRange(new URLSearchParams(body), res);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) bad(res, String(err), 500, 'internal');
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${at.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `15`, `0.5`, `1s`, `500ms`, `1m` → seconds; NaN otherwise. */
function parseStep(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const m = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600 } as Record<string, number>)[m[2] as string]!;
}
