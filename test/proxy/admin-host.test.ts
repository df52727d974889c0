/**
 * The fault proxy's admin API against DNS rebinding: a page on a name the
 * attacker makes resolve to the proxy sends that name as Host. Only IP
 * addresses, localhost and configured names are answered; everything else is
 * a 403 that says how to allow a name. The data plane takes any Host.
 * Real listeners on loopback; raw requests so the Host header is ours to set.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../../src/proxy/fault-proxy.ts';
import { startEchoUpstream, type EchoUpstream } from './echo-upstream.ts';

/** GET `path` on `base` with the given Host header; status and body. */
function get(base: string, path: string, host: string): Promise<{ status: number; body: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'GET', headers: { host }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** An HTTP/1.0 request without any Host header. */
function getWithoutHost(base: string, path: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.end(`GET ${path} HTTP/1.0\r\n\r\n`));
    let text = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('timed out')));
    socket.on('data', (c: Buffer) => (text += c.toString('utf8')));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('fault proxy admin API: Host must be an IP, localhost or a configured name', () => {
  let upstream: EchoUpstream;
  let proxy: FaultProxy;

  before(async () => {
    upstream = await startEchoUpstream();
    proxy = await startFaultProxy({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      upstream: upstream.url,
      adminHosts: ['proxy-admin.shop.svc'],
    });
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  it('answers to IP addresses, localhost and the configured name', async () => {
    const port = new URL(proxy.adminUrl).port;
    for (const host of [`127.0.0.1:${port}`, '127.0.0.1', `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`, '10.1.2.3', `proxy-admin.shop.svc:${port}`, 'app.localhost']) {
      const res = await get(proxy.adminUrl, '/windows', host);
      assert.equal(res.status, 200, `${host}: ${res.body}`);
    }
  });

  it('refuses a rebound name with a 403 that says how to allow it, on every admin route', async () => {
    for (const path of ['/windows', '/windows/x', '/healthz', '/metrics']) {
      const res = await get(proxy.adminUrl, path, 'attacker.example:80');
      assert.equal(res.status, 403, `${path}: ${res.body}`);
      assert.equal(JSON.parse(res.body).error, 'host_not_allowed');
      assert.match(JSON.parse(res.body).message, /--admin-host attacker\.example/);
    }
    for (const host of ['127.0.0.1.attacker.example', 'localhost.attacker.example', '[::1', 'a b', 'proxy-admin.shop.svc.evil']) {
      assert.equal((await get(proxy.adminUrl, '/windows', host)).status, 403, host);
    }
  });

  it('refuses a request without a Host header', async () => {
    assert.match(await getWithoutHost(proxy.adminUrl, '/windows'), /^HTTP\/1\.[01] 403/);
  });

  it('the data plane is not affected: any Host is proxied', async () => {
    const res = await get(proxy.listenUrl, '/anything', 'shop.example.com');
    assert.equal(res.status, 200, res.body);
  });
});
