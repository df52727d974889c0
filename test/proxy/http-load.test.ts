import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isLoopbackUrl, runLoad } from '../helpers/http-load.ts';
import { type EchoUpstream, startEchoUpstream } from './echo-upstream.ts';

let upstream: EchoUpstream;
before(async () => {
  upstream = await startEchoUpstream();
});
after(async () => {
  await upstream.close();
});

void describe('runLoad (test helper)', () => {
  void it('refuses anything but loopback, and unbounded runs', async () => {
    assert.equal(isLoopbackUrl('http://127.0.0.1:80'), true);
    assert.equal(isLoopbackUrl('http://localhost:80'), true);
    assert.equal(isLoopbackUrl('http://[::1]:80'), true);
    assert.equal(isLoopbackUrl('http://example.com'), false);
    assert.equal(isLoopbackUrl('http://10.0.0.1'), false);
    const paths = [{ path: '/', weight: 1 }];
    await assert.rejects(runLoad({ url: 'http://example.com', paths, ratePerSecond: 1, durationMs: 10, users: 1 }), /loopback/);
    await assert.rejects(runLoad({ url: upstream.url, paths, ratePerSecond: 1e6, durationMs: 10, users: 1 }), /ratePerSecond/);
    await assert.rejects(runLoad({ url: upstream.url, paths, ratePerSecond: 10, users: 1 }), /durationMs or signal/);
  });

  void it('keeps the rate, spreads users over the sticky header and paths by weight, counts by status', async () => {
    const before = upstream.received.length;
    const summary = await runLoad({
      url: upstream.url,
      paths: [
        { path: '/ok', weight: 3 },
        { path: '/status/500', method: 'POST', weight: 1 },
      ],
      ratePerSecond: 200,
      durationMs: 500,
      stickyHeader: 'x-user-id',
      users: 10,
    });
    // 100 ticks are due in 500 ms; timers may cost one at the edge.
    assert.ok(summary.sent >= 98 && summary.sent <= 100, `sent ${summary.sent}`);
    assert.equal(summary.errors, 0);
    assert.equal((summary.byStatus['200'] ?? 0) + (summary.byStatus['500'] ?? 0), summary.sent);
    assert.ok((summary.byStatus['500'] ?? 0) > 5 && (summary.byStatus['500'] ?? 0) < 50, JSON.stringify(summary.byStatus));
    const seen = upstream.received.slice(before);
    const users = new Set(seen.map((r) => r.headers['x-user-id']));
    assert.ok(users.size > 5 && users.size <= 10, `${users.size} users`);
    assert.ok(seen.filter((r) => r.url === '/status/500').every((r) => r.method === 'POST'));
  });

  void it('counts connection failures instead of throwing, and stops on its signal', async () => {
    const dead = await startEchoUpstream();
    await dead.close();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const summary = await runLoad({ url: dead.url, paths: [{ path: '/', weight: 1 }], ratePerSecond: 100, signal: controller.signal, users: 1 });
    assert.ok(summary.elapsedMs < 1_000, `ran ${summary.elapsedMs}ms`);
    assert.ok(summary.sent > 5);
    assert.equal(summary.errors, summary.sent);
    assert.equal(summary.byStatus.error, summary.sent);
  });
});
