/**
 * The proxy's admin API: open, read and close fault windows; health; metrics.
 * On its own address so it can be bound to a private interface while the data
 * plane faces clients: whoever reaches it can inject faults.
 *
 * Bodies are validated with the shared zod schema; every bad body is a 400
 * naming the field, never a 5xx. The Host header must be an IP address,
 * localhost or a configured name (DNS rebinding): 403 otherwise.
 */
import { isIP } from 'node:net';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AppError } from '../lib/errors.ts';
import { createFastify } from './fastify-app.ts';
import { type FaultWindows, WindowNotFoundError } from './fault-windows.ts';
import type { ProxyMetrics } from './proxy-metrics.ts';
import { openWindowRequestSchema, updateWindowRequestSchema } from './window-schema.ts';
import { toValidationError } from './zod-issues.ts';

export interface AdminApiDeps {
  windows: FaultWindows;
  /** The single-process proxy's metrics; or `exposition`, which the cluster's primary aggregates from its workers. */
  metrics?: ProxyMetrics;
  exposition?: { text: () => Promise<string>; contentType: string };
  /** Resolves once every worker applies the window just opened or closed (cluster only). */
  sync?: () => Promise<void>;
  /** GET /workers: the workers, as the cluster's primary sees them (cluster only). */
  workers?: () => Promise<object[]>;
  logger?: Logger | undefined;
  /** Host names (besides IP addresses and localhost) the admin API answers to: its --admin host and --admin-host. */
  hostNames?: readonly string[];
}

export class HostNotAllowedError extends AppError {
  constructor(host: string) {
    super(
      `the admin API does not answer to Host "${host.slice(0, 100)}": use an IP address or localhost, or start the proxy with --admin-host ${host.slice(0, 100).replace(/:\d+$/, '')}`,
      { code: 'host_not_allowed', httpStatus: 403 },
    );
  }
}

/** The name in a Host header, without port or IPv6 brackets, lower-cased; undefined when malformed. */
export function hostNameOf(host: string | undefined): string | undefined {
  if (typeof host !== 'string' || host === '') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/.exec(host);
  return (m?.[1] ?? m?.[2])?.toLowerCase();
}

/**
 * DNS rebinding defence: a hostile page whose name is made to resolve to the
 * proxy sends its own name as Host. An IP literal or localhost cannot be
 * rebound; other names must be configured.
 */
export function isAllowedAdminHost(host: string | undefined, names: readonly string[]): boolean {
  const name = hostNameOf(host);
  if (name === undefined) return false;
  return isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || names.some((n) => n.toLowerCase() === name);
}

export function buildAdminApp(deps: AdminApiDeps): FastifyInstance {
  const { windows, sync } = deps;
  const registry = deps.metrics?.registry;
  const exposition = deps.exposition ?? (registry ? { text: () => registry.metrics(), contentType: registry.contentType } : undefined);
  if (!exposition) throw new Error('buildAdminApp: metrics or exposition is required');
  // Window ids are run ids of up to 256 characters; the router's default cap on a path parameter is 100.
  const app = createFastify(deps.logger, 'proxy-admin', 512);
  const names = deps.hostNames ?? [];
  app.addHook('onRequest', async (request) => {
    if (!isAllowedAdminHost(request.headers.host, names)) throw new HostNotAllowedError(request.headers.host ?? '');
  });

  app.setErrorHandler((err: FastifyError | AppError, request, reply) => {
    if (err instanceof AppError) {
      return reply.code(err.httpStatus).send(err.toJSON());
    }
    // Fastify's own client errors (malformed JSON, empty body, wrong content type), in our error shape.
    const status = err.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply
        .code(status)
        .send({ error: 'invalid_input', message: err.message, retryable: false, errors: [{ path: '(body)', message: err.message }] });
    }
    request.log.error({ err }, 'admin request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error', retryable: true });
  });

  app.post('/windows', async (request, reply) => {
    const parsed = openWindowRequestSchema.safeParse(request.body);
    if (!parsed.success) throw toValidationError(parsed.error);
    const view = windows.open(parsed.data);
    await sync?.();
    return reply.code(201).send(view);
  });

  /** The open window, if any: what an operator asks first. */
  app.get('/windows', (_request, reply) => {
    const active = windows.active();
    return reply.send({ open: active ? (windows.get(active.id) ?? null) : null });
  });

  app.get<{ Params: { id: string } }>('/windows/:id', (request, reply) => {
    const view = windows.get(request.params.id);
    if (!view) throw new WindowNotFoundError(request.params.id);
    return reply.send(view);
  });

  // A fault ladder's next step (ADR 022): the open window's fault, replaced whole; 409 once it is closed.
  app.patch<{ Params: { id: string } }>('/windows/:id', async (request, reply) => {
    const parsed = updateWindowRequestSchema.safeParse(request.body);
    if (!parsed.success) throw toValidationError(parsed.error);
    const view = windows.update(request.params.id, parsed.data);
    await sync?.();
    return reply.send(view);
  });

  // Idempotent: closing a closed window is a success, so a retried close cannot fail.
  app.delete<{ Params: { id: string } }>('/windows/:id', async (request, reply) => {
    const view = windows.close(request.params.id);
    if (!view) throw new WindowNotFoundError(request.params.id);
    await sync?.();
    return reply.code(204).send();
  });

  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok', windowOpen: windows.isOpen() }));

  app.get('/metrics', async (_request, reply) => {
    const text = await exposition.text();
    return reply.type(exposition.contentType).send(text);
  });

  const workers = deps.workers;
  if (workers) app.get('/workers', async (_request, reply) => reply.send({ workers: await workers() }));

  return app;
}
