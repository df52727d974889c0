/**
 * Placeholders in injector requests and commands: `{{runId}}`, `{{experiment}}`,
 * `{{deadline}}` (ISO 8601), `{{deadlineUnix}}` (Unix seconds) and
 * `{{durationSeconds}}` (whole seconds left until the deadline, at least 1).
 *
 * Substitution is plain text replacement and nothing else: no expressions, no
 * shell, no eval, no nesting (a substituted value is never scanned again). An
 * unknown name is an error rather than left in place, because a backend that
 * receives a literal `{{dedline}}` would most likely open a fault that never
 * ends. `{{ name }}` with inner spaces is accepted; text that does not form a
 * placeholder (a lone `{{`) is left as is.
 */
import { z } from 'zod';
import type { JsonValue } from '../lib/json.ts';
import { InjectorError } from '../lib/errors.ts';

export const PLACEHOLDERS = ['runId', 'experiment', 'deadline', 'deadlineUnix', 'durationSeconds'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type TemplateVars = Readonly<Record<Placeholder, string>>;

const PLACEHOLDER_RE = /\{\{\s*([^{}\s]*)\s*\}\}/g;

function isPlaceholder(name: string): name is Placeholder {
  return (PLACEHOLDERS as readonly string[]).includes(name);
}

function unknownMessage(name: string): string {
  return `unknown placeholder {{${name}}}; known: ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')}`;
}

/** Values for one window. `now` is injectable so `durationSeconds` can be tested. */
export function templateVars(
  ctx: { runId: string; experiment: string; deadline: Date },
  now: number = Date.now(),
): TemplateVars {
  const deadlineMs = ctx.deadline.getTime();
  if (!Number.isFinite(deadlineMs)) throw new InjectorError('the deadline is not a valid date', { retryable: false, code: 'invalid_template' });
  return {
    runId: ctx.runId,
    experiment: ctx.experiment,
    deadline: ctx.deadline.toISOString(),
    deadlineUnix: String(Math.floor(deadlineMs / 1000)),
    // At least 1: a backend told "0 seconds" may read it as "no limit".
    durationSeconds: String(Math.max(1, Math.ceil((deadlineMs - now) / 1000))),
  };
}

/** Names of the unknown placeholders in `text`, in order of appearance, without duplicates. */
export function unknownPlaceholders(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(PLACEHOLDER_RE)) {
    const name = m[1] ?? '';
    if (!isPlaceholder(name)) names.add(name);
  }
  return [...names];
}

/** True when `text` holds one of `names` as a placeholder. */
export function usesPlaceholder(text: string, names: readonly Placeholder[]): boolean {
  for (const m of text.matchAll(PLACEHOLDER_RE)) if ((names as readonly string[]).includes(m[1] ?? '')) return true;
  return false;
}

/** True when `text` holds at least one placeholder (known or not). */
export function hasPlaceholder(text: string): boolean {
  return new RegExp(PLACEHOLDER_RE.source).test(text);
}

/**
 * Substitute every placeholder. `encode` is applied to each value, never to
 * the surrounding text (URLs pass `encodeURIComponent`, so an experiment name
 * with a space or a slash stays one path segment).
 * Throws a non-retryable InjectorError naming the first unknown placeholder.
 */
export function renderTemplate(text: string, vars: TemplateVars, encode: (value: string) => string = (v) => v): string {
  return text.replace(PLACEHOLDER_RE, (_whole, name: string) => {
    if (!isPlaceholder(name)) throw new InjectorError(unknownMessage(name), { retryable: false, code: 'invalid_template' });
    return encode(vars[name]);
  });
}

/** Render every string leaf of a JSON value (object keys are left alone). */
export function renderJsonTemplate(value: JsonValue, vars: TemplateVars): JsonValue {
  if (typeof value === 'string') return renderTemplate(value, vars);
  if (Array.isArray(value)) return value.map((v) => renderJsonTemplate(v, vars));
  if (value !== null && typeof value === 'object') {
    const out: { [key: string]: JsonValue } = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderJsonTemplate(v, vars);
    return out;
  }
  return value;
}

/**
 * zod refinement for template strings, so spec validation rejects an unknown
 * placeholder with its path before anything runs:
 * `z.string().superRefine(refineTemplate)`.
 */
export function refineTemplate(value: string, ctx: z.RefinementCtx): void {
  for (const name of unknownPlaceholders(value)) ctx.addIssue({ code: 'custom', message: unknownMessage(name) });
}

/** The same check over every string leaf of a JSON value, each issue at its own path. */
export function refineJsonTemplate(value: unknown, ctx: z.RefinementCtx): void {
  const walk = (v: unknown, path: (string | number)[]): void => {
    if (typeof v === 'string') {
      for (const name of unknownPlaceholders(v)) ctx.addIssue({ code: 'custom', message: unknownMessage(name), path });
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, [...path, i]));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) walk(item, [...path, k]);
    }
  };
  walk(value, []);
}

/** A string that may hold placeholders, all of them known. */
export const templateString = z.string().superRefine(refineTemplate);
