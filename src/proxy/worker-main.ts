/** Entry point of a `steadystate proxy --workers N` worker process (forked by proxy-cluster.ts). */
import { runProxyWorker } from './proxy-worker.ts';

try {
  await runProxyWorker();
} catch (err) {
  process.stderr.write(`steadystate proxy worker: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
