/**
 * `steadystate queries list|show`: the work (the commands and flags are in
 * queries-command.ts, which loads this module when one runs).
 */
import { EXIT_BAD_INPUT } from '../engine/types.ts';
import type { QueryLibrary, QueryTemplate, TemplateVar } from '../queries/library.ts';
import { renderFromLibrary } from '../queries/render.ts';

export { defaultQueryLibrary } from '../queries/library.ts';

function varJson(v: TemplateVar): Record<string, unknown> {
  return {
    name: v.name,
    type: v.type,
    required: v.default === undefined,
    ...(v.default !== undefined ? { default: v.default } : {}),
    ...(v.description ? { description: v.description } : {}),
    ...(v.example !== undefined ? { example: v.example } : {}),
  };
}

function templateJson(t: QueryTemplate): Record<string, unknown> {
  return {
    name: t.name,
    description: t.description,
    ...(t.unit ? { unit: t.unit } : {}),
    ...(t.direction ? { direction: t.direction } : {}),
    file: t.file,
    shadows: t.shadows,
    variants: Object.fromEntries(
      Object.values(t.variants).map((v) => [v.backend, { query: v.query, vars: v.vars.map(varJson) }]),
    ),
  };
}

const BAD_SIDE = { increase: 'a rise is bad', decrease: 'a drop is bad', either: 'any change is bad' } as const;

export function listQueries(library: QueryLibrary, json: boolean, out: (s: string) => void = (s) => process.stdout.write(s)): number {
  const templates = [...library.templates.values()].sort((a, b) => a.name.localeCompare(b.name));
  if (json) {
    out(`${JSON.stringify({ dirs: library.dirs, templates: templates.map(templateJson), errors: library.errors })}\n`);
  } else {
    for (const t of templates) {
      const facts = [t.unit, t.direction ? BAD_SIDE[t.direction] : undefined].filter(Boolean).join('; ');
      out(`${t.name}${facts ? `  (${facts})` : ''}\n`);
      out(`  ${t.description}\n`);
      out(`  from ${t.file}${t.shadows.length > 0 ? `, hiding ${t.shadows.join(', ')}` : ''}\n`);
      for (const variant of Object.values(t.variants)) {
        out(`  ${variant.backend}:\n`);
        const width = Math.max(...variant.vars.map((v) => v.name.length), 4);
        for (const v of variant.vars) {
          const value = v.default === undefined ? `required${v.example !== undefined ? ` (e.g. ${v.example})` : ''}` : `= ${v.default}`;
          out(`    ${v.name.padEnd(width)}  ${v.type.padEnd(8)}  ${value}${v.description ? `  — ${v.description}` : ''}\n`);
        }
      }
      out('\n');
    }
    out(`${templates.length} template(s) from ${library.dirs.join(', ')}\n`);
  }
  for (const e of library.errors) process.stderr.write(`${e.file}: ${e.message}\n`);
  return library.errors.length > 0 ? EXIT_BAD_INPUT : 0;
}

export function showQuery(
  library: QueryLibrary,
  name: string,
  backend: string,
  assignments: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
): number {
  const vars: Record<string, string> = {};
  for (const a of assignments) {
    const i = a.indexOf('=');
    if (i <= 0) {
      process.stderr.write(`steadystate: --var ${a}: expected name=value\n`);
      return EXIT_BAD_INPUT;
    }
    vars[a.slice(0, i)] = a.slice(i + 1);
  }
  const result = renderFromLibrary(library, name, backend, vars);
  if (!result.ok) {
    for (const issue of result.issues) process.stderr.write(`${['query', ...issue.path].join('.')}: ${issue.message}\n`);
    return EXIT_BAD_INPUT;
  }
  out(`${result.query}\n`);
  return 0;
}
