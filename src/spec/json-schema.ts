/**
 * The experiment spec as JSON Schema, generated from the zod schema
 * (schema.ts) and the adapters' own schemas, so editors, `steadystate schema`,
 * `GET /api/v1/schema`, the OpenAPI document and docs/spec.md all say what
 * `validate` accepts. zod's converter does most of the work; this module adds
 * what it cannot see:
 * - durations, percentages and tolerances are written as text and parsed by a
 *   transform: their text forms become patterns, their defaults text again;
 * - `spec.source` and `spec.fault.params` are checked by the adapter named in
 *   `kind` / `injector`, and a guardrail's kind is chosen from its keys: both
 *   become `if`/`then` branches (draft-07), so an editor checks the fields of
 *   the adapter or kind the user meant and flags a misspelled one;
 * - `query:` may be a `{ template, vars }` from the query library;
 * - every field's description, unit and example (field-docs.ts).
 * The OpenAPI 3.0 target has no `if`/`then`: there guardrails are `anyOf` the
 * three kinds and adapter parts stay open (the draft-07 schema has them).
 */
import { z } from 'zod';
import { injectorRegistry, knownInjectorKinds } from '../injectors/registry.ts';
import { formatDuration } from '../lib/duration.ts';
import { knownSourceKinds, metricSourceRegistry } from '../metric-sources/registry.ts';
import { templateRef } from '../queries/spec-query.ts';
import { durationMs, fraction, tolerance } from './fields.ts';
import { applyFieldDocs, type FieldRow } from './field-walk.ts';
import { compareGuardrail, experimentSchema, sloGuardrail, thresholdGuardrail } from './schema.ts';

export type SchemaTarget = 'draft-7' | 'openapi-3.0';
export type JsonSchema = Record<string, unknown>;

/** Where the committed copy lives (examples point their modeline at it). */
export const SCHEMA_FILE = 'schema/experiment.schema.json';

const DURATION_PATTERN = '^\\s*(\\d+(\\.\\d+)?(ms|s|m|h|d|w))+\\s*$';
const PERCENT_PATTERN = '^\\s*-?\\d+(\\.\\d+)?\\s*%\\s*$';
const TOLERANCE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*%\\s*$';

/** Adapter fields that must never be in a spec (secrets): absent from the schema, so editors flag them. */
const NEVER_IN_SPEC: Record<string, string[]> = { datadog: ['apiKey', 'appKey', 'applicationKey'] };

type Def = { type: string; in?: { _zod: { def: Def } }; out?: z.ZodType; defaultValue?: unknown };
const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;
const TEXT_KINDS = new Map<unknown, string>([
  [defOf(durationMs).in, 'duration'],
  [defOf(fraction).in, 'fraction'],
  [defOf(tolerance).in, 'tolerance'],
]);

/** zod → JSON Schema for one schema, marking text-parsed fields (`x-text`) and their raw defaults (`x-default`). */
function convert(schema: z.ZodType, target: SchemaTarget): JsonSchema {
  const out = z.toJSONSchema(schema, {
    io: 'input',
    target,
    unrepresentable: 'any',
    override: (ctx) => {
      const def = defOf(ctx.zodSchema);
      const js = ctx.jsonSchema as JsonSchema;
      if (def.type === 'pipe') {
        const kind = TEXT_KINDS.get(def.in);
        if (kind) js['x-text'] = kind;
        // `z.unknown().superRefine(…).pipe(object)`: the object is what users write.
        else if (def.in && defOf(def.in).type === 'unknown' && def.out && Object.keys(js).length === 0) {
          Object.assign(js, strip$schema(convert(def.out, target)));
        }
      }
      if (def.type === 'default') js['x-default'] = def.defaultValue;
    },
  }) as JsonSchema;
  return rewriteTextFields(out);
}

function strip$schema(schema: JsonSchema): JsonSchema {
  const { $schema: _drop, ...rest } = schema;
  return rest;
}

/** Durations, percentages, tolerances: their text forms as patterns, their defaults as users write them. */
function rewriteTextFields(node: unknown): JsonSchema {
  visit(node, (obj) => {
    const kind = obj['x-text'];
    if (typeof kind === 'string') {
      delete obj.type;
      delete obj.anyOf;
      const text =
        kind === 'duration'
          ? { type: 'string', pattern: DURATION_PATTERN }
          : { type: 'string', pattern: kind === 'fraction' ? PERCENT_PATTERN : TOLERANCE_PATTERN };
      obj.anyOf = [text, kind === 'fraction' ? { type: 'number', minimum: 0, maximum: 1 } : { type: 'number', minimum: 0 }];
      if ('x-default' in obj && obj['x-default'] !== undefined) {
        const d = obj['x-default'];
        obj.default = kind === 'duration' && typeof d === 'number' ? durationText(d) : d;
      }
    }
    delete obj['x-default'];
  });
  return node as JsonSchema;
}

/** A default duration as users write it: whole days as `30d` (formatDuration stops at hours). */
function durationText(ms: number): string {
  return ms > 0 && ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : formatDuration(ms);
}

/** Depth-first over every object in a JSON value. */
export function visit(node: unknown, fn: (obj: JsonSchema) => void): void {
  if (Array.isArray(node)) for (const item of node) visit(item, fn);
  else if (node && typeof node === 'object') {
    fn(node as JsonSchema);
    for (const value of Object.values(node)) visit(value, fn);
  }
}

/**
 * An adapter's schema inside ours: its `definitions` move to the root under a
 * prefixed name, and its `$ref`s follow them.
 */
