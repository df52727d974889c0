/**
 * What a spec may make this process do beyond reading metrics: which hosts it
 * may call, which secrets it may reference, which programs it may run. The
 * operator of the service decides, in the service's environment; a spec never
 * widens it. Read once at start (config.ts, and the CLI for `run`/`validate`),
 * frozen, handed to the adapters in their deps.
 *
 *   STEADYSTATE_ALLOWED_HOSTS          hosts outbound calls may go to (`*.example.com` for subdomains); unset = any
 *   STEADYSTATE_ALLOW_URL_CREDENTIALS  `1` lets spec URLs carry user:password@ (default: refused; use a reference)
 *   STEADYSTATE_SECRET_ENV_ALLOW       variables specs may reference with { fromEnv }: names, or prefixes ending in `*`
 *   STEADYSTATE_SECRET_FILE_DIRS       directories { fromFile } (and Datadog key files) may be read from
 *   STEADYSTATE_COMMAND_ALLOW          the command injector's programs: `/abs/path[:VAR[:VAR…]]`, comma-separated;
 *                                      unset = the command injector is off
 */
import path from 'node:path';
import { AppError } from '../lib/errors.ts';

export interface CommandProgram {
  /** Absolute path of the program, as written by the operator. */
  path: string;
  /** Variables of the service's environment passed to this program (and that a spec's `env` may set). */
  env: readonly string[];
}

export type CommandPolicy =
  | { mode: 'off' }
  | { mode: 'allowlist'; programs: readonly CommandProgram[] }
  /** `steadystate run --allow-command`: the operator runs their own spec on their own machine. */
  | { mode: 'any' };

export interface SecurityPolicy {
  /** Hosts outbound calls may reach; undefined = any host. */
  allowedHosts: readonly string[] | undefined;
  /** URL userinfo (user:password@) in spec URLs. */
  allowUrlCredentials: boolean;
  /** Names (or `PREFIX*`) a `{ fromEnv }` reference may name. */
  secretEnv: readonly string[];
  /** Directories a `{ fromFile }` reference (or a key file) may be under. */
  secretFileDirs: readonly string[];
  command: CommandPolicy;
}

/** Fail closed: any host (as without STEADYSTATE_ALLOWED_HOSTS), nothing else. */
export const DEFAULT_POLICY: SecurityPolicy = Object.freeze({
  allowedHosts: undefined,
  allowUrlCredentials: false,
  secretEnv: Object.freeze([]),
  secretFileDirs: Object.freeze([]),
  command: Object.freeze({ mode: 'off' as const }),
});

/**
 * The service's own secrets: never readable through a reference, whatever
 * STEADYSTATE_SECRET_ENV_ALLOW says (a `STEADYSTATE_*` pattern must not hand
 * out the admin token).
 */
const NEVER_REFERENCED = [/^STEADYSTATE_ADMIN_TOKEN$/, /^STEADYSTATE_WEBHOOK_SECRET_/, /^DATABASE_URL$/, /^PG[A-Z]*$/, /^STEADYSTATE_SLACK_BOT_TOKEN$/];
/** Variables adapters read by default without a reference (e.g. Gremlin's key); allowed like listed ones. */
export const ADAPTER_DEFAULT_ENV = ['GREMLIN_API_KEY'] as const;

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A refusal by the operator's policy: not retryable, names the setting that decides. */
export class PolicyError extends AppError {
  constructor(message: string) {
    super(message, { code: 'forbidden_by_policy', httpStatus: 403, retryable: false });
  }
}

