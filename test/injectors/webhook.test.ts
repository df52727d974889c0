/**
 * Contract tests of the webhook injector against a real HTTP server on
 * 127.0.0.1 that records every request and answers from a script.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { z } from 'zod';
import { AbortedError, InjectorError } from '../../src/lib/errors.ts';
import {
  PLACEHOLDERS,
  renderJsonTemplate,
  renderTemplate,
  templateString,
  templateVars,
  unknownPlaceholders,
} from '../../src/injectors/template.ts';
import { closeWithRetry } from '../../src/injectors/close.ts';
import type { InjectorHandle } from '../../src/injectors/types.ts';
import { createWebhookInjector as createWithDeps, redactUrl, webhookInjector, type WebhookDeps, type WebhookParams } from '../../src/injectors/webhook.ts';
import { DEFAULT_POLICY } from '../../src/security/policy.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** `hang` never answers (for timeouts); otherwise status and an optional JSON or text body. */
type Reply = { status: number; body?: unknown } | { hang: true };

/** A real server: replies to each path from its script in order (the last reply repeats). */
class RecordingServer {
  readonly seen: Seen[] = [];
  private readonly scripts = new Map<string, Reply[]>();
  private server: Server | undefined;
  base = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const script = this.scripts.get(path) ?? [{ status: 200 }];
        const reply = (script.length > 1 ? script.shift() : script[0]) as Reply;
        if ('hang' in reply) return;
        const body = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
        res.writeHead(reply.status, { 'content-type': 'application/json' }).end(body);
      });
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  script(path: string, ...replies: Reply[]): void {
    this.scripts.set(path, replies);
  }

  requestsTo(path: string): Seen[] {
    return this.seen.filter((s) => s.url.split('?')[0] === path);
  }

  reset(): void {
    this.seen.length = 0;
    this.scripts.clear();
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    // Hung requests and keep-alive sockets would keep close() waiting forever.
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  }
}

const SECRET_VAR = 'STEADYSTATE_TEST_WEBHOOK_TOKEN';
const SECRET = 'Bearer s3cr3t-do-not-print';
/** The operator lets specs reference the test's variable (STEADYSTATE_SECRET_ENV_ALLOW). */
const POLICY = { ...DEFAULT_POLICY, secretEnv: [SECRET_VAR], allowUrlCredentials: true };
const createWebhookInjector = (params: WebhookParams, deps: WebhookDeps = {}) => createWithDeps(params, { policy: POLICY, ...deps });
// The retry policy lives in closeWithRetry (src/injectors/close.ts); tests shrink its backoff.
const fastRetry = { baseMs: 1, maxMs: 5 };

const server = new RecordingServer();
before(async () => {
  await server.start();
});
after(async () => {
  await server.stop();
});
afterEach(() => {
  server.reset();
  process.env[SECRET_VAR] = SECRET;
});
process.env[SECRET_VAR] = SECRET;

function parse(params: unknown): z.output<typeof webhookInjector.paramsSchema> {
  return webhookInjector.paramsSchema.parse(params);
}

function ctx(over: Partial<{ runId: string; experiment: string; deadline: Date; signal: AbortSignal }> = {}): {
  runId: string;
  experiment: string;
  deadline: Date;
  signal?: AbortSignal;
} {
  return { runId: 'run-42', experiment: 'checkout latency', deadline: new Date(Date.now() + 120_000), ...over };
}

/** Every string an error could leak through: message, causes, inspect and JSON forms. */
function everything(err: unknown): string {
  return `${inspect(err, { depth: 10 })}\n${JSON.stringify(err)}`;
}

