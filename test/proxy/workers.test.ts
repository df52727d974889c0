/**
 * `steadystate proxy --workers 2` as users start it (the CLI in a child
 * process), an echo upstream here. Fresh connections are spread over the
 * workers by node's cluster, and GET /workers says how many requests each
 * served, so a test can see that every worker applied a window.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { type EchoUpstream, startEchoUpstream } from './echo-upstream.ts';
import { getJson, inSeconds, metrics, postJson, userIn } from './fixtures.ts';
import { sumOf } from './prom-text.ts';

const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));
const experiment = userIn('experiment');

interface Running {
  child: ChildProcess;
  listenUrl: string;
  adminUrl: string;
}

async function startProxy(upstream: string): Promise<Running> {
  const child = spawn(
    process.execPath,
    [BIN, 'proxy', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--upstream', upstream, '--sticky-header', 'x-user-id', '--workers', '2'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  for await (const line of createInterface({ input: child.stderr as NodeJS.ReadableStream })) {
    const entry = JSON.parse(line) as { msg?: string; listen?: string; admin?: string };
    if (entry.msg === 'fault proxy listening') {
      clearTimeout(timer);
      // Keep reading so the child never blocks on a full pipe.
      child.stderr?.resume();
      return { child, listenUrl: entry.listen as string, adminUrl: entry.admin as string };
    }
  }
  throw new Error('the proxy exited before it listened');
}

/** One GET on a connection of its own (so the cluster picks a worker for it); status, or 'error'. */
function getOnNewConnection(base: string, user: string, agent?: Agent): Promise<number | 'error'> {
  const url = new URL('/x', base);
  return new Promise((resolve) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, headers: { 'x-user-id': user }, agent: agent ?? false, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', () => resolve('error'));
    req.end();
  });
}

interface WorkerView {
  pid: number;
  requests: number;
  upToDate: boolean;
}
async function workers(adminUrl: string): Promise<WorkerView[]> {
  const { status, body } = await getJson(`${adminUrl}/workers`);
  assert.equal(status, 200);
  return body.workers as WorkerView[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let upstream: EchoUpstream;
let proxy: Running;
before(async () => {
  upstream = await startEchoUpstream();
  proxy = await startProxy(upstream.url);
});
after(async () => {
  if (proxy.child.exitCode === null && proxy.child.signalCode === null) {
    const exited = once(proxy.child, 'exit');
    proxy.child.kill('SIGTERM');
    await exited;
  }
  await upstream.close();
});

void describe('steadystate proxy --workers 2', () => {
  void it('a window opened through the admin API applies on every worker within 100 ms, and a close too', async () => {
    const before = await workers(proxy.adminUrl);
    assert.equal(before.length, 2);

    // The admin API answers once every worker has applied the window. Timed over three opens (median): a
    // shared test machine can stall any one request.
    const answered: number[] = [];
    for (let i = 0; i < 3; i++) {
      const opened = performance.now();
      const res = await postJson(`${proxy.adminUrl}/windows`, { id: `w-all-${i}`, deadline: inSeconds(60_000), errorRate: 1 });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      answered.push(performance.now() - opened);
      if (i < 2) assert.equal((await fetch(`${proxy.adminUrl}/windows/w-all-${i}`, { method: 'DELETE' })).status, 204);
    }
    const median = [...answered].sort((a, b) => a - b)[1] as number;
    assert.ok(median < 100, `every worker applied the open after ${answered.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    const statuses = await Promise.all(Array.from({ length: 20 }, () => getOnNewConnection(proxy.listenUrl, experiment)));
    assert.deepEqual(new Set(statuses), new Set([503]), statuses.join(','));
    const during = await workers(proxy.adminUrl);
    for (const w of during) {
      const was = before.find((b) => b.pid === w.pid)?.requests ?? 0;
      assert.ok(w.requests > was, `worker ${w.pid} served none of the 20 requests: ${JSON.stringify(during)}`);
      assert.equal(w.upToDate, true);
    }
    // Metrics are the sum over the workers.
    assert.equal(sumOf(await metrics(proxy.adminUrl), 'steadystate_proxy_requests_total', { group: 'experiment', code: '503' }), 20);
    assert.equal(sumOf(await metrics(proxy.adminUrl), 'steadystate_proxy_window_open'), 1);

    const del = await fetch(`${proxy.adminUrl}/windows/w-all-2`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    const after = await Promise.all(Array.from({ length: 20 }, () => getOnNewConnection(proxy.listenUrl, experiment)));
    assert.deepEqual(new Set(after), new Set([200]), after.join(','));
    assert.equal(sumOf(await metrics(proxy.adminUrl), 'steadystate_proxy_window_open'), 0);
  });

  void it('a fault ladder step (PATCH) is answered once every worker applied it', async () => {
    const res = await postJson(`${proxy.adminUrl}/windows`, { id: 'w-ladder', deadline: inSeconds(60_000), errorRate: 1 });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const patched = await fetch(`${proxy.adminUrl}/windows/w-ladder`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: 1 }) });
    assert.equal(patched.status, 200);
    // No worker still serves the first step's errors: every one got the new fault before the answer.
    const statuses = await Promise.all(Array.from({ length: 20 }, () => getOnNewConnection(proxy.listenUrl, experiment)));
    assert.deepEqual(new Set(statuses), new Set([200]), statuses.join(','));
    assert.ok((await workers(proxy.adminUrl)).every((w) => w.upToDate));
    assert.equal((await fetch(`${proxy.adminUrl}/windows/w-ladder`, { method: 'DELETE' })).status, 204);
  });

  void it('workers end a window at its deadline by themselves', async () => {
    const res = await postJson(`${proxy.adminUrl}/windows`, { id: 'w-deadline', deadline: inSeconds(300), errorRate: 1 });
    assert.equal(res.status, 201);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const statuses = await Promise.all(Array.from({ length: 10 }, () => getOnNewConnection(proxy.listenUrl, experiment)));
    assert.deepEqual(new Set(statuses), new Set([200]), statuses.join(','));
  });

  // Last: it kills the proxy.
  // node's cluster ends a worker the moment its IPC channel closes, so the held request is cut, not answered.
  void it('when the primary dies, a worker stops injecting (a held request never gets its fault) and exits', async () => {
    const pids = (await workers(proxy.adminUrl)).map((w) => w.pid);
    const res = await postJson(`${proxy.adminUrl}/windows`, { id: 'w-orphan', deadline: inSeconds(60_000), latencyMs: 1_500, errorRate: 1 });
    assert.equal(res.status, 201);
    const agent = new Agent({ keepAlive: false });
    // Held 1.5 s by the latency fault, then it would get the injected 503.
    const held = getOnNewConnection(proxy.listenUrl, experiment, agent);
    await new Promise((resolve) => setTimeout(resolve, 300));
    proxy.child.kill('SIGKILL');
    assert.notEqual(await held, 503);
    const deadline = Date.now() + 15_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(pids.filter(alive), [], 'workers outlived their primary');
    agent.destroy();
  });
});
