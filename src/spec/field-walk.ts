/**
 * One walk over the spec's JSON Schema (json-schema.ts) that puts each
 * field's documentation (field-docs.ts) into the schema, where editors show
 * it, and returns the rows docs/spec.md is rendered from. Fields are keyed by
 * path: `spec.analysis.alpha`, `spec.steadyState[].query`, and with the
 * adapter or guardrail kind that defines them in angle brackets:
 * `spec.source<prometheus>.url`, `spec.fault<http-proxy>.params.latencyMs`,
 * `spec.guardrails[]<slo>.burnRate`.
 */
import { parse as parseYaml } from 'yaml';
import { FIELD_DOCS, type FieldDoc } from './field-docs.ts';

type JsonSchema = Record<string, unknown>;

export interface FieldRow {
  /** Key in FIELD_DOCS. */
  key: string;
  /** Path as users write it, without the variant: `spec.source.url`. */
  path: string;
  /** Adapter or guardrail kind the field belongs to (`prometheus`, `slo`), if any. */
  variant?: string;
  type: string;
  required: boolean;
  default?: string;
  doc?: FieldDoc;
  /** The field's node in the JSON Schema (tests check each example against it). */
  schema: JsonSchema;
}

/** Put descriptions and examples into `schema` (in place) and list every field in document order. */
export function applyFieldDocs(schema: JsonSchema, target: 'draft-7' | 'openapi-3.0' = 'draft-7'): FieldRow[] {
  const rows: FieldRow[] = [];
  walkObject(schema, '', '', undefined, rows, target);
  return rows;
}

function walkObject(node: JsonSchema, key: string, path: string, variant: string | undefined, rows: FieldRow[], target: string, inherited: Set<string> = new Set()): void {
  const props = (node.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((node.required ?? []) as string[]);
  for (const [name, child] of Object.entries(props)) {
    const childKey = key === '' ? name : `${key}.${name}`;
    const childPath = path === '' ? name : `${path}.${name}`;
    // A branch repeating a field of its base (`kind`, `params`) adds no row; its children do.
    if (!inherited.has(name)) {
      const doc = FIELD_DOCS[childKey];
      const row: FieldRow = { key: childKey, path: childPath, type: typeOf(child), required: required.has(name), schema: child };
      if (variant !== undefined) row.variant = variant;
      if (child.default !== undefined) row.default = formatValue(child.default);
      if (doc) {
        row.doc = doc;
        describe(child, doc, target);
      }
      rows.push(row);
      if (doc?.opaque) continue;
    }
    walkValue(child, childKey, childPath, variant, rows, target);
  }
  for (const branch of (node.allOf ?? []) as JsonSchema[]) {
    const then = branch.then as JsonSchema | undefined;
    const name = then?.['x-variant'];
    if (!then || typeof name !== 'string') continue;
    walkObject(then, `${key}<${name}>`, path, name, rows, target, new Set(Object.keys(props)));
  }
}

function walkValue(node: JsonSchema, key: string, path: string, variant: string | undefined, rows: FieldRow[], target: string): void {
  if (node.properties || node.allOf) walkObject(node, key, path, variant, rows, target);
  if (node.items && typeof node.items === 'object') walkValue(node.items as JsonSchema, `${key}[]`, `${path}[]`, variant, rows, target);
  for (const option of (node.anyOf ?? []) as JsonSchema[]) {
    if (option.properties) walkObject(option, key, path, variant, rows, target);
  }
}

function describe(node: JsonSchema, doc: FieldDoc, target: string): void {
  node.description = doc.unit ? `${doc.description} Unit: ${doc.unit}.` : doc.description;
  if (doc.example !== undefined) {
    const value: unknown = parseYaml(doc.example);
    if (target === 'draft-7') node.examples = [value];
    else node.example = value;
  }
}

function formatValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A short human type: `duration`, `"halt" / "ignore"`, `list of object (1–50)`. */
export function typeOf(node: JsonSchema): string {
  const text = node['x-text'];
  if (text === 'duration') return 'duration';
  if (text === 'fraction') return 'percentage or fraction';
  if (text === 'tolerance') return 'percentage or number';
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (Array.isArray(node.enum)) return node.enum.map((v) => JSON.stringify(v)).join(' / ');
  if (typeof node.$ref === 'string') return 'any JSON value';
  const allOf = node.allOf as JsonSchema[] | undefined;
  if (allOf?.length === 1 && !node.properties && !allOf[0]?.then) return typeOf(allOf[0] as JsonSchema);
  if (Array.isArray(node.anyOf)) return [...new Set((node.anyOf as JsonSchema[]).map(typeOf))].join(' or ');
  const type = node.type;
  if (Array.isArray(type)) return type.join(' or ');
  if (type === 'array') return `list of ${typeOf((node.items ?? {}) as JsonSchema)}${range(node.minItems, node.maxItems, ' items')}`;
  if (type === 'object' || node.properties || node.allOf) {
    const extra = node.additionalProperties;
    if (!node.properties && extra && typeof extra === 'object' && Object.keys(extra).length > 0) return `map of ${typeOf(extra as JsonSchema)}`;
    return 'object';
  }
  if (type === 'number' || type === 'integer') return `${type}${range(node.minimum ?? node.exclusiveMinimum, node.maximum, '', node.exclusiveMinimum !== undefined)}`;
  if (typeof type === 'string') return type;
  return 'any';
}

function range(min: unknown, max: unknown, unit: string, exclusiveMin = false): string {
  const lo = typeof min === 'number' ? min : undefined;
  const hi = typeof max === 'number' && max < Number.MAX_SAFE_INTEGER ? max : undefined;
  if (lo === undefined && hi === undefined) return '';
  if (lo !== undefined && hi !== undefined) return ` (${exclusiveMin ? `>${lo}` : lo}–${hi}${unit})`;
  if (lo !== undefined) return ` (${exclusiveMin ? '>' : '≥'} ${lo}${unit})`;
  return ` (≤ ${hi}${unit})`;
}