function embed(schema: JsonSchema, prefix: string, defs: JsonSchema): JsonSchema {
  const { $schema: _s, definitions, ...rest } = schema;
  const local = (definitions ?? {}) as JsonSchema;
  const rename = (name: string): string => `${prefix}.${name}`;
  for (const [name, def] of Object.entries(local)) defs[rename(name)] = def;
  visit([rest, ...Object.values(local)], (obj) => {
    if (typeof obj.$ref === 'string' && obj.$ref.startsWith('#/definitions/')) {
      obj.$ref = `#/definitions/${rename(obj.$ref.slice('#/definitions/'.length))}`;
    }
  });
  return rest;
}

const variant = (name: string, schema: JsonSchema): JsonSchema => ({ 'x-variant': name, ...schema });

function sourceSchema(base: JsonSchema, target: SchemaTarget, defs: JsonSchema): JsonSchema {
  const kind = { type: 'string', enum: knownSourceKinds() };
  if (target !== 'draft-7') return { ...base, properties: { kind } };
  return {
    type: 'object',
    properties: { kind },
    required: ['kind'],
    allOf: knownSourceKinds().map((k) => {
      const schema = embed(convert(metricSourceRegistry.get(k)!.configSchema, target), `source-${k}`, defs);
      const props = schema.properties as JsonSchema;
      for (const never of NEVER_IN_SPEC[k] ?? []) delete props[never];
      return { if: { properties: { kind: { const: k } }, required: ['kind'] }, then: variant(k, schema) };
    }),
  };
}

function faultSchema(base: JsonSchema, target: SchemaTarget, defs: JsonSchema): JsonSchema {
  // Every injector's params schema is an object; zod's `unknown` (checked later by the adapter) says nothing.
  const params = { ...((base.properties as JsonSchema).params as JsonSchema), type: 'object' };
  const props = { ...(base.properties as JsonSchema), injector: { type: 'string', enum: knownInjectorKinds() }, params };
  if (target !== 'draft-7') return { ...base, properties: props };
  return {
    ...base,
    properties: props,
    allOf: knownInjectorKinds().map((k) => {
      const params = embed(convert(injectorRegistry.get(k)!.paramsSchema, target), `params-${k}`, defs);
      return {
        if: { properties: { injector: { const: k } }, required: ['injector'] },
        then: variant(k, { properties: { params } }),
      };
    }),
  };
}

/** Guardrail kinds as the schema dispatches them (schema.ts): `slo`/`burnRate` → SLO, `compare` → KPI, else threshold. */
function guardrailSchema(target: SchemaTarget): JsonSchema {
  const threshold = withTemplatedQuery(strip$schema(convert(thresholdGuardrail, target)), target);
  const slo = strip$schema(convert(sloGuardrail, target));
  const compare = strip$schema(convert(compareGuardrail, target));
  if (target !== 'draft-7') return { anyOf: [threshold, slo, compare] };
  const isSlo = { anyOf: [{ required: ['slo'] }, { required: ['burnRate'] }] };
  return {
    type: 'object',
    allOf: [
      { if: isSlo, then: variant('slo', slo) },
      { if: { not: isSlo, required: ['compare'] }, then: variant('compare', compare) },
      { if: { not: { anyOf: [isSlo, { required: ['compare'] }] } }, then: variant('threshold', threshold) },
    ],
  };
}

/** `query:` is a string or `{ template, vars }` (src/queries/spec-query.ts). */
function withTemplatedQuery(object: JsonSchema, target: SchemaTarget): JsonSchema {
  const props = object.properties as JsonSchema;
  props.query = { anyOf: [props.query, strip$schema(convert(templateRef, target))] };
  return object;
}

/** The spec's JSON Schema and the documented fields, from one walk. */
export function buildSpecSchema(target: SchemaTarget = 'draft-7'): { schema: JsonSchema; fields: FieldRow[] } {
  const root = convert(experimentSchema, target);
  const defs: JsonSchema = {};
  const spec = (root.properties as JsonSchema).spec as JsonSchema;
  const specProps = spec.properties as JsonSchema;
  specProps.source = sourceSchema(specProps.source as JsonSchema, target, defs);
  specProps.fault = faultSchema(specProps.fault as JsonSchema, target, defs);
  (specProps.guardrails as JsonSchema).items = guardrailSchema(target);
  withTemplatedQuery((specProps.steadyState as JsonSchema).items as JsonSchema, target);
  // notify rejects unknown notifiers in a refinement (to name the known ones); to an editor it is a closed object.
  (specProps.notify as JsonSchema).additionalProperties = false;
  const schema: JsonSchema =
    target === 'draft-7'
      ? { $schema: root.$schema, title: 'steadystate Experiment', ...strip$schema(root) }
      : { title: 'steadystate Experiment', ...strip$schema(root) };
  if (Object.keys(defs).length > 0) {
    if (target === 'draft-7') schema.definitions = defs;
    else throw new Error('OpenAPI target: adapter definitions cannot be embedded');
  }
  const fields = applyFieldDocs(schema, target);
  visit(schema, (obj) => {
    delete obj['x-variant'];
    delete obj['x-text'];
  });
  return { schema, fields };
}

let draft7: JsonSchema | undefined;

/** The JSON Schema editors and `steadystate schema` use (draft-07). Built once; do not modify it. */
export function experimentJsonSchema(): JsonSchema {
  draft7 ??= buildSpecSchema('draft-7').schema;
  return draft7;
}

/** The same schema for the OpenAPI document (3.0 dialect, no `$schema`). */
export function experimentOpenApiSchema(): JsonSchema {
  return buildSpecSchema('openapi-3.0').schema;
}
