/**
 * Contract tests of the gremlin injector against a local server that follows
 * Gremlin's attacks API: `POST /v1/attacks/new`, `GET|DELETE /v1/attacks/{guid}`,
 * `DELETE /v1/attacks` (halt all), `GET /v1/attacks/active`, all with
 * `?teamId=` and `Authorization: Key …`.
 */
import { DEFAULT_POLICY } from '../../src/security/policy.ts';
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { closeWithRetry } from '../../src/injectors/close.ts';
import { createGremlinInjector, gremlinInjector, gremlinParamsSchema, type GremlinDeps } from '../../src/injectors/gremlin.ts';
import type { InjectorHandle } from '../../src/injectors/types.ts';
import { InjectorError } from '../../src/lib/errors.ts';
import { ContractServer, type Recorded, type Reply } from '../helpers/contract-server.ts';

const KEY_VAR = 'STEADYSTATE_TEST_GREMLIN_KEY';
const KEY = 'gremlin-key-do-not-print';
const TEAM = 'e7352a6b-a9a0-513c-81e4-980f680a70c4';

interface FakeAttack {
  guid: string;
  stage: string;
  stageLifecycle: string;
  readsLeft: number;
  body: unknown;
}

class FakeGremlin {
  readonly server = new ContractServer();
  readonly attacks = new Map<string, FakeAttack>();
  /** Reads before a new attack runs (Infinity: never), and before a halted one completes. */
  runAfter = 2;
  haltAfter = 2;
  private seq = 0;

  get base(): string {
    return `${this.server.url}/v1`;
  }

  async start(): Promise<void> {
    await this.server.start();
    this.install();
  }

  reset(): void {
    this.server.reset();
    this.install();
    this.attacks.clear();
    this.runAfter = 2;
    this.haltAfter = 2;
    this.seq = 0;
  }

  private guard(req: Recorded): Reply | undefined {
    if (req.headers.authorization !== `Key ${KEY}`) return { status: 401, body: 'Unauthorized' };
    if (req.query.get('teamId') !== TEAM) return { status: 403, body: 'Forbidden' };
    return undefined;
  }

  private halt(a: FakeAttack): void {
    if (a.stageLifecycle === 'Complete') return;
    a.stage = 'HaltDistributed';
    a.stageLifecycle = 'Active';
    a.readsLeft = this.haltAfter;
  }

  private view(a: FakeAttack): Reply {
    return { status: 200, body: { guid: a.guid, stage: a.stage, stageLifecycle: a.stageLifecycle, kind: 'WithoutDescendants' } };
  }

  private install(): void {
    this.server
      .route('POST', '/v1/attacks/new', (req) => {
        const denied = this.guard(req);
        if (denied) return denied;
        const guid = `5ca1ab1e-0000-4000-8000-00000000000${++this.seq}`;
        this.attacks.set(guid, { guid, stage: 'Pending', stageLifecycle: 'NotStarted', readsLeft: this.runAfter, body: JSON.parse(req.body) });
        // Gremlin answers with the attack id as plain text.
        return { status: 201, body: guid };
      })
      .route('GET', '/v1/attacks/active', (req) => this.guard(req) ?? { status: 200, body: [] })
      .route('GET', '/v1/attacks/:guid', (req) => {
        const denied = this.guard(req);
        if (denied) return denied;
        const a = this.attacks.get(req.params.guid!);
        if (!a) return { status: 404, body: 'Not Found' };
        if (a.stageLifecycle !== 'Complete' && --a.readsLeft <= 0) {
          if (a.stage === 'HaltDistributed') Object.assign(a, { stage: 'UserHalted', stageLifecycle: 'Complete' });
          else Object.assign(a, { stage: 'Running', stageLifecycle: 'Active' });
        }
        return this.view(a);
      })
      .route('DELETE', '/v1/attacks/:guid', (req) => {
        const denied = this.guard(req);
        if (denied) return denied;
        const a = this.attacks.get(req.params.guid!);
        if (!a) return { status: 404, body: 'Not Found' };
        this.halt(a);
        return { status: 200, body: '' };
      })
      .route('DELETE', '/v1/attacks', (req) => {
        const denied = this.guard(req);
        if (denied) return denied;
        for (const a of this.attacks.values()) this.halt(a);
        return { status: 200, body: '' };
      });
  }
}

const gremlin = new FakeGremlin();
before(async () => {
  await gremlin.start();
});
after(async () => {
  await gremlin.server.stop();
});
afterEach(() => {
  gremlin.reset();
});

