/**
 * The HTTP layer: thin. Routes validate with zod schemas (the same ones the
 * OpenAPI document at /docs is generated from), call the store or the run
 * service, and map errors to 4xx answers that say what is wrong. A 5xx means a
 * bug or a dead dependency, never bad input.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyError } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ServiceConfig } from '../config.ts';
import { AppError } from '../lib/errors.ts';
import type { RunService } from '../service/run-service.ts';
import type { Store } from '../store/types.ts';
import { registerAuth } from './auth.ts';
import { BodyShapeError, checkParsedValue, jsonTextTooDeep, tooDeep } from './body-guards.ts';
import { registerExperimentRoutes } from './experiment-routes.ts';
import { registerLiveRoutes } from './live-routes.ts';
import { registerLoginRoutes } from './login-routes.ts';
import { openApiOptions } from './openapi.ts';
import { registerPageRoutes } from './page-routes.ts';
import { registerRunRoutes } from './run-routes.ts';
import { registerAdminRoutes } from './admin-routes.ts';
import { registerHookRoutes } from './hook-routes.ts';
import { registerSchemaRoutes } from './schema-routes.ts';
import type { Scheduler } from '../triggers/scheduler.ts';
import type { ZodApp } from './types.ts';

export interface HttpDeps {
  store: Store;
  runs: RunService;
  config: Pick<ServiceConfig, 'limits' | 'allowedHosts' | 'publicUrl' | 'webhookSecrets'> & Partial<Pick<ServiceConfig, 'security'>>;
  scheduler?: Scheduler;
  logger: Logger;
  metrics: Registry;
}

export interface RouteEntry {
  method: string;
  url: string;
  access: string | undefined;
}

const registeredRoutes = new WeakMap<object, RouteEntry[]>();

/** Every route the app registered, with the access it declared (tests check nothing is left open). */
export function routesOf(app: object): RouteEntry[] {
  return registeredRoutes.get(app) ?? [];
}

/**
 * Spec bodies come as YAML or JSON, including vendor `+yaml` / `+json` forms,
 * and nothing else. text/plain in particular is refused: a page on another
 * site can send it without a CORS preflight.
 */
export const YAML_TYPE_RE = /^application\/(?:[\w.!#$&^-]+\+)?yaml\s*(?:;|$)/i;
export const JSON_TYPE_RE = /^application\/(?:[\w.!#$&^-]+\+)?json\s*(?:;|$)/i;
export const UNSUPPORTED_TYPE_MESSAGE = 'send content-type application/yaml or application/json';

/** A NUL byte (raw or %00) anywhere in the URL: PostgreSQL cannot hold it, so no route can use it. */
const hasNul = (url: string): boolean => url.includes('\u0000') || /%00/i.test(url);

export async function buildHttpApp(deps: HttpDeps): Promise<ZodApp> {
  const app = Fastify({
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- pino's Logger is wider than fastify's logger type
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.config.limits.maxBodyBytes,
    // Long, odd or hostile URLs are a 4xx, not a crash.
    routerOptions: { maxParamLength: 512 },
  }).withTypeProvider<ZodTypeProvider>();
  const routes: RouteEntry[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      routes.push({ method, url: route.url, access: route.config?.access });
    }
  });
  registeredRoutes.set(app, routes);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // YAML specs arrive as text; the spec loader parses them with line numbers (after a depth check).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(YAML_TYPE_RE, { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser(JSON_TYPE_RE, { parseAs: 'string' }, (req, body, done) => {
    if (typeof body === 'string' && jsonTextTooDeep(body)) return done(tooDeep(), undefined);
    void parseJson(req, typeof body === 'string' ? body : body.toString('utf8'), (err, value) => {
      if (err) return done(err, undefined);
      try {
        checkParsedValue(value);
      } catch (e) {
        return done(e as Error, undefined);
      }
      done(null, value);
    });
  });
  app.addHook('onRequest', async (request) => {
    if (hasNul(request.url)) throw new BodyShapeError('the URL contains a NUL byte (%00); remove it');
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      return reply.code(400).send({
        error: 'invalid_input',
        message: 'the request does not match the API schema',
        errors: error.validation.map((v) => ({
          path: `${error.validationContext ?? 'body'}${v.instancePath.replace(/\//g, '.')}`,
          message: v.message ?? 'invalid',
        })),
      });
    }
    if (error instanceof AppError) {
      if (error.httpStatus >= 500) request.log.error({ err: error }, error.message);
      return reply.code(error.httpStatus).send(error.toJSON());
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send({ error: 'unsupported_media_type', message: `${UNSUPPORTED_TYPE_MESSAGE} (got ${JSON.stringify(request.headers['content-type'] ?? 'none')})` });
    }
    // Fastify's own client errors: body too large, bad JSON, bad URL…
    const status = error.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).send({ error: (error.code ?? 'bad_request').toLowerCase(), message: error.message });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ error: 'internal', message: 'internal error; see the service log' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` }),
  );

  await app.register(swagger, openApiOptions());
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // A burst of starts is answered before its runs begin their start-up (StartSlots); a start
  // request counts from its arrival, before its credentials are looked up, to its response's end.
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config?.startsRuns) reply.raw.once('close', deps.runs.holdStartUps());
  });
  registerAuth(app, deps.store, deps.config.publicUrl);

  app.get('/healthz', { config: { access: 'public' }, schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { access: 'viewer' }, schema: { hide: true } }, async (_req, reply) => {
    try {
      await deps.store.ping();
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', message: 'the store is not reachable' });
    }
  });
  app.get('/metrics', { config: { access: 'viewer' }, schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', deps.metrics.contentType);
    return deps.metrics.metrics();
  });

  registerExperimentRoutes(app, deps);
  registerSchemaRoutes(app);
  registerRunRoutes(app, deps);
  registerPageRoutes(app, deps);
  registerLiveRoutes(app, deps);
  registerLoginRoutes(app, deps);
  registerAdminRoutes(app, deps);
  registerHookRoutes(app, { triggers: deps.store.triggers, ...deps });
  return app;
}

