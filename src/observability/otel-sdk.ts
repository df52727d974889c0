/**
 * Switch the OpenTelemetry SDK on when, and only when, the standard OTEL_*
 * variables ask for traces. The SDK (`@opentelemetry/sdk-node`, which brings
 * the OTLP exporters) is imported dynamically from a module name held in a
 * variable: a process without those variables never loads it, and the code
 * type-checks and runs whether or not the package is installed.
 *
 * The SDK reads the rest of its configuration from the same variables itself
 * (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL,
 * OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES, …): that is the contract
 * operators know, so we add no names of our own.
 */
import type { Logger } from 'pino';

export interface TracingHandle {
  readonly enabled: boolean;
  /** Flush and stop the exporter; a no-op when tracing is off. */
  shutdown(): Promise<void>;
}

const OFF: TracingHandle = Object.freeze({ enabled: false, shutdown: async () => undefined });

export const SDK_MODULE = '@opentelemetry/sdk-node';

/** The env variables that decide, read by `tracingRequested`. */
export type OtelEnv = Partial<
  Record<'OTEL_SDK_DISABLED' | 'OTEL_TRACES_EXPORTER' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' | 'OTEL_SERVICE_NAME', string>
>;

/**
 * On when an exporter is named (other than `none`) or an OTLP endpoint is
 * set; `OTEL_SDK_DISABLED=true` wins over both, as the spec says.
 */
export function tracingRequested(env: OtelEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = env.OTEL_TRACES_EXPORTER?.split(',').map((e) => e.trim().toLowerCase()).filter(Boolean);
  if (exporters && exporters.length > 0) return !exporters.every((e) => e === 'none');
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

interface NodeSdk {
  start(): unknown;
  shutdown(): Promise<unknown>;
}
type NodeSdkConstructor = new (config: Record<string, unknown>) => NodeSdk;

function sdkConstructor(mod: unknown): NodeSdkConstructor | undefined {
  if (typeof mod !== 'object' || mod === null) return undefined;
  const ctor = (mod as { NodeSDK?: unknown }).NodeSDK;
  return typeof ctor === 'function' ? (ctor as NodeSdkConstructor) : undefined;
}

/**
 * Start the SDK if the variables ask for it. Never throws: a service that
 * halts faults must start even when its tracing cannot; the reason is logged.
 * `load` is the dynamic import, replaceable in tests.
 */
export async function startTracing(
  env: OtelEnv,
  logger: Logger,
  load: (specifier: string) => Promise<unknown> = (specifier) => import(specifier),
): Promise<TracingHandle> {
  if (!tracingRequested(env)) return OFF;
  let NodeSDK: NodeSdkConstructor | undefined;
  try {
    NodeSDK = sdkConstructor(await load(SDK_MODULE));
  } catch (err) {
    logger.error({ err }, `OTEL_* variables ask for traces but ${SDK_MODULE} could not be loaded; tracing stays off`);
    return OFF;
  }
  if (!NodeSDK) {
    logger.error(`${SDK_MODULE} has no NodeSDK export; tracing stays off`);
    return OFF;
  }
  try {
    // No auto-instrumentation: our spans are the ones that say what a run did.
    const sdk = new NodeSDK({ instrumentations: [], ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: 'steadystate' }) });
    await sdk.start();
    logger.info({ exporter: env.OTEL_TRACES_EXPORTER ?? 'otlp' }, 'OpenTelemetry tracing on');
    let stopping: Promise<void> | undefined;
    return {
      enabled: true,
      shutdown() {
        stopping ??= sdk.shutdown().then(
          () => undefined,
          (err: unknown) => logger.warn({ err }, 'OpenTelemetry shutdown failed; some spans may be lost'),
        );
        return stopping;
      },
    };
  } catch (err) {
    logger.error({ err }, 'OpenTelemetry SDK failed to start; tracing stays off');
    return OFF;
  }
}
