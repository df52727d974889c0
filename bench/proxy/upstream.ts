/**
 * The trivial upstream of bench:proxy: answers every request 200 with a short
 * body, as cheaply as node:http allows, so the bench measures the proxies.
 * A child process of its own; prints `{"url": …}` once listening.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const body = Buffer.from('{"ok":true}');
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
// The bench ends us by closing stdin (or by a signal): never outlive it.
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
