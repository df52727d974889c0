/**
 * How specs use the query library: a `query:` field is either a string, as
 * before, or `{ template, vars }`, rendered at validation for the backend in
 * `spec.source.kind`. The parsed spec keeps `query: string`, so nothing after
 * validation (engine, reports, store) knows templates exist.
 *
 * Two small pieces, because a field's schema cannot see its siblings:
 * - `annotateQueryBackend` runs on the raw `spec` object first and tags each
 *   templated query with the source kind (under a symbol, so it is never
 *   mistaken for user input and never serialised);
 * - `templatedQuery(schema)` renders a tagged `{ template, vars }` into the
 *   string the existing query schema then checks. Rendering problems are
 *   issues of that field only (`…query.vars.path`), so every other problem
 *   in the spec is still reported in the same pass.
 */
import { z } from 'zod';
import { defaultQueryLibrary, type QueryLibrary } from './library.ts';
import { renderFromLibrary, type VarValue } from './render.ts';

const BACKEND = Symbol('steadystate.queryBackend');

/** What users write instead of a query string. */
export interface TemplateRefInput {
  template: string;
  vars?: Record<string, VarValue>;
}

export const templateRef = z.strictObject({
  template: z.string().min(1, 'must name a template (see `steadystate queries list`)'),
  vars: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
});

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Copy of `spec` whose templated `steadyState[].query` and `guardrails[].query`
 * carry `spec.source.kind`. Never adds issues and never changes anything else:
 * a malformed spec goes on to the schema unchanged.
 */
export function annotateQueryBackend(spec: unknown): unknown {
  if (!isPlainObject(spec)) return spec;
  const source = spec.source;
  const kind = isPlainObject(source) && typeof source.kind === 'string' ? source.kind : null;
  const mark = (list: unknown): unknown =>
    Array.isArray(list)
      ? list.map((item: unknown) =>
          isPlainObject(item) && isPlainObject(item.query) ? { ...item, query: { ...item.query, [BACKEND]: kind } } : item,
        )
      : list;
  const out: Record<string, unknown> = { ...spec };
  if ('steadyState' in spec) out.steadyState = mark(spec.steadyState);
  if ('guardrails' in spec) out.guardrails = mark(spec.guardrails);
  return out;
}

/**
 * A `query:` field: a string checked by `schema`, or a `{ template, vars }`
 * rendered first. `library` is for tests; specs use the default one
 * (STEADYSTATE_QUERY_DIRS, then the built-in `queries/`).
 */
export function templatedQuery<T extends z.ZodType<string, string>>(schema: T, library?: () => QueryLibrary) {
  return z.preprocess<unknown, T, string | TemplateRefInput>((value, ctx) => {
    if (!isPlainObject(value)) return value;
    const ref = templateRef.safeParse(value);
    if (!ref.success) {
      for (const issue of ref.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
      return value;
    }
    const backend = (value as { [BACKEND]?: string | null })[BACKEND];
    if (typeof backend !== 'string') {
      ctx.addIssue({
        code: 'custom',
        path: ['template'],
        message: `template "${ref.data.template}" cannot be rendered: spec.source.kind is missing or not a string`,
      });
      return value;
    }
    const result = renderFromLibrary((library ?? defaultQueryLibrary)(), ref.data.template, backend, ref.data.vars);
    if (result.ok) return result.query;
    for (const issue of result.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    return value;
  }, schema);
}
