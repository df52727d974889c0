/**
 * /api/v1/runs — start, watch, abort runs and fetch their reports.
 */
import { z } from 'zod';
import { ACTIVE_STATES, TERMINAL_STATES } from '../engine/types.ts';
import { AppError } from '../lib/errors.ts';
import { redact } from '../lib/redact.ts';
import { renderMarkdownReport } from '../reports/markdown-report.ts';
import { runSummary } from '../reports/run-summary.ts';
import { loadRunRecord } from '../service/run-views.ts';
import type { StoredRun } from '../store/types.ts';
import { actorOf } from './auth.ts';
import { reasonBody } from './schemas.ts';
import type { HttpDeps } from './app.ts';
import type { ZodApp } from './types.ts';

const idParams = z.object({ id: z.string().min(1).max(128) });
const STATES = [...ACTIVE_STATES, ...TERMINAL_STATES] as const;

/** A run row as the API shows it (no injector handle: that is for closing, not reading). */
export function runRowView(row: StoredRun) {
  const { window, ...rest } = row;
  return redact({
    ...rest,
    window: window ? { ...window, handle: undefined } : null,
    links: { self: `/api/v1/runs/${encodeURIComponent(row.id)}`, events: `/api/v1/runs/${encodeURIComponent(row.id)}/events` },
  });
}

export function registerRunRoutes(app: ZodApp, deps: HttpDeps): void {
  const { store, runs } = deps;

  const mustGet = async (id: string): Promise<StoredRun> => {
    const row = await store.runs.get(id);
    if (!row) throw new AppError(`run "${id}" not found`, { code: 'not_found', httpStatus: 404 });
    return row;
  };

  app.post(
    '/api/v1/experiments/:name/runs',
    {
      config: { access: 'operator', startsRuns: true },
      schema: {
        tags: ['runs'],
        summary: 'Start a run of the latest version; Idempotency-Key makes retries safe',
        params: z.object({ name: z.string().min(1).max(128) }),
        headers: z.looseObject({ 'idempotency-key': z.string().min(1).max(200).optional() }),
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const { run, created } = await runs.start(request.params.name, {
        actor: actorOf(request),
        ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
      });
      return reply.code(created ? 201 : 200).send({ run: runRowView(run), created });
    },
  );

  app.get(
    '/api/v1/runs',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['runs'],
        querystring: z.object({
          experiment: z.string().min(1).max(128).optional(),
          state: z.enum(STATES).optional(),
          limit: z.coerce.number().int().min(1).max(500).optional(),
          before: z.string().min(1).max(128).optional(),
        }),
      },
    },
    async (request) => {
      const q = request.query;
      const rows = await store.runs.list({
        ...(q.experiment ? { experiment: q.experiment } : {}),
        ...(q.state ? { state: q.state } : {}),
        ...(q.limit ? { limit: q.limit } : {}),
        ...(q.before ? { before: q.before } : {}),
      });
      return { runs: rows.map(runRowView) };
    },
  );

  app.get('/api/v1/runs/:id', { config: { access: 'viewer' }, schema: { tags: ['runs'], params: idParams } }, async (request) => {
    const row = await mustGet(request.params.id);
    const record = await loadRunRecord(store, row);
    return redact({
      run: {
        ...runSummary(record).run,
        version: row.version,
        actor: row.actor,
        series: record.series,
      },
    });
  });

  app.get(
    '/api/v1/runs/:id/events',
    {
      config: { access: 'viewer' },
      schema: { tags: ['runs'], params: idParams, querystring: z.object({ after: z.coerce.number().int().min(0).optional() }) },
    },
    async (request) => {
      await mustGet(request.params.id);
      const events = await store.runs.events(request.params.id, request.query.after !== undefined ? { after: request.query.after } : {});
      return redact({ events });
    },
  );

  app.post(
    '/api/v1/runs/:id/abort',
    { config: { access: 'operator' }, schema: { tags: ['runs'], summary: 'Abort a run (closes its fault window); the reason is recorded on it', params: idParams, body: reasonBody } },
    async (request) => {
      const row = await runs.abort(request.params.id, actorOf(request), request.body?.reason);
      return { run: runRowView(row) };
    },
  );

  app.get(
    '/api/v1/runs/:id/report.json',
    { config: { access: 'viewer' }, schema: { tags: ['reports'], params: idParams } },
    async (request) => {
      const row = await mustGet(request.params.id);
      const record = await loadRunRecord(store, row);
      const version = await store.experiments.getVersion(row.experiment, row.version);
      const { window: _w, ...detail } = record;
      return redact({ ...runSummary(record), detail: { ...detail, events: record.events }, spec: version?.spec ?? null });
    },
  );

  app.get(
    '/api/v1/runs/:id/report.md',
    { config: { access: 'viewer' }, schema: { tags: ['reports'], params: idParams } },
    async (request, reply) => {
      const row = await mustGet(request.params.id);
      const record = await loadRunRecord(store, row);
      // The spec gives the metrics' units and the guardrails' thresholds.
      const version = await store.experiments.getVersion(row.experiment, row.version);
      return reply.type('text/markdown; charset=utf-8').send(renderMarkdownReport(redact(record), version?.spec ? redact(version.spec) : undefined));
    },
  );
}
