/**
 * Whether the command injector may run a program, and with what environment.
 * Off unless the operator of the service lists programs in
 * STEADYSTATE_COMMAND_ALLOW (or runs `steadystate run --allow-command` on
 * their own machine). Checked when a spec is accepted and again before every
 * spawn, on the file the program name resolves to (symlinks followed), so a
 * relative path, a PATH lookup or a symlink cannot reach another program.
 *
 * The child never inherits the service's environment (which holds the admin
 * token, webhook secrets, Slack tokens): it gets PATH, HOME and LANG, the
 * variables its allowlist entry names, and the spec's `env` — whose names must
 * be among those the entry names.
 */
import { constants, accessSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { CommandPolicy, CommandProgram } from '../security/policy.ts';

/** What a child always gets from the service's environment (when set there). */
export const BASE_CHILD_ENV = ['PATH', 'HOME', 'LANG'] as const;
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * Where `program` would be found: a path with a slash is taken relative to
 * `cwd`, a bare name is looked up on `pathEnv`. Undefined unless the candidate
 * is a regular file with the execute bit for us. Synchronous: used while
 * validating a spec, where a few stat calls are cheap.
 */
export function resolveExecutableSync(program: string, pathEnv: string | undefined, cwd: string = process.cwd()): string | undefined {
  const candidates = program.includes('/')
    ? [path.resolve(cwd, program)]
    : // Empty PATH entries would mean the current directory; not honoured, as that is how the wrong program runs.
      (pathEnv ?? '').split(path.delimiter).filter((dir) => dir !== '').map((dir) => path.join(dir, program));
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here, or not executable: try the next one.
    }
  }
  return undefined;
}

function realpathOrSelf(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/** The PATH programs are looked up on: the spec's own when the policy lets it set one, else the service's. */
export function childPath(specEnv: Readonly<Record<string, string>> | undefined): string {
  return specEnv?.PATH ?? process.env.PATH ?? DEFAULT_PATH;
}

/**
 * The allowlist entry `program` resolves to, or a message saying why it may
 * not run. `any` (the CLI's --allow-command) allows every program.
 */
export function commandProgramCheck(
  program: string,
  policy: CommandPolicy,
  specEnv: Readonly<Record<string, string>> | undefined,
): { ok: true; entry: CommandProgram | undefined } | { ok: false; problem: string } {
  if (policy.mode === 'off') {
    return { ok: false, problem: 'the command injector is off on this service; its operator turns it on with STEADYSTATE_COMMAND_ALLOW (a list of programs)' };
  }
  if (policy.mode === 'any') return { ok: true, entry: undefined };
  const resolved = resolveExecutableSync(program, childPath(specEnv));
  if (resolved === undefined) return { ok: false, problem: `program ${program} is not an executable file` };
  const real = realpathOrSelf(resolved);
  const entry = policy.programs.find((p) => realpathOrSelf(p.path) === real);
  if (!entry) return { ok: false, problem: `program ${program} (${real}) is not in STEADYSTATE_COMMAND_ALLOW` };
  const extra = Object.keys(specEnv ?? {}).filter((name) => !entry.env.includes(name));
  if (extra.length > 0) {
    return { ok: false, problem: `env ${extra.join(', ')} may not be set for ${entry.path}; STEADYSTATE_COMMAND_ALLOW names the variables it may get (${entry.path}:VAR…)` };
  }
  return { ok: true, entry };
}

/** The child's whole environment: base variables, the entry's pass-through variables, the spec's env. */
export function childEnv(
  entry: CommandProgram | undefined,
  specEnv: Readonly<Record<string, string>> | undefined,
  serviceEnv: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...BASE_CHILD_ENV, ...(entry?.env ?? [])]) {
    const v = serviceEnv[name];
    if (v !== undefined) env[name] = v;
  }
  env.PATH ??= DEFAULT_PATH;
  return { ...env, ...specEnv };
}
