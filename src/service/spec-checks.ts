/**
 * Service-side checks on a validated spec that depend on configuration rather
 * than on the spec alone: the outbound host allowlist, the window cap, the
 * traffic-share cap, and which "target" a run locks.
 */
import { hostAllowed, type ServiceConfig } from '../config.ts';
import { injectorRegistry } from '../injectors/registry.ts';
import type { InputIssue } from '../lib/errors.ts';
import type { Experiment } from '../spec/schema.ts';

/** Every http(s) URL in the source and the fault params, with where it sits. */
export function outboundUrls(experiment: Experiment): { path: string; url: URL }[] {
  const found: { path: string; url: URL }[] = [];
  const walk = (value: unknown, path: string): void => {
    if (typeof value === 'string') {
      if (/^https?:\/\//i.test(value)) {
        try {
          found.push({ path, url: new URL(value) });
        } catch {
          // Not a URL after all (e.g. a template); the adapter validates its own fields.
        }
      }
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${path}[${i}]`));
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
    }
  };
  walk(experiment.spec.source, 'spec.source');
  walk(experiment.spec.fault.params, 'spec.fault.params');
  walk(experiment.spec.notify, 'spec.notify');
  return found;
}

export function policyIssues(experiment: Experiment, config: Pick<ServiceConfig, 'allowedHosts' | 'limits'>): InputIssue[] {
  const issues: InputIssue[] = [];
  for (const { path, url } of outboundUrls(experiment)) {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!hostAllowed(host, config.allowedHosts)) {
      issues.push({ path, message: `host "${host}" is not in STEADYSTATE_ALLOWED_HOSTS` });
    }
  }
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
  return factory?.targetOf?.(params) ?? `${injector}:${stableJson(params)}`;
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
