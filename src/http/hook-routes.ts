/**
 * Trigger routes.
 *
 * `POST /hooks/deploy/{provider}` — deploy webhooks (src/triggers). Public at
 * the token layer: the sender proves itself with the provider's signature or
 * shared secret, checked by the provider over the raw bytes. The routes live
 * in their own encapsulated scope whose only content-type parser hands over
 * the body as a Buffer, untouched: a signature computed over the bytes GitHub
 * sent cannot be checked against a re-serialised JSON. The app-wide body
 * limit still applies.
 *
 * `GET /api/v1/schedules` (viewer) — every scheduled experiment with its
 * schedule and next tick, and the recent tick decisions (started, or skipped
 * and why).
 */
import type { Logger } from 'pino';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ServiceConfig } from '../config.ts';
import type { RunService } from '../service/run-service.ts';
import type { Store } from '../store/types.ts';
import { DeployHooks } from '../triggers/deploy-hooks.ts';
import type { ScheduleSpec } from '../triggers/schedule-schema.ts';
import type { Scheduler } from '../triggers/scheduler.ts';
import type { TriggerRepository } from '../triggers/trigger-store.ts';
import type { ZodApp } from './types.ts';

export interface HookRouteDeps {
  store: Pick<Store, 'experiments'>;
  runs: Pick<RunService, 'start'>;
  triggers: TriggerRepository;
  config: Pick<ServiceConfig, 'webhookSecrets' | 'publicUrl'>;
  logger: Logger;
  /** The live scheduler, for next ticks; absent when this replica runs none. */
  scheduler?: Pick<Scheduler, 'describe'>;
  now?: () => number;
}

export function registerHookRoutes(app: ZodApp, deps: HookRouteDeps): void {
  const hooks = new DeployHooks({
    experiments: deps.store.experiments,
    runs: deps.runs,
    triggers: deps.triggers,
    secrets: deps.config.webhookSecrets,
    publicUrl: deps.config.publicUrl,
    logger: deps.logger,
    ...(deps.now ? { now: deps.now } : {}),
  });

  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    scope.withTypeProvider<ZodTypeProvider>().post(
      '/hooks/deploy/:provider',
      {
        config: { access: 'public' },
        schema: {
          tags: ['triggers'],
          summary: 'A deploy happened: start the experiments tagged for its service and environment (signed; see docs/triggers)',
          security: [],
          params: z.object({ provider: z.string().min(1).max(64) }),
        },
      },
      async (request, reply) => {
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const answer = await hooks.receive(request.params.provider, { headers: request.headers, body });
        return reply.code(answer.status).send(answer.body);
      },
    );
  });

  app.get(
    '/api/v1/schedules',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['triggers'],
        summary: 'Scheduled experiments, their next tick, and recent tick decisions',
        querystring: z.object({
          experiment: z.string().min(1).max(128).optional(),
          limit: z.coerce.number().int().min(1).max(500).optional(),
        }),
      },
    },
    async (request) => {
      const next = new Map((deps.scheduler?.describe() ?? []).map((d) => [d.experiment, d.next]));
      const schedules = (await deps.store.experiments.list())
        .filter((e) => e.spec.spec.schedule !== undefined && (request.query.experiment === undefined || e.name === request.query.experiment))
        .map((e) => ({ experiment: e.name, version: e.version, schedule: e.spec.spec.schedule as ScheduleSpec, next: next.get(e.name) ?? null }));
      const ticks = await deps.triggers.ticks({
        ...(request.query.experiment ? { experiment: request.query.experiment } : {}),
        limit: request.query.limit ?? 50,
      });
      return { scheduler: deps.scheduler ? 'running' : 'off', schedules, ticks };
    },
  );
}
