/**
 * The hooks a run gets (src/engine/run-hooks.ts): its alert expectations,
 * when the spec has any, and the service's annotation targets, when the
 * operator configured some. Built where runs are launched (the run service,
 * `steadystate run`), so the engine never constructs an adapter.
 */
import { AlertWatcher } from '../alerts/alert-watcher.ts';
import type { AlertEndpoint } from '../alerts/alert-spec.ts';
import { AnnotationHook } from '../annotations/annotation-hook.ts';
import type { AnnotationsConfig } from '../annotations/annotations-config.ts';
import { DatadogEventAnnotator } from '../annotations/datadog-events.ts';
import { GrafanaAnnotator } from '../annotations/grafana.ts';
import type { Annotator } from '../annotations/types.ts';
import type { RunHook } from '../engine/run-hooks.ts';
import type { SecurityPolicy } from '../security/policy.ts';
import type { Experiment } from '../spec/schema.ts';

export interface RunHookDeps {
  policy: SecurityPolicy;
  annotations?: AnnotationsConfig;
  env?: NodeJS.ProcessEnv;
}

export function buildRunHooks(experiment: Experiment, deps: RunHookDeps): RunHook[] {
  const hooks: RunHook[] = [];
  const { spec, metadata } = experiment;
  const env = deps.env ?? process.env;
  if (spec.expect) {
    const source = spec.source as { kind: string; url?: string; headers?: AlertEndpoint['headers'] };
    // The schema requires expect.prometheus unless the source is Prometheus.
    const prometheus: AlertEndpoint = spec.expect.prometheus ?? { url: source.url ?? '', ...(source.headers ? { headers: source.headers } : {}) };
    hooks.push(new AlertWatcher(spec.expect, { prometheus, policy: deps.policy, env }));
  }
  const annotators: Annotator[] = [];
  if (deps.annotations?.grafana) annotators.push(new GrafanaAnnotator(deps.annotations.grafana, env));
  if (deps.annotations?.datadog) annotators.push(new DatadogEventAnnotator(deps.annotations.datadog, env));
  if (annotators.length > 0) {
    const info = {
      experiment: metadata.name,
      injector: spec.fault.injector,
      ...(metadata.service ? { service: metadata.service } : {}),
      ...(metadata.environment ? { environment: metadata.environment } : {}),
    };
    hooks.push(new AnnotationHook(annotators, info, deps.annotations?.timeoutMs ?? 3_000));
  }
  return hooks;
}
