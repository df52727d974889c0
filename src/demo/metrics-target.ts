/**
 * A prom-client registry served over HTTP for a test's own Prometheus to
 * scrape (moved out of prometheus-process.ts, which re-exports it).
 */
import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsTarget {
  /** `127.0.0.1:port`, for `startPrometheus({ targets })`. */
  target: string;
  url: string;
  port: number;
  /** Number of scrapes served so far. */
  readonly scrapes: number;
  /** Resolves once `count` scrapes in total have been served. */
  waitForScrapes(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Serve a prom-client registry on 127.0.0.1 (any path; Prometheus asks for
 * its `metrics_path`). Collect callbacks on the registry's metrics run at
 * each scrape, which lets a test make values a function of scrape time.
 */
export async function startMetricsTarget(registry: Registry): Promise<MetricsTarget> {
  const events = new EventEmitter();
  let scrapes = 0;
  const server: Server = createServer((req, res) => {
    registry
      .metrics()
      .then((body) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(body);
        scrapes += 1;
        events.emit('scrape', scrapes);
      })
      .catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    target: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    port,
    get scrapes() {
      return scrapes;
    },
    async waitForScrapes(count: number, timeoutMs = 15_000): Promise<void> {
      if (scrapes >= count) return;
      const signal = AbortSignal.timeout(timeoutMs);
      try {
        // Each 'scrape' event is one step closer; bounded by `count` events and the signal.
        while (scrapes < count) await once(events, 'scrape', { signal });
      } catch {
        throw new Error(`timed out after ${timeoutMs}ms waiting for ${count} scrapes (saw ${scrapes})`);
      }
    },
    async stop(): Promise<void> {
      if (!server.listening) return;
      const closed = once(server, 'close');
      server.close();
      // Prometheus keeps scrape connections alive; close() alone would wait for them.
      server.closeAllConnections();
      await closed;
    },
  };
}
