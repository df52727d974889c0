/**
 * The composition root: the one place adapters, the store, the run service and
 * the HTTP layer are built and wired. Nothing deeper calls `new` on a port.
 */
import type { Logger } from 'pino';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { ServiceConfig } from './config.ts';
import type { ZodApp } from './http/types.ts';
import { registerSecretValues } from './lib/redact.ts';
import { startTracing } from './observability/otel-sdk.ts';
import { ServiceTelemetry } from './observability/service-telemetry.ts';
import { SlackNotifier } from './notifiers/slack-notifier.ts';
import { ensureBootstrapToken } from './service/bootstrap-token.ts';
import { RunService } from './service/run-service.ts';
import { Scheduler } from './triggers/scheduler.ts';
import { openStore } from './store/open-store.ts';
import type { Store } from './store/types.ts';

export interface Service {
  app: ZodApp;
  store: Store;
  runs: RunService;
  /** The service's metrics (on `/metrics`) and spans; bench and tests read its histograms. */
  telemetry: ServiceTelemetry;
  /** The address it listens on, with the real port. */
  url: string;
  /** Close every open window (bounded by the grace), then stop listening and close the store. */
  stop(reason: string): Promise<void>;
}

function safePassword(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}

export async function startService(config: Readonly<ServiceConfig>, logger: Logger): Promise<Service> {
  // The OTel SDK reads its own OTEL_* variables (its contract with operators); we only decide whether to load it.
  // The service's own secrets are removed wherever they might show up in text (src/lib/redact.ts).
  registerSecretValues([
    config.adminToken,
    ...Object.values(config.webhookSecrets),
    config.slack.botToken,
    config.slack.webhookUrl,
    ...Object.entries(config.slack.env).flatMap(([name, value]) => (/TOKEN|WEBHOOK|SECRET/.test(name) ? [value] : [])),
    config.databaseUrl ? safePassword(config.databaseUrl) : undefined,
  ]);
  const tracing = await startTracing(process.env, logger);
  const store = await openStore(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: config.dataDir });
  try {
    if (config.adminToken) await ensureBootstrapToken(store.tokens, config.adminToken, logger);
    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics, prefix: 'steadystate_' });
    const telemetry = new ServiceTelemetry({ registry: metrics });
    const runs = new RunService(store, config, logger, { leaseMs: config.leaseMs, telemetry });
    // PGlite admits one process, so whatever is active at start was left by a dead one;
    // on PostgreSQL other replicas may be alive: only runs whose lease expired are taken.
    const reconciled = await runs.reconcile({ staleAfterMs: store.kind === 'pglite' ? 0 : config.leaseMs });
    if (reconciled.resumed.length > 0 || reconciled.reconciled.length > 0 || reconciled.failures.length > 0) {
      logger.warn(reconciled, 'took over runs left active by a previous process');
    }
    runs.startBackground();
    // Slack hears about runs after they are recorded, never on the halt path.
    const slack = new SlackNotifier({ config, logger: logger.child({ component: 'slack' }) });
    runs.addListener(slack);
    const scheduler = config.scheduler
      ? new Scheduler({ experiments: store.experiments, runs: store.runs, starter: runs, triggers: store.triggers, logger: logger.child({ component: 'scheduler' }) })
      : undefined;

    new Gauge({
      name: 'steadystate_active_runs',
      help: 'Runs this process is driving now.',
      registers: [metrics],
      collect() {
        this.set(runs.activeRunIds().length);
      },
    });

    // Loaded after the reconciler has run: faults left open close a little sooner after a restart.
    const { buildHttpApp } = await import('./http/app.ts');
    const app = await buildHttpApp({ store, runs, config, logger, metrics, ...(scheduler ? { scheduler } : {}) });
    await app.listen({ host: config.listen.host, port: config.listen.port });
    await scheduler?.start();
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.listen.port;
    const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
    let stopping: Promise<void> | undefined;
    return {
      app,
      store,
      runs,
      telemetry,
      url: `http://${host}:${port}`,
      stop(reason: string) {
        stopping ??= (async () => {
          logger.info({ reason }, 'stopping: closing open fault windows first');
          await scheduler?.stop();
          const result = await runs.shutdown(config.shutdownGraceMs);
          logger.info(result, 'runs stopped');
          await Promise.race([slack.flush(), new Promise((r) => setTimeout(r, 5_000).unref())]);
          await app.close();
          await store.close();
          await tracing.shutdown();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await store.close().catch(() => undefined);
    await tracing.shutdown();
    throw err;
  }
}
