/**
 * Contract tests of the toxiproxy injector against a local server that
 * follows Toxiproxy's HTTP API.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { closeWithRetry } from '../../src/injectors/close.ts';
import { runIdOfToxic, toxiproxyInjector, toxiproxyParamsSchema } from '../../src/injectors/toxiproxy.ts';
import type { InjectorHandle } from '../../src/injectors/types.ts';
import { InjectorError } from '../../src/lib/errors.ts';
import { FakeToxiproxy } from './fake-toxiproxy.ts';

const toxi = new FakeToxiproxy();
before(async () => {
  await toxi.start();
});
after(async () => {
  await toxi.stop();
});
afterEach(() => {
  toxi.reset();
});

function params(over: Record<string, unknown> = {}) {
  return toxiproxyParamsSchema.parse({ url: `${toxi.url}/`, proxy: 'redis', type: 'latency', toxicity: '25%', attributes: { latency: 300, jitter: 50 }, ...over });
}

let seq = 0;
function ctx(deadlineInMs = 60_000) {
  return { runId: `run-toxi-${++seq}`, experiment: 'cache latency', deadline: new Date(Date.now() + deadlineInMs) };
}

/** A string field of a handle (handles are plain JSON). */
function str(v: unknown): string {
  assert.equal(typeof v, 'string');
  return v as string;
}

async function rejectsWith(p: Promise<unknown>, check: (err: InjectorError) => void): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InjectorError, `not an InjectorError: ${inspect(err)}`);
    check(err);
    return true;
  });
}

void describe('toxiproxy params', () => {
  void it('checks the attributes of each toxic type', () => {
    assert.equal(toxiproxyParamsSchema.safeParse({ proxy: 'p', type: 'latency', attributes: {} }).success, false);
    const wrong = toxiproxyParamsSchema.safeParse({ proxy: 'p', type: 'bandwidth', attributes: { rate: 100, latency: 5 } });
    assert.equal(wrong.success, false);
    assert.match(JSON.stringify(wrong.error?.issues), /not an attribute of bandwidth; known: rate/);
    const ok = toxiproxyParamsSchema.parse({ proxy: 'p', type: 'reset_peer' });
    assert.equal(ok.url, 'http://127.0.0.1:8474');
    assert.equal(ok.stream, 'downstream');
    assert.equal(ok.toxicity, 1);
    assert.equal(toxiproxyParamsSchema.safeParse({ proxy: 'p', type: 'latency', attributes: { latency: 1 }, toxicity: '150%' }).success, false);
  });
  void it('reads run ids back from toxic names', () => {
    assert.equal(runIdOfToxic('steadystate-run-1'), 'run-1');
    assert.equal(runIdOfToxic('steadystate-'), undefined);
    assert.equal(runIdOfToxic('latency_downstream'), undefined);
  });
});

