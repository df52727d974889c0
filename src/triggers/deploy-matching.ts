/**
 * Which experiments a deploy starts. The rules, the same for every provider
 * (each provider's docs say where its service and environment come from):
 *
 * 1. An experiment takes part only when its spec has both
 *    `metadata.service` and `metadata.environment`: an experiment without an
 *    environment never runs after a deploy, so a production deploy cannot
 *    start an experiment written for staging by omission.
 * 2. `metadata.labels["steadystate.dev/on-deploy"]: "false"` opts out (an
 *    experiment meant for the schedule only).
 * 3. Service and environment compare case-insensitively, after trimming.
 *    A deploy value that is a path (`service/shop`, `prod-eu/staging`)
 *    also matches on its last segment (`shop`, `staging`).
 */
import type { ExperimentVersion } from '../store/types.ts';
import type { DeployEvent } from './types.ts';

export const ON_DEPLOY_LABEL = 'steadystate.dev/on-deploy';

function candidates(value: string): Set<string> {
  const v = value.trim().toLowerCase();
  const last = v.split('/').filter((s) => s !== '').pop();
  return new Set(last && last !== v ? [v, last] : [v]);
}

/** The experiments (latest versions) a deploy of `event.service` to `event.environment` starts, by name. */
export function matchExperiments(experiments: readonly ExperimentVersion[], event: Pick<DeployEvent, 'service' | 'environment'>): ExperimentVersion[] {
  const services = candidates(event.service);
  const environments = candidates(event.environment);
  return experiments
    .filter((e) => {
      const { service, environment, labels } = e.spec.metadata;
      if (!service || !environment) return false;
      if (labels?.[ON_DEPLOY_LABEL]?.trim().toLowerCase() === 'false') return false;
      return services.has(service.trim().toLowerCase()) && environments.has(environment.trim().toLowerCase());
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
