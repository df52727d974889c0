/**
 * Secret references: a spec names where a secret lives — `{ fromEnv: NAME }`
 * or `{ fromFile: /run/secrets/x }` — never the secret. Which names and
 * directories a spec may use is the operator's (STEADYSTATE_SECRET_ENV_ALLOW,
 * STEADYSTATE_SECRET_FILE_DIRS); the check runs when a spec is accepted and
 * again when the reference is resolved, right before the call that needs it.
 * A resolved value is registered with the redaction, so wherever it shows up
 * later (an echoed header in an error body, a program's stderr) it is removed.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { registerSecretValues } from '../lib/redact.ts';
import { envReferenceProblem, fileReferenceProblem, PolicyError, type SecurityPolicy } from './policy.ts';

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const fromEnvSchema = z.strictObject({
  fromEnv: z.string().regex(ENV_NAME_RE, 'must be an environment variable name'),
});
export const fromFileSchema = z.strictObject({
  fromFile: z.string().min(1).refine((p) => p.startsWith('/'), 'must be an absolute path'),
});
export const secretRefSchema = z.union([fromEnvSchema, fromFileSchema]);
export type SecretRef = z.output<typeof secretRefSchema>;

/** How a reference is named in messages: `environment variable X`, `file /p`. */
export function describeRef(ref: SecretRef): string {
  return 'fromEnv' in ref ? `environment variable ${ref.fromEnv}` : `file ${ref.fromFile}`;
}

/**
 * The secret's value. Throws PolicyError when the policy does not allow the
 * reference, and the caller's own error (built by `missing`, e.g. an
 * InjectorError) when it is allowed but unset, empty or unreadable. Messages
 * name the reference, never the value.
 */
export function resolveSecretRef(
  ref: SecretRef,
  policy: SecurityPolicy,
  env: NodeJS.ProcessEnv,
  what: string,
  missing: (message: string) => Error,
): string {
  const problem = 'fromEnv' in ref ? envReferenceProblem(ref.fromEnv, policy) : fileReferenceProblem(ref.fromFile, policy);
  if (problem) throw new PolicyError(`${what}: ${problem}`);
  let value: string | undefined;
  if ('fromEnv' in ref) {
    value = env[ref.fromEnv];
    if (value === undefined || value === '') throw missing(`${what} needs environment variable ${ref.fromEnv}, which is not set`);
  } else {
    try {
      value = readFileSync(ref.fromFile, 'utf8').trim();
    } catch (err) {
      throw missing(`${what}: file ${ref.fromFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
    if (value === '') throw missing(`${what}: file ${ref.fromFile} is empty`);
  }
  registerSecretValues([value]);
  return value;
}
