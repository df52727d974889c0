/**
 * One in-memory service for HTTP tests: a PGlite store, the run service and the
 * fastify app, driven with `app.inject` (no sockets). Tokens for each role.
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig, type ServiceConfig } from '../../src/config.ts';
import { buildHttpApp } from '../../src/http/app.ts';
import type { ZodApp } from '../../src/http/types.ts';
import { RunService } from '../../src/service/run-service.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/types.ts';

export interface HttpHarness {
  app: ZodApp;
  store: Store;
  runs: RunService;
  config: Readonly<ServiceConfig>;
  tokens: { viewer: string; operator: string; admin: string };
  close(): Promise<void>;
}

export async function startHttpHarness(env: NodeJS.ProcessEnv = {}): Promise<HttpHarness> {
  const config = loadConfig({ STEADYSTATE_LISTEN: '127.0.0.1:0', ...env });
  const store = await openStore({ memory: true });
  const logger = pino({ level: process.env.STEADYSTATE_TEST_LOG ?? 'silent' });
  const runs = new RunService(store, config, logger);
  const app = await buildHttpApp({ store, runs, config, logger, metrics: new Registry() });
  await app.ready();
  const tokens = {
    viewer: (await store.tokens.create({ name: 'vera', role: 'viewer' })).token,
    operator: (await store.tokens.create({ name: 'otto', role: 'operator' })).token,
    admin: (await store.tokens.create({ name: 'ada', role: 'admin' })).token,
  };
  return {
    app,
    store,
    runs,
    config,
    tokens,
    async close() {
      await runs.shutdown(5_000);
      await app.close();
      await store.close();
    },
  };
}

/** A minimal valid spec; the source and injector point at closed loopback ports unless overridden. */
export function specYaml(name: string, opts: { sourceUrl?: string; admin?: string; duration?: string } = {}): string {
  return `apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata:
  name: ${JSON.stringify(name)}
  service: shop
spec:
  source: { kind: prometheus, url: "${opts.sourceUrl ?? 'http://127.0.0.1:9'}", step: 1s, timeout: 10s }
  steadyState:
    - name: checkout-sps
      query: sum(rate(shop_checkouts_total{group="$group"}[5s]))
      direction: decrease
      tolerance: 10%
  fault:
    injector: http-proxy
    params: { admin: "${opts.admin ?? 'http://127.0.0.1:9'}", latencyMs: 300 }
    duration: ${opts.duration ?? '1m'}
  analysis: { minSamples: 20 }
`;
}
