/**
 * A run's own page for people (`GET /runs/:id`), what its script polls
 * (`GET /api/v1/runs/:id/live`) and the script itself (`GET
 * /assets/live-run.js`, from this origin: the CSP allows no other). Viewer
 * role; the Abort and Halt-all forms appear only for roles whose routes allow
 * them, and their writes go through the API routes with the Origin check.
 */
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { AppError } from '../lib/errors.ts';
import { redact } from '../lib/redact.ts';
import { LIVE_PAGE_CSP_HEADER, LIVE_SCRIPT_PATH } from '../reports/html/layout.ts';
import { liveRunView, renderLiveRunPage } from '../reports/html/live-run.ts';
import { loadRunRecord } from '../service/run-views.ts';
import type { Store, StoredRun } from '../store/types.ts';
import type { HttpDeps } from './app.ts';
import { roleAllows } from './auth.ts';
import { LIVE_SCRIPT } from './live-script.ts';
import type { ZodApp } from './types.ts';

const idParams = z.object({ id: z.string().min(1).max(128) });

/** Who may press what: the same roles the API routes declare (admin-routes.ts, run-routes.ts). */
export const ABORT_ROLE = 'operator';
export const HALT_ALL_ROLE = 'operator';

export function sendLiveHtml(reply: FastifyReply, html: string): FastifyReply {
  return reply
    .type('text/html; charset=utf-8')
    .header('content-security-policy', LIVE_PAGE_CSP_HEADER)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    // same-origin, not no-referrer: under no-referrer Chromium may send `Origin: null` with writes.
    .header('referrer-policy', 'same-origin')
    .header('cache-control', 'no-store')
    .send(html);
}

async function mustGet(store: Store, id: string): Promise<StoredRun> {
  const row = await store.runs.get(id);
  if (!row) throw new AppError(`run "${id}" not found`, { code: 'not_found', httpStatus: 404 });
  return row;
}

async function reportInputs(store: Store, row: StoredRun) {
  const record = redact(await loadRunRecord(store, row));
  const version = await store.experiments.getVersion(row.experiment, row.version);
  return { record, spec: version ? redact(version.spec) : undefined, version: row.version };
}

export function registerLiveRoutes(app: ZodApp, deps: HttpDeps): void {
  const { store } = deps;

  app.get('/runs/:id', { config: { access: 'viewer' }, schema: { hide: true, params: idParams } }, async (request, reply) => {
    const row = await mustGet(store, request.params.id);
    const { record, spec, version } = await reportInputs(store, row);
    const role = request.identity?.role ?? 'viewer';
    const html = renderLiveRunPage(record, {
      spec,
      version,
      now: new Date(),
      canAbort: roleAllows(role, ABORT_ROLE),
      canHaltAll: roleAllows(role, HALT_ALL_ROLE),
    });
    return sendLiveHtml(reply, html);
  });

  app.get(
    '/api/v1/runs/:id/live',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['runs'],
        summary: 'What a run page refreshes: state, time left and the rendered report',
        params: idParams,
        response: {
          200: z.object({
            id: z.string(),
            state: z.string(),
            tone: z.string(),
            active: z.boolean(),
            title: z.string(),
            timeLeftMs: z.number().nullable(),
            reason: z.string(),
            report: z.string().describe('the report body as HTML, every user string escaped'),
          }),
        },
      },
    },
    async (request, reply) => {
      const row = await mustGet(store, request.params.id);
      const { record, spec, version } = await reportInputs(store, row);
      return reply.header('cache-control', 'no-store').send(liveRunView(record, { spec, version, now: new Date() }));
    },
  );

  app.get(LIVE_SCRIPT_PATH, { config: { access: 'viewer' }, schema: { hide: true } }, async (_request, reply) =>
    reply
      .type('text/javascript; charset=utf-8')
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .send(LIVE_SCRIPT),
  );
}
