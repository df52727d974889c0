/**
 * Free TCP ports on loopback for tests that start servers or child processes.
 */
import { createServer } from 'node:net';

/**
 * A TCP port that was free on 127.0.0.1 a moment ago: the OS picks it (port 0),
 * we read it and release it. Another process can take it before the caller
 * binds it, so callers that hand it to a child process should retry on
 * "address already in use" (startPrometheus does). Servers started in this
 * process should prefer `listen(0, '127.0.0.1')` and read the port back.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected server address ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
