/**
 * Deploy providers by the `{provider}` path segment. A provider is enabled
 * only when its secret is configured (STEADYSTATE_WEBHOOK_SECRET_<PROVIDER>):
 * there is no unauthenticated mode.
 */
import { argocdProvider } from './argocd.ts';
import { cdeventsProvider } from './cdevents.ts';
import { genericProvider } from './generic.ts';
import { githubProvider } from './github.ts';
import { DEPLOY_PROVIDERS, type DeployProvider, type DeployProviderName } from './types.ts';

export const deployProviders: ReadonlyMap<string, DeployProvider> = new Map<string, DeployProvider>(
  [githubProvider, argocdProvider, cdeventsProvider, genericProvider].map((p) => [p.name, p]),
);

export function knownDeployProviders(): readonly DeployProviderName[] {
  return DEPLOY_PROVIDERS;
}

/** The provider and its secret, or undefined when unknown or disabled (both answer 404: a stranger learns nothing). */
export function enabledProvider(
  name: string,
  secrets: Readonly<Partial<Record<string, string>>>,
): { provider: DeployProvider; secret: string } | undefined {
  const provider = deployProviders.get(name);
  const secret = Object.hasOwn(secrets, name) ? secrets[name] : undefined;
  if (!provider || secret === undefined || secret === '') return undefined;
  return { provider, secret };
}
