/**
 * Reading a spec from YAML (or JSON, which is YAML) and turning every problem
 * into `path: message` with the line it sits on, so `steadystate validate`
 * can print `FILE:LINE path.to.field: message` for all of them at once.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ValidationError, type InputIssue } from '../lib/errors.ts';
import { experimentSchema, type Experiment } from './schema.ts';
import { unknownFieldMessage } from './suggest-field.ts';

/** Spec text larger than this is refused before parsing. */
export const MAX_SPEC_BYTES = 256 * 1024;

export type LoadResult = { ok: true; experiment: Experiment } | { ok: false; issues: InputIssue[] };

/** Parse and validate spec text. Never throws for bad input; returns every issue found. */
export function parseExperiment(text: string): LoadResult {
  if (Buffer.byteLength(text, 'utf8') > MAX_SPEC_BYTES) {
    return { ok: false, issues: [{ path: '(file)', line: 1, message: `spec is larger than ${MAX_SPEC_BYTES} bytes` }] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // One syntax error makes the parser stumble over the rest of its line and
    // beyond; the first error of each line is the one worth reading.
    const seenLines = new Set<number>();
    const issues: InputIssue[] = [];
    for (const e of doc.errors) {
      const line = lineCounter.linePos(e.pos[0]).line;
      if (seenLines.has(line)) continue;
      seenLines.add(line);
      issues.push({ path: '(yaml)', line, message: e.message.split('\n')[0] ?? e.message });
      if (issues.length >= 10) break;
    }
    return { ok: false, issues };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, issues: [{ path: '(yaml)', line: 1, message: err instanceof Error ? err.message : String(err) }] };
  }
  return validateExperiment(data, (path) => lineOf(doc.contents, path, lineCounter));
}

/** Validate an already-parsed object (JSON bodies); `locate` maps a path to a line when known. */
export function validateExperiment(
  data: unknown,
  locate: (path: readonly PropertyKey[]) => number | undefined = () => undefined,
): LoadResult {
  const result = experimentSchema.safeParse(data);
  if (result.success) return { ok: true, experiment: result.data };
  return { ok: false, issues: toIssues(result.error, locate, data) };
}

/** Like parseExperiment, but throws a ValidationError. */
export function loadExperiment(text: string): Experiment {
  const r = parseExperiment(text);
  if (!r.ok) throw new ValidationError(r.issues);
  return r.experiment;
}

function toIssues(error: z.ZodError, locate: (path: readonly PropertyKey[]) => number | undefined, data: unknown): InputIssue[] {
  const issues = error.issues.flatMap((issue) =>
    // zod reports unknown keys on the object that holds them; name each key, on its own line,
    // since the key is what the user has to fix (a misspelled field).
    (unknownKeys(issue) ?? [undefined]).map((key) => {
      const path = key === undefined ? issue.path : [...issue.path, key];
      const line = locate(path);
      const out: InputIssue = { path: formatPath(path), message: key === undefined ? issue.message : unknownFieldMessage(data, issue.path, key) };
      if (line !== undefined) out.line = line;
      return out;
    }),
  );
  // zod may report the same problem twice through a union; keep each once.
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Keys of an unknown-keys issue. Adapter and guardrail schemas are checked
 * inside transforms that pass their issues on as custom ones with zod's
 * message (`Unrecognized keys: "a", "b"`), so that message is read too.
 */
function unknownKeys(issue: z.core.$ZodIssue): string[] | undefined {
  if (issue.code === 'unrecognized_keys') return issue.keys;
  const m = issue.code === 'custom' ? /^Unrecognized keys?: (".*")$/.exec(issue.message) : null;
  if (!m) return undefined;
  const keys = [...(m[1] ?? '').matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((k) => k[1] ?? '');
  return keys.length > 0 ? keys : undefined;
}

/** `['spec','steadyState',1,'query']` → `spec.steadyState[1].query`. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/**
 * Line of the deepest node on `path` that exists: the key's line for a map
 * entry, the item's line for a sequence element. A missing field points at
 * its parent, which is where the user has to add it.
 */
function lineOf(root: unknown, path: readonly PropertyKey[], lc: LineCounter): number | undefined {
  let node: unknown = root;
  let line = rangeLine(node, lc);
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      line = rangeLine(pair.key, lc) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) break;
      line = rangeLine(item, lc) ?? line;
      node = item;
    } else break;
  }
  return line;
}

function rangeLine(node: unknown, lc: LineCounter): number | undefined {
  const range = (node as YamlNode | undefined)?.range;
  return range ? lc.linePos(range[0]).line : undefined;
}
