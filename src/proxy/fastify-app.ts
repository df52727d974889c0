/**
 * A fastify instance configured the way both proxy listeners want it: no
 * per-request logging (the data plane would log every proxied request), our
 * pino logger when one is given, and room for long path parameters.
 */
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';

export function createFastify(logger: Logger | undefined, component: string, maxParamLength: number): FastifyInstance {
  const base = {
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength },
  };
  // One cast: with a logger instance fastify's type carries pino's Logger generic, which no caller needs.
  return (
    logger ? Fastify({ ...base, loggerInstance: logger.child({ component }) }) : Fastify({ ...base, logger: false })
  ) as FastifyInstance;
}