void describe('toxiproxy injector', () => {
  void it('open adds a named toxic with toxicity and attributes, then reads the proxy back', async () => {
    toxi.addProxy('redis');
    const injector = toxiproxyInjector.create(params(), {});
    const c = ctx();
    const handle = await injector.open(c);

    const [post] = toxi.server.sent('POST', '/proxies/redis/toxics');
    assert.ok(post);
    assert.equal(post.headers['content-type'], 'application/json');
    assert.doesNotMatch(String(post.headers['user-agent']), /^Mozilla\//);
    assert.deepEqual(JSON.parse(post.body), {
      name: `steadystate-${c.runId}`,
      type: 'latency',
      stream: 'downstream',
      toxicity: 0.25,
      attributes: { latency: 300, jitter: 50 },
    });
    assert.equal(toxi.server.sent('GET', '/proxies/redis').length, 1);
    assert.deepEqual(handle, { injector: 'toxiproxy', url: toxi.url, proxy: 'redis', toxic: `steadystate-${c.runId}`, timeoutMs: 5000 });
    assert.equal(toxi.proxies.get('redis')?.toxics.length, 1);
  });

  void it('status follows the toxic; close deletes it', async () => {
    toxi.addProxy('redis');
    const injector = toxiproxyInjector.create(params(), {});
    const handle = await injector.open(ctx());
    assert.equal((await injector.status(handle)).state, 'active');
    await injector.close(handle);
    assert.equal(toxi.server.sent('DELETE', `/proxies/redis/toxics/${str(handle.toxic)}`).length, 1);
    assert.equal(toxi.proxies.get('redis')?.toxics.length, 0);
    assert.equal((await injector.status(handle)).state, 'closed');
  });

  void it('close of a toxic, or a proxy, that is already gone succeeds', async () => {
    toxi.addProxy('redis');
    const injector = toxiproxyInjector.create(params(), {});
    await injector.close({ injector: 'toxiproxy', url: toxi.url, proxy: 'redis', toxic: 'steadystate-gone', timeoutMs: 1000 });
    await injector.close({ injector: 'toxiproxy', url: toxi.url, proxy: 'no-such-proxy', toxic: 'steadystate-gone', timeoutMs: 1000 });
    assert.equal(toxi.server.sent('DELETE').length, 2);
  });

  void it('a close that fails, then succeeds, goes through closeWithRetry', async () => {
    toxi.addProxy('redis');
    const injector = toxiproxyInjector.create(params(), {});
    const handle = await injector.open(ctx());
    toxi.server.once('DELETE', '/proxies/:p/toxics/:t', { status: 500, body: { error: 'internal', status: 500 } });
    await rejectsWith(injector.close(handle), (err) => {
      assert.equal(err.retryable, true);
      assert.match(err.message, /HTTP 500: internal/);
    });
    toxi.server.once('DELETE', '/proxies/:p/toxics/:t', 'hang');
    await closeWithRetry(toxiproxyInjector.create(params(), { timeoutMs: 100 }), handle, { baseMs: 1, maxMs: 5 });
    assert.equal(toxi.server.sent('DELETE').length, 3);
    assert.equal(toxi.proxies.get('redis')?.toxics.length, 0);
  });

  void it('a toxic on a disabled proxy is not in effect: open fails and removes it', async () => {
    toxi.addProxy('redis', [], false);
    const injector = toxiproxyInjector.create(params(), {});
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.equal(err.retryable, false);
      assert.equal(err.code, 'injector_not_injected');
      assert.match(err.message, /is not in effect: proxy redis is disabled; toxic redis\/steadystate-run-toxi-\d+ was removed again/);
    });
    assert.equal(toxi.proxies.get('redis')?.toxics.length, 0);
  });

  void it('a retried open adopts the toxic its first attempt added', async () => {
    toxi.addProxy('redis');
    const injector = toxiproxyInjector.create(params(), {});
    const c = ctx();
    const first = await injector.open(c);
    assert.deepEqual(await injector.open(c), first);
    assert.equal(toxi.proxies.get('redis')?.toxics.length, 1);
  });

  void it('a missing proxy is fatal, in open and in check', async () => {
    const injector = toxiproxyInjector.create(params({ proxy: 'nope' }), {});
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.equal(err.retryable, false);
      assert.match(err.message, /HTTP 404: proxy not found \(is there a proxy named "nope"\?\)/);
    });
    await rejectsWith(injector.check(), (err) => assert.match(err.message, /no proxy named "nope"/));
  });

  void it('a 401/403 from the admin API (or a gateway in front of it) is fatal', async () => {
    toxi.addProxy('redis');
    toxi.server.once('POST', '/proxies/:p/toxics', { status: 403, body: { error: 'User agent not allowed', status: 403 } });
    toxi.server.once('DELETE', '/proxies/:p/toxics/:t', { status: 401, body: 'Unauthorized' });
    const injector = toxiproxyInjector.create(params(), {});
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.equal(err.retryable, false);
      assert.match(err.message, /HTTP 403: User agent not allowed/);
    });
    const h: InjectorHandle = { injector: 'toxiproxy', url: toxi.url, proxy: 'redis', toxic: 'steadystate-x', timeoutMs: 1000 };
    await rejectsWith(injector.close(h), (err) => assert.equal(err.retryable, false));
  });

  void it('an unreachable Toxiproxy is a retryable network error', async () => {
    const injector = toxiproxyInjector.create(params({ url: 'http://127.0.0.1:9' }), { timeoutMs: 500 });
    await rejectsWith(injector.close({ injector: 'toxiproxy', url: 'http://127.0.0.1:9', proxy: 'p', toxic: 't', timeoutMs: 500 }), (err) => {
      assert.equal(err.retryable, true);
      assert.equal(err.code, 'injector_network');
    });
  });

  void it('listOwned finds our toxics on every proxy by name prefix', async () => {
    toxi.addProxy('redis', [{ name: 'steadystate-run-a', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 1 } }]);
    toxi.addProxy('pg', [
      { name: 'latency_downstream', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 1 } },
      { name: 'steadystate-run-b', type: 'timeout', stream: 'upstream', toxicity: 1, attributes: { timeout: 0 } },
    ]);
    const owned = await toxiproxyInjector.create(params(), {}).listOwned!();
    assert.deepEqual(
      owned.map((o) => [o.runId, o.ref]).sort(),
      [
        ['run-a', 'toxic redis/steadystate-run-a'],
        ['run-b', 'toxic pg/steadystate-run-b'],
      ],
    );
  });

  void it('a ladder step updates the open toxic in place; a toxic that is gone is not added back', async () => {
    toxi.addProxy('redis');
    const injector = toxiproxyInjector.create(params(), {});
    const handle = await injector.open(ctx());
    await injector.update!(handle, params({ toxicity: '50%', attributes: { latency: 900, jitter: 0 } }));
    const [toxic] = toxi.proxies.get('redis')?.toxics ?? [];
    assert.deepEqual({ toxicity: toxic?.toxicity, latency: toxic?.attributes.latency, n: toxi.proxies.get('redis')?.toxics.length }, { toxicity: 0.5, latency: 900, n: 1 });
    await injector.close(handle);
    await rejectsWith(injector.update!(handle, params()), (err) => {
      assert.equal(err.retryable, false);
      assert.match(err.message, /the toxic is gone/);
    });
    assert.equal(toxi.proxies.get('redis')?.toxics.length, 0);
  });
});
