/**
 * Service-side checks on a validated spec that depend on configuration rather
 * than on the spec alone: outbound hosts, secret references and the command
 * injector (the operator's SecurityPolicy), the window cap, the traffic-share
 * cap, and which "target" a run locks.
 */
import { createHash } from 'node:crypto';
import type { ServiceConfig } from '../config.ts';
import { commandProgramCheck } from '../injectors/command-policy.ts';
import type { CommandParams } from '../injectors/command.ts';
import { injectorRegistry } from '../injectors/registry.ts';
import type { InputIssue } from '../lib/errors.ts';
import { redact, redactText } from '../lib/redact.ts';
import { urlPolicyProblem, urlStrings } from '../security/outbound-url.ts';
import { DEFAULT_POLICY, envReferenceProblem, fileReferenceProblem, type SecurityPolicy } from '../security/policy.ts';
import type { Experiment } from '../spec/schema.ts';

/** The parts of the configuration the checks read; `security` defaults to DEFAULT_POLICY with `allowedHosts`. */
export type PolicyConfig = Pick<ServiceConfig, 'allowedHosts' | 'limits'> & Partial<Pick<ServiceConfig, 'security' | 'annotations'>>;

export function securityPolicyOf(config: Pick<ServiceConfig, 'allowedHosts'> & Partial<Pick<ServiceConfig, 'security'>>): SecurityPolicy {
  return config.security ?? { ...DEFAULT_POLICY, allowedHosts: config.allowedHosts };
}

/**
 * A fault's parameters as the injector will see them: `params`, and for a ladder each step's (the
 * base with the step's level applied; adapters refuse steps that move the target, but a step may
 * still carry what the policy checks, and the next adapter may allow more).
 */
function faultParts(experiment: Experiment): [string, unknown][] {
  const { params, steps } = experiment.spec.fault;
  return [['spec.fault.params', params], ...(steps ?? []).slice(1).map((st): [string, unknown] => [`spec.fault.steps[${st.index}]`, st.params])];
}

/** Where a spec may make this process reach out: its source, its fault's params (every step's), its notifications. */
function outboundParts(experiment: Experiment): [string, unknown][] {
  return [['spec.source', experiment.spec.source], ...faultParts(experiment), ['spec.notify', experiment.spec.notify], ['spec.expect', experiment.spec.expect]];
}

/**
 * Outbound URLs (on the parsed host) and secret references against the
 * operator's policy. The raw form of every URL was checked by the schema;
 * this is what depends on the configuration. `steadystate validate` runs it
 * with the policy of its own environment.
 */
export function outboundIssues(experiment: Experiment, policy: SecurityPolicy): InputIssue[] {
  const issues: InputIssue[] = [];
  for (const [base, part] of outboundParts(experiment)) {
    for (const { path, raw } of urlStrings(part, base)) {
      const problem = urlPolicyProblem(new URL(raw), policy);
      if (problem) issues.push({ path, message: problem });
    }
  }
  return issues;
}

/** Every `{ fromEnv }` / `{ fromFile }` reference (and Datadog key file) in the source and the fault. */
export function secretReferenceIssues(experiment: Experiment, policy: SecurityPolicy): InputIssue[] {
  const issues: InputIssue[] = [];
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        const at = `${path}.${k}`;
        const problem =
          typeof v !== 'string'
            ? undefined
            : k === 'fromEnv'
              ? envReferenceProblem(v, policy)
              : k === 'fromFile' || /^(apiKeyFile|appKeyFile)$/.test(k)
                ? fileReferenceProblem(v, policy)
                : undefined;
        if (problem) issues.push({ path: at, message: problem });
        walk(v, at);
      }
    }
  };
  walk(experiment.spec.source, 'spec.source');
  for (const [path, params] of faultParts(experiment)) walk(params, path);
  walk(experiment.spec.expect, 'spec.expect');
  return issues;
}

/** The command injector: on, and every program it names on the operator's list. */
export function commandIssues(experiment: Experiment, policy: SecurityPolicy): InputIssue[] {
  if (experiment.spec.fault.injector !== 'command') return [];
  const issues: InputIssue[] = [];
  for (const [path, raw] of faultParts(experiment)) {
    const params = raw as CommandParams;
    for (const phase of ['open', 'close', 'status'] as const) {
      const argv = params[phase];
      if (!argv) continue;
      const verdict = commandProgramCheck(argv[0] ?? '', policy.command, params.env);
      if (!verdict.ok) issues.push({ path: `${path}.${phase}[0]`, message: verdict.problem });
      if (policy.command.mode === 'off') return issues;
    }
  }
  return issues;
}

export function policyIssues(experiment: Experiment, config: PolicyConfig): InputIssue[] {
  const policy = securityPolicyOf(config);
  const issues: InputIssue[] = [...outboundIssues(experiment, policy), ...secretReferenceIssues(experiment, policy), ...commandIssues(experiment, policy)];
  if (experiment.spec.fault.duration > config.limits.maxWindowMs) {
    issues.push({
      path: 'spec.fault.duration',
      message: `${experiment.spec.fault.duration / 1000}s is longer than this service allows (${config.limits.maxWindowMs / 1000}s)`,
    });
  }
  const share = trafficShare(experiment);
  if (share !== undefined && share > config.limits.maxTrafficShare) {
    issues.push({
      path: 'spec.fault.params',
      message: `affects ${(share * 100).toFixed(1)}% of traffic; this service allows at most ${(config.limits.maxTrafficShare * 100).toFixed(1)}%`,
    });
  }
  return issues;
}

/** The share of traffic a fault affects, where its injector can say. */
export function trafficShare(experiment: Experiment): number | undefined {
  const factory = injectorRegistry.get(experiment.spec.fault.injector);
  return factory?.trafficShare?.(experiment.spec.fault.params);
}

/**
 * What a run locks: at most one active run per target. Adapters that know
 * their backend name the target (the proxy's admin URL, a namespace); the
 * fallback is the injector kind and its exact params.
 */
export function targetOf(experiment: Experiment): string {
  const { injector, params } = experiment.spec.fault;
  const factory = injectorRegistry.get(injector);
  // Shown to viewers: params may hold credentials (a header, a token in a URL), so redacted.
  const named = factory?.targetOf?.(params);
  return boundedTarget(named !== undefined ? redactText(named) : `${injector}:${stableJson(redact(params))}`);
}

/** The store keeps targets up to this many characters (runs.target). */
export const MAX_TARGET_CHARS = 512;

/**
 * A spec that validates must start: a long target (a webhook whose body is
 * hundreds of characters) keeps a readable head and ends with a SHA-256 of
 * the whole, so two runs lock each other exactly when their full targets are
 * equal, and the row fits the store.
 */
export function boundedTarget(target: string): string {
  if (target.length <= MAX_TARGET_CHARS) return target;
  const digest = createHash('sha256').update(target).digest('hex');
  const tail = `… sha256:${digest}`;
  return `${target.slice(0, MAX_TARGET_CHARS - tail.length)}${tail}`;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
