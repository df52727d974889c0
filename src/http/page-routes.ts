/**
 * Pages for people: `GET /` (recent runs) and
 * `GET /api/v1/runs/:id/report.html`. Read-only, viewer role, a bearer token
 * or the browser session from /login (auth.ts). The report is script-free
 * HTML under a CSP that allows only inline styles; the index loads only our
 * own same-origin script (for Log out) and no inline script, so a hostile
 * experiment name cannot run anything even if escaping failed.
 */
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { AppError } from '../lib/errors.ts';
import { redact } from '../lib/redact.ts';
import { renderHtmlReport } from '../reports/html/html-report.ts';
import { PAGE_CSP_HEADER } from '../reports/html/layout.ts';
import { renderRunIndex } from '../reports/html/run-index.ts';
import { loadRunRecord } from '../service/run-views.ts';
import type { HttpDeps } from './app.ts';
import { sendLiveHtml } from './live-routes.ts';
import type { ZodApp } from './types.ts';

const DEFAULT_LIMIT = 50;

function sendHtml(reply: FastifyReply, html: string): FastifyReply {
  return reply
    .type('text/html; charset=utf-8')
    .header('content-security-policy', PAGE_CSP_HEADER)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    // Behind a token: no shared cache may keep it.
    .header('cache-control', 'no-store')
    .send(html);
}

export function registerPageRoutes(app: ZodApp, deps: HttpDeps): void {
  const { store } = deps;

  app.get(
    '/',
    {
      config: { access: 'viewer' },
      schema: {
        hide: true,
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(500).optional(),
          before: z.string().min(1).max(128).optional(),
          experiment: z.string().min(1).max(128).optional(),
        }),
      },
    },
    async (request, reply) => {
      const { limit = DEFAULT_LIMIT, before, experiment } = request.query;
      // One more than shown tells whether there is an older page.
      const rows = await store.runs.list({ limit: Math.min(limit + 1, 500), ...(before ? { before } : {}), ...(experiment ? { experiment } : {}) });
      const shown = rows.slice(0, limit);
      const last = shown[shown.length - 1];
      const html = renderRunIndex(
        redact(shown).map((r) => ({
          id: r.id,
          experiment: r.experiment,
          version: r.version,
          state: r.state,
          verdict: r.verdict,
          reason: r.reason,
          startedAt: r.startedAt,
          endedAt: r.endedAt,
          actor: r.actor,
        })),
        { now: new Date(), limit, ...(experiment ? { experiment } : {}), ...(rows.length > limit && last ? { olderThan: last.id } : {}) },
      );
      return sendLiveHtml(reply, html);
    },
  );

  app.get(
    '/api/v1/runs/:id/report.html',
    {
      config: { access: 'viewer' },
      schema: { tags: ['reports'], summary: 'The run report as one self-contained HTML page', params: z.object({ id: z.string().min(1).max(128) }) },
    },
    async (request, reply) => {
      const row = await store.runs.get(request.params.id);
      if (!row) throw new AppError(`run "${request.params.id}" not found`, { code: 'not_found', httpStatus: 404 });
      const record = await loadRunRecord(store, row);
      const version = await store.experiments.getVersion(row.experiment, row.version);
      const html = renderHtmlReport(redact(record), { spec: version ? redact(version.spec) : undefined, version: row.version });
      return sendHtml(reply, html);
    },
  );
}
