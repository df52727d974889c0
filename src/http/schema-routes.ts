/**
 * GET /api/v1/schema: the spec's JSON Schema (draft-07), the same document as
 * `steadystate schema` and schema/experiment.schema.json. Public, like
 * /healthz: it holds nothing about this service but the spec format and the
 * adapter kinds it knows, and an editor fetching it (yaml-language-server's
 * `$schema=https://…/api/v1/schema`) cannot send a token.
 */
import { experimentJsonSchema, type JsonSchema } from '../spec/json-schema.ts';
import type { ZodApp } from './types.ts';

let cached: string | undefined;

/** Built once per process: the schema only changes with the code. */
function schemaText(): string {
  cached ??= JSON.stringify(experimentJsonSchema() satisfies JsonSchema);
  return cached;
}

export function registerSchemaRoutes(app: ZodApp): void {
  app.get(
    '/api/v1/schema',
    { config: { access: 'public' }, schema: { tags: ['experiments'], summary: 'The experiment spec as JSON Schema (draft-07), for editors and tools; no credential needed' } },
    async (_request, reply) => reply.type('application/schema+json; charset=utf-8').send(schemaText()),
  );
}
