/**
 * `steadystate serve` — for now a minimal service with liveness, readiness and
 * self-metrics; the API, persistence and scheduler come with the service issue.
 */
import Fastify from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { ValidationError } from '../lib/errors.ts';

export function parseHostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ValidationError([{ path: flag, message: `"${text}" is not HOST:PORT (e.g. 127.0.0.1:8080)` }]);
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

export async function serveCommand(opts: { listen: string }): Promise<void> {
  const { host, port } = parseHostPort(opts.listen, '--listen');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'steadystate_' });
  const app = Fastify({ logger: { level: process.env.STEADYSTATE_LOG_LEVEL ?? 'info' } });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => ({ status: 'ready' }));
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  const close = (): void => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', close);
  process.once('SIGINT', close);
  await app.listen({ host, port });
}