export function envReferenceAllowed(name: string, policy: SecurityPolicy): boolean {
  if (NEVER_REFERENCED.some((re) => re.test(name))) return false;
  if ((ADAPTER_DEFAULT_ENV as readonly string[]).includes(name)) return true;
  return policy.secretEnv.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

/** Is `file` (resolved, `..` removed) inside one of the allowed directories? */
export function fileReferenceAllowed(file: string, policy: SecurityPolicy): boolean {
  if (!path.isAbsolute(file)) return false;
  const resolved = path.resolve(file);
  return policy.secretFileDirs.some((dir) => resolved.startsWith(dir.endsWith(path.sep) ? dir : `${dir}${path.sep}`));
}

export function envReferenceProblem(name: string, policy: SecurityPolicy): string | undefined {
  if (envReferenceAllowed(name, policy)) return undefined;
  if (NEVER_REFERENCED.some((re) => re.test(name))) return `environment variable ${name} is the service's own secret and cannot be referenced`;
  return `environment variable ${name} is not in STEADYSTATE_SECRET_ENV_ALLOW (the operator lists the variables specs may reference)`;
}

export function fileReferenceProblem(file: string, policy: SecurityPolicy): string | undefined {
  if (fileReferenceAllowed(file, policy)) return undefined;
  if (!path.isAbsolute(file)) return `file ${file} must be an absolute path under STEADYSTATE_SECRET_FILE_DIRS`;
  return `file ${file} is not under STEADYSTATE_SECRET_FILE_DIRS (${policy.secretFileDirs.join(', ') || 'none set'})`;
}

/** Read the policy from an environment; every mistake goes to `problems`. */
export function loadSecurityPolicy(env: NodeJS.ProcessEnv, problems: string[]): SecurityPolicy {
  const list = (name: string): string[] | undefined => {
    const text = env[name];
    if (text === undefined || text.trim() === '') return undefined;
    return text.split(',').map((s) => s.trim()).filter(Boolean);
  };
  let allowedHosts: string[] | undefined;
  const hosts = list('STEADYSTATE_ALLOWED_HOSTS');
  if (hosts) {
    allowedHosts = hosts.map((h) => h.toLowerCase());
    for (const h of allowedHosts) {
      if (!/^(\*\.)?[a-z0-9.-]+$|^\[[0-9a-f:]+\]$/.test(h)) problems.push(`STEADYSTATE_ALLOWED_HOSTS: "${h}" is not a host name`);
    }
  }
  const credText = (env.STEADYSTATE_ALLOW_URL_CREDENTIALS ?? '').trim().toLowerCase();
  if (!['', '0', '1', 'true', 'false'].includes(credText)) problems.push('STEADYSTATE_ALLOW_URL_CREDENTIALS must be 1 or 0');

  const secretEnv = list('STEADYSTATE_SECRET_ENV_ALLOW') ?? [];
  for (const p of secretEnv) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*\*?$/.test(p)) problems.push(`STEADYSTATE_SECRET_ENV_ALLOW: "${p}" is not a variable name or a PREFIX*`);
    else if (p === '*' || p.length < 3) problems.push(`STEADYSTATE_SECRET_ENV_ALLOW: "${p}" is too broad; list names or prefixes like SHOP_*`);
  }
  const secretFileDirs = (list('STEADYSTATE_SECRET_FILE_DIRS') ?? []).map((d) => path.resolve(d));
  for (const d of list('STEADYSTATE_SECRET_FILE_DIRS') ?? []) {
    if (!path.isAbsolute(d) || d === '/') problems.push(`STEADYSTATE_SECRET_FILE_DIRS: "${d}" must be an absolute directory other than /`);
  }
  return Object.freeze({
    allowedHosts: allowedHosts ? Object.freeze(allowedHosts) : undefined,
    allowUrlCredentials: credText === '1' || credText === 'true',
    secretEnv: Object.freeze(secretEnv),
    secretFileDirs: Object.freeze(secretFileDirs),
    command: parseCommandAllow(env.STEADYSTATE_COMMAND_ALLOW, problems),
  });
}

/** `STEADYSTATE_COMMAND_ALLOW=/usr/bin/kubectl:KUBECONFIG,/opt/faults/tc.sh` */
export function parseCommandAllow(text: string | undefined, problems: string[]): CommandPolicy {
  if (text === undefined || text.trim() === '') return Object.freeze({ mode: 'off' as const });
  const programs: CommandProgram[] = [];
  for (const entry of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [program = '', ...vars] = entry.split(':');
    if (!path.isAbsolute(program) || path.normalize(program) !== program) {
      problems.push(`STEADYSTATE_COMMAND_ALLOW: "${program}" must be an absolute, normalised path to a program`);
      continue;
    }
    const bad = vars.filter((v) => !ENV_NAME_RE.test(v) || NEVER_REFERENCED.some((re) => re.test(v)));
    if (bad.length > 0) problems.push(`STEADYSTATE_COMMAND_ALLOW: ${program}: ${bad.map((b) => `"${b}"`).join(', ')} cannot be passed to a program`);
    programs.push(Object.freeze({ path: program, env: Object.freeze(vars.filter((v) => !bad.includes(v))) }));
  }
  return Object.freeze({ mode: 'allowlist' as const, programs: Object.freeze(programs) });
}

/** Is `host` allowed by the allowlist? `*.example.com` matches subdomains. */
export function hostAllowed(host: string, allowed: readonly string[] | undefined): boolean {
  if (!allowed) return true;
  const h = host.toLowerCase();
  return allowed.some((a) => (a.startsWith('*.') ? h.endsWith(a.slice(1)) : h === a));
}
