import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { ValidationError } from '../../src/lib/errors.ts';
import { parseHostPort, parsePercent, runProxyCommand } from '../../src/proxy/command.ts';
import { type EchoUpstream, startEchoUpstream } from './echo-upstream.ts';
import { getJson, inSeconds, postJson } from './fixtures.ts';

const silent = pino({ level: 'silent' });
let upstream: EchoUpstream;
before(async () => {
  upstream = await startEchoUpstream();
});
after(async () => {
  await upstream.close();
});

/** The flags that failed, as the CLI prints them. */
async function flagErrors(opts: Parameters<typeof runProxyCommand>[0]): Promise<string[]> {
  try {
    const proxy = await runProxyCommand(opts, { logger: silent });
    await proxy.close();
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

void describe('steadystate proxy: flags', () => {
  void it('parses HOST:PORT, IPv6 in brackets included', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseHostPort('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseHostPort('localhost:9'), { host: 'localhost', port: 9 });
    for (const bad of ['8080', '127.0.0.1', ':8080', '127.0.0.1:99999', '::1:80', 'host:port']) {
      assert.equal(parseHostPort(bad), undefined, bad);
    }
  });

  void it('parses percentages', () => {
    assert.equal(parsePercent('5'), 5);
    assert.equal(parsePercent('0.5%'), 0.5);
    assert.equal(parsePercent(100), 100);
    for (const bad of ['-1', '101', 'five', '', '5%%']) assert.equal(parsePercent(bad), undefined, bad);
  });

  void it('every mistake is reported with its flag', async () => {
    const ok = { listen: '127.0.0.1:0', admin: '127.0.0.1:0', upstream: upstream.url };
    assert.match((await flagErrors({ ...ok, listen: '8080' })).join(), /^--listen: "8080" is not HOST:PORT/);
    assert.match((await flagErrors({ ...ok, admin: '' })).join(), /^--admin: is required/);
    assert.match((await flagErrors({ ...ok, upstream: '' })).join(), /^--upstream: is required/);
    assert.match((await flagErrors({ ...ok, upstream: 'not a url' })).join(), /^--upstream: must be an http/);
    assert.match((await flagErrors({ ...ok, upstream: `${upstream.url}/prefix` })).join(), /^--upstream: must be an origin/);
    assert.match((await flagErrors({ ...ok, controlPercent: 'lots' })).join(), /^--control-percent: "lots" is not a percentage/);
    assert.match((await flagErrors({ ...ok, controlPercent: '60', experimentPercent: '50' })).join(), /^--experiment-percent: .*must not exceed 100/);
    assert.match((await flagErrors({ ...ok, stickyHeader: 'x user' })).join(), /^--sticky-header: must be an HTTP header name/);
    assert.match((await flagErrors({ ...ok, listen: '127.0.0.1:7000', admin: '127.0.0.1:7000' })).join(), /^--admin: must differ/);
    // All at once, not one per run.
    assert.equal((await flagErrors({ listen: 'x', admin: 'y', upstream: '', controlPercent: 'z' })).length, 4);
  });

  void it('starts on port 0, and closing removes its signal handlers', async () => {
    const before = process.listenerCount('SIGTERM');
    const proxy = await runProxyCommand(
      { listen: '127.0.0.1:0', admin: '127.0.0.1:0', upstream: upstream.url, controlPercent: '10', experimentPercent: '10' },
      { logger: silent },
    );
    assert.equal(process.listenerCount('SIGTERM'), before + 1);
    assert.equal((await getJson(`${proxy.adminUrl}/healthz`)).status, 200);
    const res = await fetch(`${proxy.listenUrl}/hello`);
    assert.equal(res.status, 200);
    await res.text();
    await proxy.close();
    assert.equal(process.listenerCount('SIGTERM'), before);
  });
});

void describe('steadystate proxy: signals', () => {
  void it('SIGTERM closes the open window and the listeners, and the process exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./proxy-child.ts', import.meta.url)), upstream.url], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async (): Promise<{ adminUrl: string; closed: { id: string; closedReason: string } }> => {
      const { value, done } = await lines.next();
      assert.ok(!done, 'child stdout ended early');
      return JSON.parse(value);
    };
    try {
      const { adminUrl } = await next();
      const opened = await postJson(`${adminUrl}/windows`, { id: 'sig', deadline: inSeconds(60_000), errorRate: 1 });
      assert.equal(opened.status, 201);
      child.kill('SIGTERM');
      const { closed } = await next();
      assert.equal(closed.id, 'sig');
      assert.equal(closed.closedReason, 'closed');
      const [code, signal] = await exited;
      assert.equal(signal, null, 'killed by the signal instead of handling it');
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