void describe('webhook injector', () => {
  void it('open sends the default body and templated url and headers, with fromEnv read at call time', async () => {
    const deadline = new Date('2030-01-02T03:04:05.000Z');
    const injector = webhookInjector.create(
      parse({
        open: {
          url: `${server.base}/faults/{{runId}}?experiment={{experiment}}`,
          headers: { 'X-Run': '{{runId}}', 'X-Deadline-Unix': '{{deadlineUnix}}', Authorization: { fromEnv: SECRET_VAR } },
        },
        close: { url: `${server.base}/faults/{{runId}}`, method: 'DELETE', headers: { Authorization: { fromEnv: SECRET_VAR } } },
      }),
      { policy: POLICY },
    );
    const handle = await injector.open(ctx({ deadline }));

    assert.equal(server.seen.length, 1);
    const req = server.seen[0]!;
    assert.equal(req.method, 'POST');
    // The experiment name is percent-encoded: one query value, not two words.
    assert.equal(req.url, '/faults/run-42?experiment=checkout%20latency');
    assert.equal(req.headers['x-run'], 'run-42');
    assert.equal(req.headers['x-deadline-unix'], String(deadline.getTime() / 1000));
    assert.equal(req.headers.authorization, SECRET);
    assert.equal(req.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(req.body), { run: 'run-42', experiment: 'checkout latency', deadline: '2030-01-02T03:04:05.000Z' });

    // The handle is plain JSON, holds the rendered close request, and no secret.
    assert.deepEqual(JSON.parse(JSON.stringify(handle)), handle);
    assert.equal(handle.injector, 'webhook');
    assert.deepEqual(handle.close, {
      url: `${server.base}/faults/run-42`,
      method: 'DELETE',
      headers: { Authorization: { fromEnv: SECRET_VAR } },
      body: { run: 'run-42', experiment: 'checkout latency', deadline: '2030-01-02T03:04:05.000Z' },
    });
    assert.ok(!JSON.stringify(handle).includes('s3cr3t'));
  });

  void it('renders placeholders in string leaves of a custom body, and sends no body on GET', async () => {
    const injector = webhookInjector.create(
      parse({
        open: {
          url: `${server.base}/open`,
          method: 'PUT',
          body: { id: '{{runId}}', ttl: '{{durationSeconds}}', tags: ['{{experiment}}', 3, true, null], '{{runId}}': 'keys stay' },
        },
        close: { url: `${server.base}/close` },
        status: { url: `${server.base}/status/{{runId}}`, method: 'GET' },
      }),
      { policy: POLICY },
    );
    const handle = await injector.open(ctx());
    const body = JSON.parse(server.seen[0]!.body);
    assert.equal(server.seen[0]!.method, 'PUT');
    assert.equal(body.id, 'run-42');
    assert.ok(['119', '120'].includes(body.ttl), `ttl ${body.ttl}`);
    assert.deepEqual(body.tags, ['checkout latency', 3, true, null]);
    assert.equal(body['{{runId}}'], 'keys stay');
    assert.equal((handle.status as { body?: unknown }).body, undefined);
  });

  void it('close retries 503 twice with backoff, then succeeds (3 requests seen)', async () => {
    server.script('/close', { status: 503 }, { status: 503 }, { status: 204 });
    const retries: number[] = [];
    const injector = createWebhookInjector(parse({ open: { url: `${server.base}/open` }, close: { url: `${server.base}/close` } }));
    const handle = await injector.open(ctx());
    await closeWithRetry(injector, handle, { ...fastRetry, onRetry: (_err, attempt) => retries.push(attempt) });
    assert.equal(server.requestsTo('/close').length, 3);
    assert.deepEqual(retries, [1, 2]);
  });

  void it('close can be done by another process from the persisted handle alone', async () => {
    const opener = createWebhookInjector(parse({ open: { url: `${server.base}/open` }, close: { url: `${server.base}/close/{{runId}}` } }));
    const persisted = JSON.parse(JSON.stringify(await opener.open(ctx()))) as InjectorHandle;
    // A different injector, built from unrelated params, closes the fault the handle describes.
    const closer = createWebhookInjector(parse({ open: { url: 'http://unused.invalid/' }, close: { url: 'http://unused.invalid/' } }));
    await closer.close(persisted);
    assert.equal(server.requestsTo('/close/run-42').length, 1);
  });

  for (const status of [404, 410]) {
    void it(`close treats ${status} as already closed`, async () => {
      server.script('/close', { status });
      const injector = createWebhookInjector(parse({ open: { url: `${server.base}/open` }, close: { url: `${server.base}/close` } }));
      await injector.close(await injector.open(ctx()));
      assert.equal(server.requestsTo('/close').length, 1);
    });
  }

  void it('close fails at once on 401, without retrying and without printing secrets', async () => {
    server.script('/close', { status: 401, body: { echo: SECRET } });
    const injector = createWebhookInjector(
      parse({
        open: { url: `${server.base}/open` },
        close: {
          url: `${server.base.replace('http://', 'http://alice:hunter2@')}/close?token=tok-in-query`,
          headers: { 'X-Api-Key': { fromEnv: SECRET_VAR } },
          body: { password: 'body-secret' },
        },
      }),
    );
    const handle = await injector.open(ctx());
    const err = await closeWithRetry(injector, handle, fastRetry).catch((e: unknown) => e);

    assert.ok(err instanceof InjectorError);
    assert.equal(err.retryable, false);
    assert.equal(server.requestsTo('/close').length, 1);
    assert.match(err.message, /HTTP 401/);
    assert.ok(err.message.includes(`${server.base}/close?…`), err.message);
    for (const secret of ['s3cr3t', 'hunter2', 'alice', 'tok-in-query', 'body-secret']) {
      assert.ok(!everything(err).includes(secret), `error must not mention ${secret}`);
    }
    // What was sent: the env secret, and userinfo turned into Basic auth.
    const sent = server.requestsTo('/close')[0]!;
    assert.equal(sent.headers['x-api-key'], SECRET);
    assert.equal(sent.headers.authorization, `Basic ${Buffer.from('alice:hunter2').toString('base64')}`);
  });

  void it('close gives up after the policy attempts on persistent 5xx, still marked retryable', async () => {
    server.script('/close', { status: 500 });
    const injector = createWebhookInjector(parse({ open: { url: `${server.base}/open` }, close: { url: `${server.base}/close` } }));
    const err = await closeWithRetry(injector, await injector.open(ctx()), { ...fastRetry, attempts: 3 }).catch((e: unknown) => e);
    assert.ok(err instanceof InjectorError);
    assert.equal(err.retryable, true);
    assert.match(err.message, /HTTP 500/);
    assert.equal(server.requestsTo('/close').length, 3);
  });

  void it('close retries 429', async () => {
    server.script('/close', { status: 429 }, { status: 200 });
    const injector = createWebhookInjector(parse({ open: { url: `${server.base}/open` }, close: { url: `${server.base}/close` } }));
    await closeWithRetry(injector, await injector.open(ctx()));
    assert.equal(server.requestsTo('/close').length, 2);
  });

  void it('a request that gets no answer times out with a retryable error', async () => {
    server.script('/open', { hang: true });
    const injector = createWebhookInjector(parse({ open: { url: `${server.base}/open` }, close: { url: `${server.base}/close` }, timeout: '100ms' }));
    const started = Date.now();
    const err = await injector.open(ctx()).catch((e: unknown) => e);
    assert.ok(err instanceof InjectorError, String(err));
    assert.equal(err.retryable, true);
    assert.equal(err.code, 'injector_timeout');
    assert.match(err.message, /no answer within 100 ms/);
    assert.ok(Date.now() - started < 5_000);
  });

  void it('close retries timeouts, then succeeds', async () => {
    server.script('/close', { hang: true }, { status: 200 });
    const injector = createWebhookInjector(
      parse({ open: { url: `${server.base}/open` }, close: { url: `${server.base}/close` }, timeout: '100ms' }),
    );
    await closeWithRetry(injector, await injector.open(ctx()), fastRetry);
    assert.equal(server.requestsTo('/close').length, 2);
  });

  void it('a refused connection is a retryable network error', async () => {
    const gone = new RecordingServer();
    await gone.start();
    await gone.stop();
    const injector = createWebhookInjector(parse({ open: { url: `${gone.base}/open` }, close: { url: `${gone.base}/close` } }));
    const err = await injector.open(ctx()).catch((e: unknown) => e);
    assert.ok(err instanceof InjectorError);
    assert.equal(err.retryable, true);
    assert.match(err.message, /network error \(ECONNREFUSED\)/);
  });

  void it('open fails on a non-2xx answer: 5xx retryable, 4xx and redirects fatal', async () => {
    const injector = createWebhookInjector(parse({ open: { url: `${server.base}/open` }, close: { url: `${server.base}/close` } }));
    for (const [status, retryable] of [
      [502, true],
      [400, false],
      [404, false],
      [302, false],
    ] as const) {
      server.script('/open', { status });
      const err = await injector.open(ctx()).catch((e: unknown) => e);
      assert.ok(err instanceof InjectorError, `${status}`);
      assert.equal(err.retryable, retryable, `${status}`);
      assert.match(err.message, new RegExp(`HTTP ${status}`));
    }
  });

  void it('a missing env var fails before anything is sent, naming the variable and not the header value', async () => {
    delete process.env[SECRET_VAR];
    const params = parse({
      open: { url: `${server.base}/open` },
      close: { url: `${server.base}/close`, headers: { Authorization: { fromEnv: SECRET_VAR } } },
    });
    const injector = createWebhookInjector(params);
    const err = await injector.open(ctx()).catch((e: unknown) => e);
    assert.ok(err instanceof InjectorError);
    assert.equal(err.retryable, false);
    assert.match(err.message, new RegExp(`${SECRET_VAR}.*not set`));
    // Not even the open request went out: we could not have closed what it opened.
    assert.equal(server.seen.length, 0);
    await assert.rejects(injector.check(), new RegExp(SECRET_VAR));

    process.env[SECRET_VAR] = SECRET;
    await injector.check();
  });

  void it('status maps answers to active, closed or unknown', async () => {
    const injector = createWebhookInjector(
      parse({
        open: { url: `${server.base}/open` },
        close: { url: `${server.base}/close` },
        status: { url: `${server.base}/status`, method: 'GET' },
        timeout: '200ms',
      }),
    );
    const handle = await injector.open(ctx());
    const cases: [Reply, string][] = [
      [{ status: 200, body: { id: 'x' } }, 'active'],
      [{ status: 200, body: 'not json' }, 'active'],
      [{ status: 200, body: { active: true } }, 'active'],
      [{ status: 200, body: { active: false } }, 'closed'],
      [{ status: 200, body: { state: 'closed' } }, 'closed'],
      [{ status: 404 }, 'closed'],
      [{ status: 410 }, 'closed'],
      [{ status: 500 }, 'unknown'],
      [{ status: 401 }, 'unknown'],
      [{ hang: true }, 'unknown'],
    ];
    for (const [reply, expected] of cases) {
      server.script('/status', reply);
      const got = await injector.status(handle);
      assert.equal(got.state, expected, JSON.stringify(reply));
    }
    assert.ok(server.requestsTo('/status').every((r) => r.method === 'GET' && r.body === ''));
  });

  void it('status without a status request is unknown', async () => {
    const injector = createWebhookInjector(parse({ open: { url: `${server.base}/open` }, close: { url: `${server.base}/close` } }));
    assert.deepEqual(await injector.status(await injector.open(ctx())), { state: 'unknown', detail: 'no status request configured' });
  });

  void it('close stops when aborted during its backoff', async () => {
    server.script('/close', { status: 503 });
    const controller = new AbortController();
    const injector = createWebhookInjector(parse({ open: { url: `${server.base}/open` }, close: { url: `${server.base}/close` } }));
    const handle = await injector.open(ctx());
    await assert.rejects(
      closeWithRetry(injector, handle, { baseMs: 60_000, maxMs: 60_000, random: () => 0.99, onRetry: () => controller.abort(), signal: controller.signal }),
      AbortedError,
    );
    assert.equal(server.requestsTo('/close').length, 1);
  });

  void it('rejects a handle that is not a webhook handle', async () => {
    const injector = createWebhookInjector(parse({ open: { url: `${server.base}/open` }, close: { url: `${server.base}/close` } }));
    await assert.rejects(injector.close({ injector: 'command', close: ['x'] }), /not a webhook handle/);
  });
});

