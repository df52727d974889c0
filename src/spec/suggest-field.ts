/**
 * What to say about a misspelled field: the fields allowed where it sits,
 * read from the spec's JSON Schema (json-schema.ts) along the path,
 * taking the adapter or guardrail kind the user wrote into account (the same
 * `if`/`then` branches an editor follows), and the one closest to what was
 * written. `tolerence` → did you mean `tolerance`?
 */
import { experimentJsonSchema, type JsonSchema } from './json-schema.ts';

/** `unknown field (did you mean "x"?)`, or `unknown field; known: a, b, …`. */
export function unknownFieldMessage(data: unknown, parent: readonly PropertyKey[], key: string): string {
  let known: string[];
  try {
    known = knownFields(experimentJsonSchema(), data, parent);
  } catch {
    known = [];
  }
  const close = closest(key, known);
  if (close) return `unknown field (did you mean "${close}"?)`;
  return known.length > 0 ? `unknown field; known: ${known.join(', ')}` : 'unknown field';
}

/** Field names the schema allows in the object at `path` of `data`. */
export function knownFields(schema: JsonSchema, data: unknown, path: readonly PropertyKey[]): string[] {
  let nodes = [schema];
  let value = data;
  for (const seg of path) {
    const next: JsonSchema[] = [];
    for (const node of effective(nodes, value)) {
      if (typeof seg === 'number') {
        if (node.items && typeof node.items === 'object') next.push(node.items as JsonSchema);
      } else {
        const prop = (node.properties as Record<string, JsonSchema> | undefined)?.[String(seg)];
        if (prop) next.push(prop);
      }
    }
    nodes = next;
    value = isObject(value) || Array.isArray(value) ? (value as Record<PropertyKey, unknown>)[seg as string] : undefined;
  }
  const names = new Set<string>();
  for (const node of effective(nodes, value)) for (const name of Object.keys(node.properties ?? {})) names.add(name);
  return [...names];
}

/** The nodes, their `anyOf` options, and the `then` branches whose `if` holds for `value`. */
function effective(nodes: JsonSchema[], value: unknown): JsonSchema[] {
  const out: JsonSchema[] = [];
  const add = (node: JsonSchema): void => {
    out.push(node);
    for (const option of (node.anyOf ?? []) as JsonSchema[]) add(option);
    for (const branch of (node.allOf ?? []) as JsonSchema[]) {
      if (branch.if && branch.then && holds(branch.if as JsonSchema, value)) add(branch.then as JsonSchema);
    }
  };
  nodes.forEach(add);
  return out;
}

/** The conditions json-schema.ts writes: `properties.k.const`, `required`, `anyOf`, `not`. */
function holds(cond: JsonSchema, value: unknown): boolean {
  if (!isObject(value)) return false;
  for (const [k, s] of Object.entries((cond.properties ?? {}) as Record<string, JsonSchema>)) {
    if ('const' in s && k in value && value[k] !== s.const) return false;
  }
  if (Array.isArray(cond.required) && !cond.required.every((k) => typeof k === 'string' && k in value)) return false;
  if (Array.isArray(cond.anyOf) && !(cond.anyOf as JsonSchema[]).some((c) => holds(c, value))) return false;
  if (cond.not && holds(cond.not as JsonSchema, value)) return false;
  return true;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The known name nearest to `key`: same but for case, or at most 2 edits away and fewer than half its length. */
export function closest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = name.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best !== undefined && bestDistance <= 2 && 2 * bestDistance < key.length ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}
