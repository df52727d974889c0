/**
 * The OpenAPI document at /docs: both ways in (a bearer token, or the browser
 * session cookie from /login), request and response schemas from the same zod
 * schemas the routes validate with, and — for the experiment routes, whose
 * bodies are parsed by the spec loader (YAML with line numbers) rather than by
 * a route schema — the spec's own schema (src/spec/schema.ts) as JSON Schema
 * for both `application/yaml` and `application/json`.
 */
import type { SwaggerOptions } from '@fastify/swagger';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { experimentOpenApiSchema } from '../spec/json-schema.ts';
import { SESSION_COOKIE } from './cookies.ts';
import { errorResponse } from './schemas.ts';

const toJson = (schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

/**
 * The spec as users write it (durations as text, defaults optional), with the
 * field descriptions: the generator behind `steadystate schema` and
 * docs/spec.md, in the OpenAPI 3.0 dialect (src/spec/json-schema.ts).
 */
export const EXPERIMENT_JSON_SCHEMA = experimentOpenApiSchema();
const ERROR_JSON_SCHEMA = toJson(errorResponse, 'output');

const experimentView = z.object({
  experiment: z.object({
    name: z.string(),
    version: z.number().int(),
    createdAt: z.string(),
    createdBy: z.string(),
    format: z.enum(['yaml', 'json']),
    spec: z.record(z.string(), z.unknown()).describe('the parsed spec (durations in ms), secrets redacted'),
    source: z.string().describe('the spec as submitted, secrets redacted'),
  }),
});
const EXPERIMENT_VIEW_JSON_SCHEMA = toJson(experimentView, 'output');

const json = (schema: Record<string, unknown>, description: string) => ({ description, content: { 'application/json': { schema } } });
const SPEC_BODY = {
  content: {
    'application/yaml': { schema: EXPERIMENT_JSON_SCHEMA },
    'application/json': { schema: EXPERIMENT_JSON_SCHEMA },
  },
};

/** Routes whose body is a spec, and what they answer. */
const SPEC_ROUTES: Record<string, number> = { 'POST /api/v1/experiments': 201, 'PUT /api/v1/experiments/:name': 200 };

export function openApiOptions(): SwaggerOptions {
  return {
    openapi: {
      info: { title: 'steadystate', version: '0.1.0', description: 'Chaos experiments as controlled experiments.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API token (`steadystate token create`). Scripts, CLIs and CI use this.' },
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: SESSION_COOKIE,
            description: 'The browser session opened by POST /login. Writes on it also need this site\'s Origin header.',
          },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
    transform: (input) => {
      const out = jsonSchemaTransform(input);
      const schema = { ...(out.schema as Record<string, unknown>) };
      const methods = [input.route.method].flat();
      const specStatus = methods.map((m) => SPEC_ROUTES[`${m} ${input.url}`]).find((s) => s !== undefined);
      if (specStatus !== undefined) {
        schema.body = SPEC_BODY;
        schema.response = {
          [specStatus]: json(EXPERIMENT_VIEW_JSON_SCHEMA, 'the experiment version stored'),
          415: json(ERROR_JSON_SCHEMA, 'send content-type application/yaml or application/json'),
        };
      }
      const response = { ...((schema.response as Record<string, unknown> | undefined) ?? {}) };
      response['4XX'] ??= json(ERROR_JSON_SCHEMA, 'bad input, no credential, not allowed, not found or a conflict: `message` says which and what to do');
      schema.response = response;
      return { ...out, schema };
    },
  };
}
