/**
 * Rendering a library template for one backend with a spec's variables.
 *
 * Values are checked against their declared type before they are inserted,
 * because they land inside query syntax: a `"` in a label regex, a `,` in a
 * Datadog tag or a `$` anywhere (the run engine would read it as a variable)
 * would change what the query means instead of failing. Problems come back as
 * issues located under `vars.<name>`, so `validate` can point at the line.
 */
import { PLACEHOLDER_RE, type QueryLibrary, type QueryTemplate, type TemplateVar, type VarType } from './library.ts';

export type VarValue = string | number | boolean;

export interface RenderIssue {
  /** Relative to the `query:` field: `['vars', 'path']`, `['template']`, or `[]`. */
  path: (string | number)[];
  message: string;
}

export type RenderResult = { ok: true; query: string } | { ok: false; issues: RenderIssue[] };

const DURATION_RE = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/;
const DURATION_PART_RE = /(\d+)(ms|s|m|h|d|w|y)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8, y: 3.1536e10 };

// eslint-disable-next-line no-control-regex -- control characters are exactly what we reject
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** Why `value` is not a valid `type`, or undefined when it is. */
export function typeProblem(type: VarType, value: string): string | undefined {
  if (CONTROL_RE.test(value)) return 'must not contain control characters';
  if (value.includes('$')) return 'must not contain "$" (it would start a variable)';
  switch (type) {
    case 'name':
      return /^[A-Za-z_:][A-Za-z0-9_:.]*$/.test(value) ? undefined : 'must be a metric, label or tag name (letters, digits, "_", ":", ".")';
    case 'regex': {
      if (value.includes('"')) return 'must not contain a double quote';
      if (/(^|[^\\])(\\\\)*\\$/.test(value)) return 'must not end with an unpaired backslash';
      try {
        new RegExp(value);
      } catch {
        return 'must be a valid regular expression (RE2 syntax, anchored at both ends)';
      }
      return value === '' ? 'must not be empty (use .* for any value)' : undefined;
    }
    case 'path':
      return /^[^\s"\\]+$/.test(value) ? undefined : 'must be a path or path pattern such as /checkout, /api/* or /a|/b (no spaces, double quotes or backslashes)';
    case 'tag':
      return /^[^\s,{}()"'!]+$/.test(value) ? undefined : 'must be a Datadog tag value or wildcard (no spaces, commas, braces, quotes or "!")';
    case 'duration':
      return DURATION_RE.test(value) && durationMs(value) > 0 ? undefined : 'must be a duration such as 30s, 5m or 1h30m';
    case 'number':
      return value.trim() !== '' && Number.isFinite(Number(value)) ? undefined : 'must be a number';
    case 'fraction': {
      const n = value.trim() === '' ? Number.NaN : Number(value);
      return n > 0 && n < 1 ? undefined : 'must be a number strictly between 0 and 1 (e.g. 0.999)';
    }
    case 'text':
      return value.includes('"') ? 'must not contain a double quote' : undefined;
  }
}

/**
 * A `path` value as a Prometheus label regex: `*` matches any run of
 * characters, `|` separates alternatives, everything else is literal — the
 * globs the fault proxy's `--route` and window `paths` take. So
 * `path: /api/*` matches the proxy's `route="/api/*"` series and a service's
 * literal `route="/api/users"` alike, and a `.` in a path is not "any character".
 * Escapes are `\\x` in the query text: PromQL unquotes them to the regex's `\x`.
 */
export function pathToPromRegex(value: string): string {
  return value
    .split('|')
    .map((alt) =>
      alt
        .split('*')
        .map((part) => part.replace(/[.+?^(){}[\]]/g, (c) => `\\\\${c}`))
        .join('.*'),
    )
    .join('|');
}

function durationMs(text: string): number {
  let total = 0;
  for (const m of text.matchAll(DURATION_PART_RE)) total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  return total;
}

function applyModifier(modifier: string | undefined, value: string): string | undefined {
  if (modifier === 'seconds') {
    const ms = durationMs(value);
    return ms % 1000 === 0 ? String(ms / 1000) : undefined;
  }
  if (modifier === 'percent') return String(Number((Number(value) * 100).toPrecision(12)));
  return modifier === undefined ? value : undefined;
}

/**
 * Datadog scopes: a `key:*` term rendered from an unset filter means "any
 * value", but Datadog reads it as "has the tag key". Such terms are dropped
 * (and a scope left empty becomes `*`), so series without the tag still match.
 */
export function normalizeDatadogScopes(query: string): string {
  return query.replace(/\{([^{}]*)\}/g, (whole, inner: string) => {
    // Boolean or IN syntax is left alone: a comma there is not a term separator.
    if (/[()]|\b(AND|OR|NOT|IN)\b/.test(inner)) return whole;
    const terms = inner
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '' && t !== '*' && !/^[^!:][^:]*:\*$/.test(t));
    return `{${terms.length > 0 ? terms.join(',') : '*'}}`;
  });
}

const PROM_MATCHER_RE = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*/y;

/**
 * Prometheus selectors: a `label=~".*"` matcher rendered from an unset filter
 * matches every series (with or without the label), so it is dropped to keep
 * the query readable in reports. Selectors we cannot fully parse are left alone.
 */
export function normalizePromSelectors(query: string): string {
  return query.replace(/\{([^{}]*)\}/g, (whole, inner: string) => {
    const kept: string[] = [];
    let pos = 0;
    while (pos < inner.length) {
      PROM_MATCHER_RE.lastIndex = pos;
      const m = PROM_MATCHER_RE.exec(inner);
      if (!m) return whole;
      if (!(m[2] === '=~' && m[3] === '.*')) kept.push(`${m[1]}${m[2]}"${m[3]}"`);
      pos = PROM_MATCHER_RE.lastIndex;
      if (pos < inner.length) {
        if (inner[pos] !== ',') return whole;
        pos += 1;
      }
    }
    return `{${kept.join(', ')}}`;
  });
}

/** Render one template's variant for `backend` with `given` values. */
export function renderTemplate(template: QueryTemplate, backend: string, given: Readonly<Record<string, VarValue>>): RenderResult {
  const variant = template.variants[backend];
  if (!variant) {
    return {
      ok: false,
      issues: [
        {
          path: ['template'],
          message: `template "${template.name}" has no ${backend} variant (it has: ${Object.keys(template.variants).join(', ')}); source.kind is ${backend}`,
        },
      ],
    };
  }
  const issues: RenderIssue[] = [];
  const byName = new Map<string, TemplateVar>(variant.vars.map((v) => [v.name, v]));
  for (const name of Object.keys(given)) {
    if (!byName.has(name)) {
      issues.push({
        path: ['vars', name],
        message: `unknown variable "${name}" for template "${template.name}" (${backend}); known: ${variant.vars.map((v) => v.name).join(', ') || 'none'}`,
      });
    }
  }
  const values = new Map<string, string>();
  for (const v of variant.vars) {
    const raw = given[v.name];
    const value = raw === undefined ? v.default : String(raw);
    if (value === undefined) {
      issues.push({
        path: ['vars', v.name],
        message: `missing required variable "${v.name}" (${v.type}) for template "${template.name}" (${backend})${v.description ? `: ${v.description}` : ''}${v.example ? `, e.g. ${v.example}` : ''}`,
      });
      continue;
    }
    const problem = typeProblem(v.type, value);
    if (problem) {
      issues.push({ path: ['vars', v.name], message: `${JSON.stringify(value)} ${problem} (variable "${v.name}" is ${v.type})` });
      continue;
    }
    // Numbers in their shortest form: `le="0.3"` must match what exporters write, not "0.30".
    values.set(
      v.name,
      v.type === 'number' || v.type === 'fraction' ? String(Number(value)) : v.type === 'path' && backend === 'prometheus' ? pathToPromRegex(value) : value,
    );
  }
  if (issues.length > 0) return { ok: false, issues };

  let query = variant.query.replace(PLACEHOLDER_RE, (whole, braced: string | undefined, modifier: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    const value = values.get(name);
    if (value === undefined) return whole; // an engine variable ($group…), filled per group at run time
    const out = applyModifier(modifier, value);
    if (out === undefined) {
      issues.push({ path: ['vars', name], message: `${JSON.stringify(value)} cannot be written as ${modifier} (variable "${name}")` });
      return whole;
    }
    return out;
  });
  if (issues.length > 0) return { ok: false, issues };
  if (backend === 'datadog') query = normalizeDatadogScopes(query);
  if (backend === 'prometheus') query = normalizePromSelectors(query);
  return { ok: true, query };
}

/** Look a template up and render it; an unknown name lists the known ones (and any broken files). */
export function renderFromLibrary(
  library: QueryLibrary,
  name: string,
  backend: string,
  given: Readonly<Record<string, VarValue>>,
): RenderResult {
  const template = library.templates.get(name);
  if (!template) {
    const known = [...library.templates.keys()].sort();
    let message = `unknown query template "${name}"; known: ${known.join(', ') || 'none'}`;
    if (library.errors.length > 0) {
      message += `; ${library.errors.length} template file(s) could not be loaded (see \`steadystate queries list\`): ${library.errors
        .map((e) => e.file)
        .join(', ')}`;
    }
    return { ok: false, issues: [{ path: ['template'], message }] };
  }
  return renderTemplate(template, backend, given);
}
