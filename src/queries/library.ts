/**
 * The query library: named, parameterised query templates for SLIs and
 * business KPIs, one YAML file per template, each with a variant per metric
 * backend (`prometheus`, `datadog`). Specs use them as
 * `query: { template: availability, vars: { service: shop, path: /update } }`
 * and the variant is picked from `spec.source.kind`.
 *
 * Where templates come from: the directories in `STEADYSTATE_QUERY_DIRS`
 * (colon-separated, searched in order), then the built-in `queries/`. The
 * first template of a name wins, as on a PATH, so a team can replace a
 * built-in with its own; `queries list` shows what shadows what.
 *
 * Files are read synchronously, once per distinct directory list: spec
 * validation (zod) is synchronous, and the library is configuration read at
 * start. A broken file does not hide the others: it is reported by
 * `queries list` and by any spec that names a template it might hold.
 *
 * Template text: `$name` or `${name}` is a template variable, `${name:seconds}`
 * a duration in whole seconds, `${name:percent}` a number × 100 (0.95 → 95).
 * `$group` (and `$experiment`, `$service`, `$environment` unless declared) are
 * left for the run engine, which fills them per group at query time.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { knownSourceKinds } from '../metric-sources/registry.ts';
import { TEMPLATE_VARIABLES } from '../spec/template.ts';

export const BUILTIN_QUERY_DIR = fileURLToPath(new URL('../../queries/', import.meta.url));
export const QUERY_DIRS_ENV = 'STEADYSTATE_QUERY_DIRS';

export const VAR_TYPES = ['name', 'regex', 'path', 'tag', 'duration', 'number', 'fraction', 'text'] as const;
export type VarType = (typeof VAR_TYPES)[number];
/** `${name:modifier}` and the variable types it applies to. */
export const MODIFIERS: Readonly<Record<string, readonly VarType[]>> = { seconds: ['duration'], percent: ['number', 'fraction'] };

/** `$name`, `${name}`, `${name:modifier}`. */
export const PLACEHOLDER_RE = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

const TEMPLATE_NAME_RE = /^[a-z0-9][a-z0-9-]*$/;
const META_KEYS = new Set(['name', 'description', 'unit', 'direction', 'vars']);

const varDef = z.strictObject({
  type: z.enum(VAR_TYPES).optional(),
  default: z.union([z.string(), z.number()]).optional(),
  description: z.string().optional(),
  example: z.union([z.string(), z.number()]).optional(),
});
type VarDefInput = z.output<typeof varDef>;

const varMap = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'variable names are identifiers'), varDef);

const variant = z.strictObject({
  vars: varMap.optional(),
  query: z.string().min(1),
});

const templateFile = z.looseObject({
  name: z.string().regex(TEMPLATE_NAME_RE, 'template names are lower-case words joined by "-"').optional(),
  description: z.string().min(1),
  unit: z.string().optional(),
  /** Which change is bad, as a hint for specs (`direction:` of a steady-state metric). */
  direction: z.enum(['increase', 'decrease', 'either']).optional(),
  vars: varMap.optional(),
});

export interface TemplateVar {
  name: string;
  type: VarType;
  /** Absent: the variable is required. */
  default?: string;
  description?: string;
  example?: string;
}

export interface TemplateVariant {
  backend: string;
  query: string;
  vars: TemplateVar[];
}

export interface QueryTemplate {
  name: string;
  description: string;
  unit?: string;
  direction?: 'increase' | 'decrease' | 'either';
  /** Keyed by backend (`spec.source.kind`). */
  variants: Record<string, TemplateVariant>;
  file: string;
  /** Files holding templates of the same name that this one hides. */
  shadows: string[];
}

export interface LibraryError {
  file: string;
  message: string;
}

export interface QueryLibrary {
  readonly dirs: readonly string[];
  readonly templates: ReadonlyMap<string, QueryTemplate>;
  readonly errors: readonly LibraryError[];
}

function toText(v: string | number | undefined): string | undefined {
  return v === undefined ? undefined : String(v);
}

