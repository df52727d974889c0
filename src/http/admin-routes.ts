/**
 * The big red button (halt-all) and token management.
 */
import { z } from 'zod';
import { ROLES } from '../store/types.ts';
import { actorOf } from './auth.ts';
import { reasonBody } from './schemas.ts';
import type { HttpDeps } from './app.ts';
import type { ZodApp } from './types.ts';

export function registerAdminRoutes(app: ZodApp, deps: HttpDeps): void {
  const { store, runs } = deps;

  app.get('/api/v1/halt-all', { config: { access: 'viewer' }, schema: { tags: ['halt-all'] } }, async () => ({
    haltAll: await store.settings.haltAll(),
  }));

  app.post(
    '/api/v1/halt-all',
    { config: { access: 'operator' }, schema: { tags: ['halt-all'], summary: 'Close every open window now and block new starts; the reason is kept on the switch and the runs it ends', body: reasonBody } },
    async (request) => {
      const { halted } = await runs.haltAll(actorOf(request), request.body?.reason);
      return { haltAll: await store.settings.haltAll(), halted };
    },
  );

  app.delete('/api/v1/halt-all', { config: { access: 'admin' }, schema: { tags: ['halt-all'] } }, async (request) => ({
    haltAll: await store.settings.clearHaltAll(actorOf(request)),
  }));

  app.post(
    '/api/v1/tokens',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tokens'],
        summary: 'Create a token; the token itself is shown once',
        body: z.strictObject({ name: z.string().min(1).max(100), role: z.enum(ROLES as ['viewer', 'operator', 'admin']) }),
      },
    },
    async (request, reply) => {
      const created = await store.tokens.create(request.body);
      return reply.code(201).send({ token: created });
    },
  );

  app.get('/api/v1/tokens', { config: { access: 'admin' }, schema: { tags: ['tokens'] } }, async () => ({ tokens: await store.tokens.list() }));

  app.delete(
    '/api/v1/tokens/:id',
    { config: { access: 'admin' }, schema: { tags: ['tokens'], params: z.object({ id: z.string().min(1).max(100) }) } },
    async (request) => ({ token: await store.tokens.revoke(request.params.id) }),
  );
}
