/**
 * /api/v1/experiments — versioned experiment specs, as YAML (`application/yaml`)
 * or JSON. Every problem comes back as `errors: [{ path, message, line? }]`.
 */
import { z } from 'zod';
import { ValidationError } from '../lib/errors.ts';
import { redact } from '../lib/redact.ts';
import { redactSpecSource } from '../lib/redact-source.ts';
import { policyIssues } from '../service/spec-checks.ts';
import { parseExperiment, validateExperiment } from '../spec/load.ts';
import type { Experiment } from '../spec/schema.ts';
import { ConflictError } from '../store/errors.ts';
import type { ExperimentVersion, SpecFormat } from '../store/types.ts';
import { actorOf } from './auth.ts';
import { checkParsedValue, tooDeep, yamlTextTooDeep } from './body-guards.ts';
import type { HttpDeps } from './app.ts';
import type { ZodApp } from './types.ts';

const nameParams = z.object({ name: z.string().min(1).max(128) });

/** An experiment as viewers see it: the spec and its source text redacted (header values, URL secrets, keys). */
function view(v: ExperimentVersion) {
  return {
    name: v.name,
    version: v.version,
    createdAt: v.createdAt,
    createdBy: v.createdBy,
    format: v.format,
    spec: redact(v.spec),
    source: redactSpecSource(v.source, v.format),
  };
}

/** Parse a body into a validated experiment plus the text to store. */
function parseBody(body: unknown, deps: HttpDeps): { experiment: Experiment; source: string; format: SpecFormat } {
  let result;
  let source: string;
  let format: SpecFormat;
  if (typeof body === 'string') {
    if (Buffer.byteLength(body, 'utf8') > deps.config.limits.maxSpecBytes) {
      throw new ValidationError([{ path: '(body)', message: `spec is larger than ${deps.config.limits.maxSpecBytes} bytes` }]);
    }
    // Before the YAML parser: 20,000 nested `- ` entries exhaust its memory.
    if (yamlTextTooDeep(body)) throw tooDeep();
    result = parseExperiment(body);
    source = body;
    format = 'yaml';
  } else if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    source = JSON.stringify(body, null, 2);
    if (Buffer.byteLength(source, 'utf8') > deps.config.limits.maxSpecBytes) {
      throw new ValidationError([{ path: '(body)', message: `spec is larger than ${deps.config.limits.maxSpecBytes} bytes` }]);
    }
    result = validateExperiment(body);
    format = 'json';
  } else {
    throw new ValidationError([{ path: '(body)', message: 'send the spec as YAML (Content-Type: application/yaml) or as a JSON object' }]);
  }
  if (!result.ok) throw new ValidationError(result.issues, 'the experiment spec is invalid');
  // YAML can spell a NUL ("\0") and nest inside free-form params; JSON bodies were checked on parsing.
  checkParsedValue(result.experiment);
  const policy = policyIssues(result.experiment, deps.config);
  if (policy.length > 0) throw new ValidationError(policy, 'the experiment is not allowed by this service');
  return { experiment: result.experiment, source, format };
}

export function registerExperimentRoutes(app: ZodApp, deps: HttpDeps): void {
  const { store } = deps;
  const specBody = { bodyLimit: deps.config.limits.maxSpecBytes + 1024 };

  app.post(
    '/api/v1/experiments',
    { ...specBody, config: { access: 'admin' }, schema: { tags: ['experiments'], summary: 'Create an experiment (YAML or JSON spec)' } },
    async (request, reply) => {
      const { experiment, source, format } = parseBody(request.body, deps);
      const name = experiment.metadata.name;
      const created = await store.experiments.create({ name, spec: experiment, source, format, actor: actorOf(request) }).catch((err: unknown) => {
        // Say what to do: a new version goes through PUT (which `steadystate apply` uses).
        if (err instanceof ConflictError && err.code === 'experiment_exists') {
          throw new ConflictError(`experiment "${name}" already exists; to change it, use PUT /api/v1/experiments/${encodeURIComponent(name)} or \`steadystate apply\``, 'experiment_exists');
        }
        throw err;
      });
      return reply.code(201).send({ experiment: view(created) });
    },
  );

  app.get('/api/v1/experiments', { config: { access: 'viewer' }, schema: { tags: ['experiments'] } }, async () => ({
    experiments: (await store.experiments.list()).map(view),
  }));

  app.get(
    '/api/v1/experiments/:name',
    { config: { access: 'viewer' }, schema: { tags: ['experiments'], params: nameParams } },
    async (request, reply) => {
      const found = await store.experiments.get(request.params.name);
      if (!found) return reply.code(404).send({ error: 'not_found', message: `experiment "${request.params.name}" not found` });
      return { experiment: view(found) };
    },
  );

  app.get(
    '/api/v1/experiments/:name/versions',
    { config: { access: 'viewer' }, schema: { tags: ['experiments'], params: nameParams } },
    async (request) => ({ versions: (await store.experiments.versions(request.params.name)).map(view) }),
  );

  app.put(
    '/api/v1/experiments/:name',
    { ...specBody, config: { access: 'admin' }, schema: { tags: ['experiments'], params: nameParams, summary: 'A new version of an experiment' } },
    async (request) => {
      const { experiment, source, format } = parseBody(request.body, deps);
      if (experiment.metadata.name !== request.params.name) {
        throw new ValidationError([{ path: 'metadata.name', message: `must be "${request.params.name}", the name in the URL` }]);
      }
      const updated = await store.experiments.update(request.params.name, { spec: experiment, source, format, actor: actorOf(request) });
      return { experiment: view(updated) };
    },
  );

  app.delete(
    '/api/v1/experiments/:name',
    { config: { access: 'admin' }, schema: { tags: ['experiments'], params: nameParams } },
    async (request, reply) => {
      await store.experiments.delete(request.params.name, actorOf(request));
      return reply.code(204).send();
    },
  );
}