/** Problems with one variant's text against its variables (empty when fine). */
function variantProblems(backend: string, query: string, vars: TemplateVar[]): string[] {
  const problems: string[] = [];
  const declared = new Map(vars.map((v) => [v.name, v]));
  if (declared.has('group')) problems.push(`${backend}: "group" is filled per group by the run engine and cannot be a template variable`);
  for (const m of query.matchAll(PLACEHOLDER_RE)) {
    const name = m[1] ?? m[3] ?? '';
    const modifier = m[2];
    const def = declared.get(name);
    if (!def) {
      if (modifier || !(TEMPLATE_VARIABLES as readonly string[]).includes(name)) {
        problems.push(
          `${backend}: $${name} is not declared in vars (undeclared variables are left for the run engine, which knows only ${TEMPLATE_VARIABLES.map((v) => `$${v}`).join(', ')})`,
        );
      }
      continue;
    }
    if (modifier) {
      const needs = MODIFIERS[modifier];
      if (!needs) problems.push(`${backend}: unknown modifier "${modifier}" in \${${name}:${modifier}}; known: ${Object.keys(MODIFIERS).join(', ')}`);
      else if (!needs.includes(def.type)) problems.push(`${backend}: \${${name}:${modifier}} needs a ${needs.join(' or ')} variable, "${name}" is ${def.type}`);
    }
  }
  if (!/\$\{?group\b/.test(query)) problems.push(`${backend}: the query must use $group, so control and experiment are queried separately`);
  return problems;
}

/** Parse one template file. Throws an Error with a readable message. */
export function parseTemplateFile(file: string, text: string, backends: readonly string[] = knownSourceKinds()): QueryTemplate {
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new Error(`not valid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`, { cause: err });
  }
  const top = templateFile.safeParse(raw);
  if (!top.success) throw new Error(zodMessage(top.error));
  const base = path.basename(file).replace(/\.ya?ml$/, '');
  const name = top.data.name ?? base;
  if (!TEMPLATE_NAME_RE.test(name)) throw new Error(`template name "${name}" must be lower-case words joined by "-"`);

  const variants: Record<string, TemplateVariant> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(top.data)) {
    if (META_KEYS.has(key)) continue;
    if (!backends.includes(key)) {
      problems.push(`"${key}" is neither a field (${[...META_KEYS].join(', ')}) nor a backend (${backends.join(', ')})`);
      continue;
    }
    const v = variant.safeParse(value);
    if (!v.success) {
      problems.push(`${key}: ${zodMessage(v.error)}`);
      continue;
    }
    const merged = new Map<string, VarDefInput>();
    for (const [n, d] of Object.entries(top.data.vars ?? {})) merged.set(n, d);
    // A backend may add variables or override fields of shared ones (usually the default).
    for (const [n, d] of Object.entries(v.data.vars ?? {})) merged.set(n, { ...merged.get(n), ...d });
    const vars: TemplateVar[] = [...merged].map(([n, d]) => {
      const out: TemplateVar = { name: n, type: d.type ?? 'text' };
      const def = toText(d.default);
      if (def !== undefined) out.default = def;
      if (d.description) out.description = d.description;
      const example = toText(d.example);
      if (example !== undefined) out.example = example;
      return out;
    });
    const query = v.data.query.trim();
    problems.push(...variantProblems(key, query, vars));
    variants[key] = { backend: key, query, vars };
  }
  if (Object.keys(variants).length === 0 && problems.length === 0) {
    problems.push(`no backend variant; add at least one of: ${backends.join(', ')}`);
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
  const template: QueryTemplate = { name, description: top.data.description.trim(), variants, file, shadows: [] };
  if (top.data.unit) template.unit = top.data.unit;
  if (top.data.direction) template.direction = top.data.direction;
  return template;
}

function zodMessage(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
}

/** The directories searched, in order: STEADYSTATE_QUERY_DIRS, then the built-in one. */
export function queryDirs(env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  const extra = (env[QUERY_DIRS_ENV] ?? '')
    .split(':')
    .map((d) => d.trim())
    .filter((d) => d !== '')
    .map((d) => path.resolve(d));
  return [...new Set([...extra, BUILTIN_QUERY_DIR])];
}

/** Read every `*.yaml` / `*.yml` in `dirs`; the first template of a name wins. */
export function loadQueryLibrary(dirs: readonly string[]): QueryLibrary {
  const templates = new Map<string, QueryTemplate>();
  const errors: LibraryError[] = [];
  for (const dir of dirs) {
    let entries: string[];
    try {
      if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      entries = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
    } catch (err) {
      errors.push({ file: dir, message: `query directory cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
      continue;
    }
    for (const entry of entries) {
      const file = path.join(dir, entry);
      try {
        const template = parseTemplateFile(file, readFileSync(file, 'utf8'));
        const first = templates.get(template.name);
        if (first) first.shadows.push(file);
        else templates.set(template.name, template);
      } catch (err) {
        errors.push({ file, message: (err as Error).message });
      }
    }
  }
  return { dirs: [...dirs], templates, errors };
}

let cached: { key: string; library: QueryLibrary } | undefined;

/** The library for the current environment, loaded once per distinct directory list. */
export function defaultQueryLibrary(env: Readonly<Record<string, string | undefined>> = process.env): QueryLibrary {
  const dirs = queryDirs(env);
  const key = dirs.join('\u0000');
  if (cached?.key !== key) cached = { key, library: loadQueryLibrary(dirs) };
  return cached.library;
}