void describe('webhook params schema', () => {
  void it('fills in defaults', () => {
    const p = parse({ open: { url: 'https://chaos.example/open' }, close: { url: 'https://chaos.example/close' } });
    assert.equal(p.open.method, 'POST');
    assert.deepEqual(p.open.headers, {});
    assert.equal(p.timeout, undefined);
    assert.equal(parse({ ...p, timeout: '2s' }).timeout, 2_000);
  });

  void it('rejects unknown placeholders in url, headers and body, each at its path', () => {
    const result = webhookInjector.paramsSchema.safeParse({
      open: { url: 'https://chaos.example/{{runID}}', headers: { 'X-A': '{{exp}}' }, body: { a: ['ok', '{{nope}}'] } },
      close: { url: 'https://chaos.example/close' },
    });
    assert.equal(result.success, false);
    const issues = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    assert.ok(issues.some((m) => m.startsWith('open.url: unknown placeholder {{runID}}')), issues.join('\n'));
    assert.ok(issues.some((m) => m.startsWith('open.headers.X-A: unknown placeholder {{exp}}')), issues.join('\n'));
    assert.ok(issues.some((m) => m.startsWith('open.body.a.1: unknown placeholder {{nope}}')), issues.join('\n'));
  });

  void it('rejects unknown keys, bad methods, non-http URLs, GET bodies and bad env names', () => {
    const base = { open: { url: 'https://x.example/' }, close: { url: 'https://x.example/' } };
    for (const bad of [
      { ...base, extra: 1 },
      { ...base, open: { url: 'https://x.example/', verb: 'POST' } },
      { ...base, open: { url: 'https://x.example/', method: 'HEAD' } },
      { ...base, open: { url: 'ftp://x.example/' } },
      { ...base, status: { url: 'https://x.example/', method: 'GET', body: {} } },
      { ...base, open: { url: 'https://x.example/', headers: { A: { fromEnv: 'NOT-A-NAME' } } } },
      { ...base, open: { url: 'https://x.example/', headers: { 'bad header': 'x' } } },
      { ...base, closeAttempts: 0 },
      { ...base, timeout: '0s' },
    ]) {
      assert.equal(webhookInjector.paramsSchema.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });
});

void describe('templates', () => {
  const vars = templateVars(
    { runId: 'r1', experiment: 'db / eu', deadline: new Date('2030-01-01T00:01:40.000Z') },
    new Date('2030-01-01T00:00:00.000Z').getTime(),
  );

  void it('provides every placeholder', () => {
    assert.deepEqual(Object.keys(vars).sort(), [...PLACEHOLDERS].sort());
    assert.deepEqual(vars, {
      runId: 'r1',
      experiment: 'db / eu',
      deadline: '2030-01-01T00:01:40.000Z',
      deadlineUnix: '1893456100',
      durationSeconds: '100',
    });
  });

  void it('durationSeconds rounds up and is at least 1, even past the deadline', () => {
    const d = new Date('2030-01-01T00:00:10.000Z');
    assert.equal(templateVars({ runId: '', experiment: '', deadline: d }, d.getTime() - 9_001).durationSeconds, '10');
    assert.equal(templateVars({ runId: '', experiment: '', deadline: d }, d.getTime() - 1).durationSeconds, '1');
    assert.equal(templateVars({ runId: '', experiment: '', deadline: d }, d.getTime() + 60_000).durationSeconds, '1');
  });

  void it('substitutes once, literally, without scanning values again', () => {
    const tricky = templateVars({ runId: '{{experiment}}', experiment: '$(id)', deadline: new Date(0) }, 0);
    assert.equal(renderTemplate('a {{runId}} b {{ experiment }} c {{', tricky), 'a {{experiment}} b $(id) c {{');
    assert.equal(renderTemplate('/x/{{experiment}}', vars, encodeURIComponent), '/x/db%20%2F%20eu');
    assert.deepEqual(renderJsonTemplate({ a: ['{{runId}}', 1] }, vars), { a: ['r1', 1] });
  });

  void it('an unknown placeholder is an error naming it', () => {
    assert.throws(() => renderTemplate('x {{deadLine}}', vars), (e: unknown) => e instanceof InjectorError && /\{\{deadLine\}\}/.test(e.message));
    assert.deepEqual(unknownPlaceholders('{{a}} {{runId}} {{b}} {{a}}'), ['a', 'b']);
    const r = templateString.safeParse('{{oops}}');
    assert.equal(r.success, false);
    assert.match(r.error.issues[0]!.message, /unknown placeholder \{\{oops\}\}; known: \{\{runId\}\}/);
  });
});

void describe('redactUrl', () => {
  void it('drops userinfo, query and fragment', () => {
    assert.equal(redactUrl('https://u:p@h.example:8443/a/b?token=x#f'), 'https://h.example:8443/a/b?…');
    assert.equal(redactUrl('http://h.example/a'), 'http://h.example/a');
    assert.equal(redactUrl('not a url'), '(invalid URL)');
  });
});
