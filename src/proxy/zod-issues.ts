/**
 * zod errors → the product's ValidationError, one issue per field, so an API
 * client or a CLI user reads `deadline: Invalid ISO datetime` rather than a
 * zod dump.
 */
import type { z } from 'zod';
import { type InputIssue, ValidationError } from '../lib/errors.ts';

/** `['paths', 1]` → `paths[1]`; `prefix` is prepended with a dot. */
function formatPath(path: readonly PropertyKey[], prefix?: string): string {
  let out = prefix ?? '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? '(root)' : out;
}

export function zodIssues(error: z.ZodError, prefix?: string): InputIssue[] {
  return error.issues.flatMap((issue): InputIssue[] => {
    // zod reports unknown keys on the parent object; name each key, since the key is what the user has to fix.
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: formatPath([...issue.path, key], prefix), message: 'unknown field' }));
    }
    return [{ path: formatPath(issue.path, prefix), message: issue.message }];
  });
}

export function toValidationError(error: z.ZodError, prefix?: string): ValidationError {
  return new ValidationError(zodIssues(error, prefix));
}
