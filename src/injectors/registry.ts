/**
 * Injector adapters keyed by `spec.fault.injector`. Adding a backend is one
 * file beside this one and one line here; an unknown kind fails validation with
 * the list of known kinds, never a silent fallback.
 */
import { ValidationError } from '../lib/errors.ts';
import { awsFisInjector } from './aws-fis.ts';
import { chaosMeshInjector } from './chaos-mesh.ts';
import { commandInjector } from './command.ts';
import { gremlinInjector } from './gremlin.ts';
import { httpProxyInjector } from './http-proxy.ts';
import { litmusInjector } from './litmus.ts';
import { toxiproxyInjector } from './toxiproxy.ts';
import type { Injector, InjectorDeps, InjectorFactory } from './types.ts';
import { webhookInjector } from './webhook.ts';

const factories: InjectorFactory<never>[] = [
  httpProxyInjector as InjectorFactory<never>,
  webhookInjector as InjectorFactory<never>,
  commandInjector as InjectorFactory<never>,
  chaosMeshInjector as InjectorFactory<never>,
  litmusInjector as InjectorFactory<never>,
  awsFisInjector as InjectorFactory<never>,
  gremlinInjector as InjectorFactory<never>,
  toxiproxyInjector as InjectorFactory<never>,
];

export const injectorRegistry: ReadonlyMap<string, InjectorFactory<unknown>> = new Map(
  factories.map((f) => [f.kind, f as InjectorFactory<unknown>]),
);

/** Kinds whose open fault can change in place, so `fault.steps` works with them. */
export function ladderInjectorKinds(): string[] {
  return [...injectorRegistry.values()].filter((f) => f.ladder).map((f) => f.kind).sort();
}

export function knownInjectorKinds(): string[] {
  return [...injectorRegistry.keys()].sort();
}

/** Build the injector for a validated fault spec (params already parsed by the adapter's schema). */
export function createInjector(kind: string, params: unknown, deps: InjectorDeps = {}): Injector {
  const factory = injectorRegistry.get(kind);
  if (!factory) {
    throw new ValidationError([
      { path: 'spec.fault.injector', message: `unknown injector "${kind}"; known: ${knownInjectorKinds().join(', ')}` },
    ]);
  }
  return factory.create(params, deps);
}
