/**
 * Forwarding details of the data plane on real sockets: what reaches the
 * upstream (hop-by-hop headers stripped, Host and the group header set by the
 * proxy), what comes back (upstream headers, large bodies intact), and
 * requests the proxy must refuse.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type FaultProxy, startFaultProxy } from '../../src/proxy/fault-proxy.ts';
import { type EchoUpstream, startEchoUpstream } from './echo-upstream.ts';
import { userIn } from './fixtures.ts';

let upstream: EchoUpstream;
let proxy: FaultProxy;
before(async () => {
  upstream = await startEchoUpstream();
  proxy = await startFaultProxy({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    upstream: upstream.url,
    stickyHeader: 'x-user-id',
  });
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

/** Raw HTTP/1.1 over a socket, so headers are exactly ours; resolves with the whole answer. */
function rawExchange(base: string, text: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(text));
    let out = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('timed out')));
    socket.on('data', (c: Buffer) => (out += c.toString('latin1')));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

void describe('fault proxy: forwarding', () => {
  void it('strips hop-by-hop and Connection-listed headers, sets Host, and the group header whatever its case', async () => {
    const user = userIn('control');
    const answer = await rawExchange(
      proxy.listenUrl,
      [
        'GET /h?x=1 HTTP/1.1',
        'Host: client.example',
        `X-User-Id: ${user}`,
        'X-Steadystate-Group: experiment',
        'Connection: close, X-Secret-Hop',
        'X-Secret-Hop: 1',
        'Keep-Alive: timeout=5',
        'Proxy-Connection: keep-alive',
        'X-Kept: yes',
        '',
        '',
      ].join('\r\n'),
    );
    assert.match(answer, /^HTTP\/1\.1 200 /);
    const seen = upstream.received.at(-1);
    assert.equal(seen?.url, '/h?x=1');
    assert.equal(seen?.headers.host, new URL(upstream.url).host);
    assert.equal(seen?.headers['x-steadystate-group'], 'control');
    assert.equal(seen?.headers['x-kept'], 'yes');
    assert.equal(seen?.headers['x-user-id'], user);
    for (const h of ['x-secret-hop', 'keep-alive', 'proxy-connection']) assert.equal(seen?.headers[h], undefined, h);
  });

  void it('refuses an absolute-form target instead of connecting where the client says', async () => {
    const before = upstream.received.length;
    const answer = await rawExchange(proxy.listenUrl, 'GET http://169.254.169.254/latest HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.equal(upstream.received.length, before);
  });

  void it('streams a large request body up and the echoed answer back intact, with the upstream status and headers', async () => {
    const body = 'x'.repeat(3 * 1024 * 1024);
    const res = await fetch(`${proxy.listenUrl}/status/201`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const echoed = (await res.json()) as { body: string; method: string };
    assert.equal(echoed.method, 'POST');
    assert.equal(echoed.body.length, body.length);
  });

  void it('a chunked request body without a length reaches the upstream whole', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const url = new URL(`${proxy.listenUrl}/chunked`);
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'PUT' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.write('part one,');
      setImmediate(() => req.end('part two'));
    });
    assert.equal(JSON.parse(answer).body, 'part one,part two');
  });
});
