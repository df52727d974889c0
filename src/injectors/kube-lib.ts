/**
 * @kubernetes/client-node, loaded on first use. It is large (seconds of start-up under tsx), and
 * every command of the CLI imports the injector registry: `steadystate validate` or `compare` must
 * not pay for a Kubernetes client they never call. `kubeLib()` loads it; `loadedKubeLib()` is for
 * synchronous code that runs after a load (kube.ts awaits `kubeLib()` before every call).
 */
import type * as K8s from '@kubernetes/client-node';

let lib: typeof K8s | undefined;

export async function kubeLib(): Promise<typeof K8s> {
  lib ??= await import('@kubernetes/client-node');
  return lib;
}

export function loadedKubeLib(): typeof K8s {
  if (!lib) throw new Error('internal: the Kubernetes client is loaded on first use (await kubeLib() before this call)');
  return lib;
}
