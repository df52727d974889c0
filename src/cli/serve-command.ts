/**
 * `steadystate serve` — the HTTP service. SIGTERM/SIGINT close every open fault
 * window (within 20 s) before the process exits.
 */
import { startService } from '../app.ts';
import { loadConfig } from '../config.ts';
import { createLogger } from '../lib/logger.ts';

export async function serveCommand(opts: { listen?: string }): Promise<void> {
  const config = loadConfig(process.env, opts.listen ? { listen: opts.listen } : {});
  const logger = createLogger({ level: config.logLevel });
  const service = await startService(config, logger);
  logger.info({ url: service.url, store: service.store.kind }, 'steadystate listening');
  process.stdout.write(`steadystate listening on ${service.url}\n`);
  const onSignal = (signal: NodeJS.Signals): void => {
    service.stop(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