const env = { [KEY_VAR]: KEY };
// The operator lets specs name the test's key variables (STEADYSTATE_SECRET_ENV_ALLOW=STEADYSTATE_TEST_*).
const policy = { ...DEFAULT_POLICY, secretEnv: ['STEADYSTATE_TEST_*'] };
const fast: GremlinDeps = { pollIntervalMs: 10, timeoutMs: 2_000, env, policy, cleanupPolicy: { attempts: 2, baseMs: 1, maxMs: 5 } };

function params(over: Record<string, unknown> = {}) {
  return gremlinParamsSchema.parse({
    baseUrl: gremlin.base,
    teamId: TEAM,
    credentials: { fromEnv: KEY_VAR },
    command: { type: 'latency', args: ['-m', '300', '-h', '^api.payments.internal'] },
    target: { type: 'Exact', hosts: { ids: ['checkout-1'] } },
    startTimeout: '2s',
    haltTimeout: '2s',
    ...over,
  });
}

let seq = 0;
function ctx(deadlineInMs = 90_000) {
  return { runId: `run-gremlin-${++seq}`, experiment: 'payments latency', deadline: new Date(Date.now() + deadlineInMs) };
}

function everything(err: unknown): string {
  return `${inspect(err, { depth: 10 })}\n${JSON.stringify(err)}`;
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

void describe('gremlin params', () => {
  void it('refuses a length in the args, since the deadline sets it; defaults the credential', () => {
    const r = gremlinParamsSchema.safeParse({ teamId: TEAM, command: { type: 'cpu', args: ['-c', '1', '--length', '600'] }, target: {} });
    assert.equal(r.success, false);
    assert.deepEqual(r.error?.issues[0]?.path, ['command', 'args', 2]);
    const p = gremlinParamsSchema.parse({ teamId: TEAM, command: { type: 'cpu' }, target: { type: 'Random' } });
    assert.deepEqual(p.credentials, { scheme: 'Key', fromEnv: 'GREMLIN_API_KEY' });
    assert.equal(p.baseUrl, 'https://api.gremlin.com/v1');
    assert.equal(p.haltAllFallback, true);
  });
});

void describe('gremlin injector', () => {
  void it('open creates the attack with its length from the deadline and waits until it runs', async () => {
    const injector = gremlinInjector.create(params(), fast);
    const handle = await injector.open(ctx(90_000));

    const [post] = gremlin.server.sent('POST', '/v1/attacks/new');
    assert.ok(post);
    assert.equal(post.query.get('teamId'), TEAM);
    assert.equal(post.headers.authorization, `Key ${KEY}`);
    const body = JSON.parse(post.body);
    assert.deepEqual(body.target, { type: 'Exact', hosts: { ids: ['checkout-1'] } });
    assert.equal(body.command.type, 'latency');
    assert.deepEqual(body.command.args.slice(0, 4), ['-m', '300', '-h', '^api.payments.internal']);
    assert.equal(body.command.args[4], '-l');
    assert.match(body.command.args[5], /^(89|90)$/);
    assert.equal(gremlin.server.sent('GET', `/v1/attacks/${str(handle.guid)}`).length, 2);
    assert.deepEqual(handle, {
      injector: 'gremlin',
      baseUrl: gremlin.base,
      teamId: TEAM,
      scheme: 'Key',
      fromEnv: KEY_VAR,
      guid: '5ca1ab1e-0000-4000-8000-000000000001',
      haltTimeoutMs: 2000,
      haltAllFallback: true,
    });
    assert.doesNotMatch(JSON.stringify(handle), new RegExp(KEY));
  });

  void it('status while running; close halts and waits until the attack is complete', async () => {
    const injector = gremlinInjector.create(params(), fast);
    const handle = await injector.open(ctx());
    assert.equal((await injector.status(handle)).state, 'active');
    await injector.close(handle);
    const path = `/v1/attacks/${str(handle.guid)}`;
    assert.equal(gremlin.server.sent('DELETE', path).length, 1);
    assert.equal(gremlin.server.sent('DELETE', path)[0]!.query.get('teamId'), TEAM);
    assert.equal(gremlin.server.sent('DELETE', '/v1/attacks').length, 0, 'no halt-all when the targeted halt works');
    assert.equal(gremlin.attacks.get(str(handle.guid))?.stage, 'UserHalted');
    assert.deepEqual(await injector.status(handle), { state: 'closed', detail: 'stage UserHalted, Complete' });
  });

  void it('close of an attack Gremlin no longer knows succeeds', async () => {
    const injector = gremlinInjector.create(params(), fast);
    const handle: InjectorHandle = { injector: 'gremlin', baseUrl: gremlin.base, teamId: TEAM, scheme: 'Key', fromEnv: KEY_VAR, guid: 'gone', haltTimeoutMs: 1000, haltAllFallback: true };
    await injector.close(handle);
    assert.deepEqual(gremlin.server.requests.map((r) => `${r.method} ${r.path}`), ['DELETE /v1/attacks/gone']);
  });

  void it('a close that fails, then succeeds, goes through closeWithRetry', async () => {
    const injector = gremlinInjector.create(params(), fast);
    const handle = await injector.open(ctx());
    gremlin.server.once('DELETE', '/v1/attacks/:guid', { status: 503, body: 'upstream unavailable' });
    await closeWithRetry(injector, handle, { baseMs: 1, maxMs: 5 });
    assert.equal(gremlin.server.sent('DELETE', `/v1/attacks/${str(handle.guid)}`).length, 2);
    assert.equal(gremlin.server.sent('DELETE', '/v1/attacks').length, 0, 'a retryable failure is retried, not escalated');
    assert.equal(gremlin.attacks.get(str(handle.guid))?.stageLifecycle, 'Complete');
  });

  void it('a targeted halt that fails for good falls back to halting all of the team’s attacks', async () => {
    const injector = gremlinInjector.create(params(), fast);
    const handle = await injector.open(ctx());
    gremlin.server.once('DELETE', '/v1/attacks/:guid', { status: 400, body: 'Attack cannot be halted in its current state' });
    await injector.close(handle);
    const [all] = gremlin.server.sent('DELETE', '/v1/attacks');
    assert.ok(all);
    assert.equal(all.query.get('teamId'), TEAM);
    assert.equal(all.headers.authorization, `Key ${KEY}`);
    assert.equal(gremlin.attacks.get(str(handle.guid))?.stageLifecycle, 'Complete');

    const noFallback = gremlinInjector.create(params({ haltAllFallback: false }), fast);
    const h2 = await noFallback.open(ctx());
    gremlin.server.once('DELETE', '/v1/attacks/:guid', { status: 400, body: 'Attack cannot be halted in its current state' });
    await rejectsWith(noFallback.close(h2), (err) => {
      assert.equal(err.retryable, false);
      assert.match(err.message, /HTTP 400: Attack cannot be halted/);
    });
    assert.equal(gremlin.server.sent('DELETE', '/v1/attacks').length, 1);
  });

  void it('an attack that never runs fails the open within the bound, and is halted', async () => {
    gremlin.runAfter = Number.POSITIVE_INFINITY;
    const injector = gremlinInjector.create(params({ startTimeout: '80ms' }), fast);
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.equal(err.code, 'injector_not_injected');
      assert.equal(err.retryable, false);
      assert.match(err.message, /not running within 80 ms \(stage Pending, NotStarted\); attack .* was halted/);
    });
    assert.equal(gremlin.server.sent('DELETE').length, 1);
  });

  void it('401 is fatal and names the variable the key came from, never the key', async () => {
    const injector = createGremlinInjector(params(), { ...fast, env: { [KEY_VAR]: 'wrong-key-do-not-print' } });
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.equal(err.retryable, false);
      assert.equal(err.code, 'injector_auth');
      assert.match(err.message, new RegExp(`HTTP 401; credentials: Key from environment variable ${KEY_VAR} \\(team ${TEAM}\\)`));
      assert.doesNotMatch(everything(err), /wrong-key-do-not-print/);
    });
    await rejectsWith(gremlinInjector.create(params({ credentials: { fromEnv: 'STEADYSTATE_TEST_UNSET_VAR' } }), fast).check(), (err) => {
      assert.equal(err.code, 'missing_env');
      assert.match(err.message, /STEADYSTATE_TEST_UNSET_VAR, which is not set/);
    });
    assert.equal(gremlin.attacks.size, 0);
  });

  void it('check lists the team’s active attacks', async () => {
    await gremlinInjector.create(params(), fast).check();
    const [req] = gremlin.server.sent('GET', '/v1/attacks/active');
    assert.equal(req?.query.get('teamId'), TEAM);
  });

  void it('has no listOwned: Gremlin attacks cannot carry our label, their length ends orphans', () => {
    assert.equal('listOwned' in gremlinInjector.create(params(), fast), false);
  });
});
