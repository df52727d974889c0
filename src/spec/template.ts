/**
 * Query templates. A query is written once and filled in per group:
 * `$group` (or `${group}`) becomes the group's label value. The other variables
 * come from the experiment's metadata. PromQL and Datadog queries never use `$`
 * themselves, so any `$name` is one of ours and an unknown one is an error.
 */
import type { Experiment } from './schema.ts';

export const TEMPLATE_VARIABLES = ['group', 'experiment', 'service', 'environment'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

const VAR_RE = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Messages for every unknown variable in `query` (empty when all are known). */
export function templateVariableIssues(query: string): string[] {
  const issues: string[] = [];
  for (const m of query.matchAll(VAR_RE)) {
    const name = m[1] ?? m[2] ?? '';
    if (!(TEMPLATE_VARIABLES as readonly string[]).includes(name)) {
      issues.push(`unknown variable $${name}; known: ${TEMPLATE_VARIABLES.map((v) => `$${v}`).join(', ')}`);
    }
  }
  return issues;
}

/** Fill in the variables. Values are inserted verbatim; specs are trusted input from their authors. */
export function renderQuery(query: string, vars: Partial<Record<TemplateVariable, string>>): string {
  return query.replace(VAR_RE, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as TemplateVariable;
    const value = vars[name];
    return value === undefined ? whole : value;
  });
}

/**
 * The variables of an experiment's queries for one group: `$group` is that
 * group's label value, the rest come from metadata. Guardrails (no group
 * given) watch the experiment group: that is where the fault is.
 */
export function templateVars(
  experiment: Pick<Experiment, 'metadata'> & { spec: Pick<Experiment['spec'], 'groups'> },
  group?: 'control' | 'experiment',
): Partial<Record<TemplateVariable, string>> {
  const { metadata } = experiment;
  return {
    group: experiment.spec.groups[group ?? 'experiment'],
    experiment: metadata.name,
    ...(metadata.service ? { service: metadata.service } : {}),
    ...(metadata.environment ? { environment: metadata.environment } : {}),
  };
}
