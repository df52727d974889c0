/**
 * Contract tests of the aws-fis injector: the real @aws-sdk/client-fis, with
 * its `endpoint` pointed at a local server that follows FIS's REST-JSON API
 * (POST /experiments, GET|DELETE /experiments/{id}, GET /experiments,
 * GET /experimentTemplates/{id}; errors typed by `x-amzn-errortype`) and
 * checks each request carries a SigV4 signature for `fis` in the region.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { awsFisInjector, awsFisParamsSchema, clientTokenFor, credentialSource, type AwsFisDeps } from '../../src/injectors/aws-fis.ts';
import { closeWithRetry } from '../../src/injectors/close.ts';
import { sweepOrphans } from '../../src/injectors/sweep.ts';
import type { InjectorHandle } from '../../src/injectors/types.ts';
import { InjectorError } from '../../src/lib/errors.ts';
import { ContractServer, type Recorded, type Reply } from '../helpers/contract-server.ts';

const ACCESS_KEY = 'AKIDSTEADYSTATETEST';
const SECRET_KEY = 'secret-key-do-not-print';
const REGION = 'eu-west-1';
const TEMPLATE = 'EXT1a2b3c4d5e6f7';

interface FakeExperiment {
  id: string;
  experimentTemplateId: string;
  state: { status: string; reason?: string };
  tags: Record<string, string>;
  clientToken: string;
  /** Status reads left before it moves on (initiating → running, stopping → stopped). */
  readsToNext: number;
}

/** FIS as far as the adapter uses it; `behaviour` decides how experiments move. */
class FakeFis {
  readonly server = new ContractServer();
  readonly experiments = new Map<string, FakeExperiment>();
  behaviour: { startReads: number; stopReads: number; startsAs?: string; failsWith?: string } = { startReads: 2, stopReads: 2 };
  deny: string | undefined;
  private seq = 0;

  async start(): Promise<void> {
    await this.server.start();
    this.install();
  }

  reset(): void {
    this.server.reset();
    this.install();
    this.experiments.clear();
    this.behaviour = { startReads: 2, stopReads: 2 };
    this.deny = undefined;
    this.seq = 0;
  }

  private error(status: number, type: string, message: string): Reply {
    return { status, headers: { 'x-amzn-errortype': type }, body: { message } };
  }

  private signed(req: Recorded): Reply | undefined {
    const auth = String(req.headers.authorization ?? '');
    if (!auth.startsWith(`AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/`) || !auth.includes(`/${REGION}/fis/aws4_request`)) {
      return this.error(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    if (this.deny) return this.error(403, 'AccessDeniedException', `User: arn:aws:iam::123456789012:user/ci is not authorized to perform: fis:${this.deny}`);
    return undefined;
  }

  private view(e: FakeExperiment): object {
    return { id: e.id, experimentTemplateId: e.experimentTemplateId, state: e.state, tags: e.tags, creationTime: 1767225600 };
  }

  private install(): void {
    this.server
      .route('POST', '/experiments', (req) => {
        const denied = this.signed(req);
        if (denied) return denied;
        const body = JSON.parse(req.body) as { clientToken: string; experimentTemplateId: string; tags?: Record<string, string> };
        if (body.experimentTemplateId !== TEMPLATE) return this.error(404, 'ResourceNotFoundException', 'Experiment template not found.');
        // Idempotency: the same client token returns the experiment it started.
        const same = [...this.experiments.values()].find((e) => e.clientToken === body.clientToken);
        if (same) return { status: 200, body: { experiment: this.view(same) } };
        const e: FakeExperiment = {
          id: `EXP${++this.seq}`,
          experimentTemplateId: body.experimentTemplateId,
          state: { status: 'initiating', reason: 'Experiment is initiating.' },
          tags: body.tags ?? {},
          clientToken: body.clientToken,
          readsToNext: this.behaviour.startReads,
        };
        this.experiments.set(e.id, e);
        return { status: 200, body: { experiment: this.view(e) } };
      })
      .route('GET', '/experiments/:id', (req) => {
        const denied = this.signed(req);
        if (denied) return denied;
        const e = this.experiments.get(req.params.id!);
        if (!e) return this.error(404, 'ResourceNotFoundException', 'Experiment not found.');
        if (e.state.status === 'initiating' && --e.readsToNext <= 0) {
          e.state = this.behaviour.failsWith
            ? { status: 'failed', reason: this.behaviour.failsWith }
            : { status: this.behaviour.startsAs ?? 'running', reason: 'Experiment is running.' };
        } else if (e.state.status === 'stopping' && --e.readsToNext <= 0) {
          e.state = { status: 'stopped', reason: 'Experiment stopped.' };
        }
        return { status: 200, body: { experiment: this.view(e) } };
      })
      .route('DELETE', '/experiments/:id', (req) => {
        const denied = this.signed(req);
        if (denied) return denied;
        const e = this.experiments.get(req.params.id!);
        if (!e) return this.error(404, 'ResourceNotFoundException', 'Experiment not found.');
        if (['completed', 'stopped', 'failed', 'cancelled'].includes(e.state.status)) {
          return this.error(400, 'ValidationException', 'Experiment cannot be stopped in its current state.');
        }
        e.state = { status: 'stopping', reason: 'Stopping.' };
        e.readsToNext = this.behaviour.stopReads;
        return { status: 200, body: { experiment: this.view(e) } };
      })
      .route('GET', '/experiments', (req) => {
        const denied = this.signed(req);
        if (denied) return denied;
        const all = [...this.experiments.values()];
        const start = Number(req.query.get('nextToken') ?? '0');
        const max = Number(req.query.get('maxResults') ?? '100');
        const page = all.slice(start, start + Math.min(max, 2));
        const next = start + page.length < all.length ? String(start + page.length) : undefined;
        return { status: 200, body: { experiments: page.map((e) => this.view(e)), ...(next ? { nextToken: next } : {}) } };
      })
      .route('GET', '/experimentTemplates/:id', (req) => {
        const denied = this.signed(req);
        if (denied) return denied;
        if (req.params.id !== TEMPLATE) return this.error(404, 'ResourceNotFoundException', 'Experiment template not found.');
        return { status: 200, body: { experimentTemplate: { id: TEMPLATE, description: 'checkout latency' } } };
      });
  }
}

const fis = new FakeFis();
const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
before(async () => {
  process.env.AWS_ACCESS_KEY_ID = ACCESS_KEY;
  process.env.AWS_SECRET_ACCESS_KEY = SECRET_KEY;
  await fis.start();
});
after(async () => {
  await fis.server.stop();
  if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
  else process.env.AWS_ACCESS_KEY_ID = saved.id;
  if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
  else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
});
afterEach(() => {
  fis.reset();
});

const fast: AwsFisDeps = { pollIntervalMs: 10, timeoutMs: 3_000, cleanupPolicy: { attempts: 2, baseMs: 1, maxMs: 5 } };

function params(over: Record<string, unknown> = {}) {
  return awsFisParamsSchema.parse({ experimentTemplateId: TEMPLATE, region: REGION, endpoint: fis.server.url, startTimeout: '2s', stopTimeout: '2s', ...over });
}

let seq = 0;
function ctx() {
  return { runId: `run-fis-${++seq}`, experiment: 'az outage', deadline: new Date(Date.now() + 300_000) };
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

void describe('aws-fis params', () => {
  void it('needs a template and a region', () => {
    assert.equal(awsFisParamsSchema.safeParse({ experimentTemplateId: TEMPLATE }).success, false);
    assert.equal(awsFisParamsSchema.safeParse({ experimentTemplateId: TEMPLATE, region: 'Ireland' }).success, false);
    assert.equal(awsFisParamsSchema.safeParse({ experimentTemplateId: TEMPLATE, region: 'us-gov-west-1' }).success, true);
  });
  void it('derives a stable client token per run', () => {
    assert.equal(clientTokenFor('run-1'), clientTokenFor('run-1'));
    assert.notEqual(clientTokenFor('run-1'), clientTokenFor('run-2'));
    assert.ok(clientTokenFor('x'.repeat(500)).length <= 64);
  });
  void it('names the credential source from the environment, never a value', () => {
    assert.match(credentialSource({ AWS_PROFILE: 'chaos' }), /shared config profile "chaos"/);
    assert.match(credentialSource({}), /default chain/);
  });
});

void describe('aws-fis injector', () => {
  void it('open starts the experiment with a client token and tags, signed, and waits for running', async () => {
    const injector = awsFisInjector.create(params({ tags: { team: 'payments' } }), fast);
    const c = ctx();
    const handle = await injector.open(c);

    const [start] = fis.server.sent('POST', '/experiments');
    assert.ok(start);
    assert.match(String(start.headers.authorization), new RegExp(`^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/\\d{8}/${REGION}/fis/aws4_request`));
    assert.deepEqual(JSON.parse(start.body), {
      clientToken: clientTokenFor(c.runId),
      experimentTemplateId: TEMPLATE,
      tags: { team: 'payments', 'steadystate.dev/run-id': c.runId, 'steadystate.dev/managed-by': 'steadystate', 'steadystate.dev/experiment': 'az outage' },
    });
    assert.equal(fis.server.sent('GET', '/experiments/EXP1').length, 2);
    assert.deepEqual(handle, { injector: 'aws-fis', region: REGION, endpoint: fis.server.url, experimentId: 'EXP1', runId: c.runId, stopTimeoutMs: 2000 });
    assert.doesNotMatch(JSON.stringify(handle), new RegExp(`${SECRET_KEY}|${ACCESS_KEY}`));
  });

  void it('a retried open with the same run gets the same experiment, not a second one', async () => {
    const injector = awsFisInjector.create(params(), fast);
    const c = ctx();
    const a = await injector.open(c);
    const b = await injector.open(c);
    assert.equal(a.experimentId, b.experimentId);
    assert.equal(fis.experiments.size, 1);
  });

  void it('status while running; close stops and waits for stopped', async () => {
    const injector = awsFisInjector.create(params(), fast);
    const handle = await injector.open(ctx());
    assert.equal((await injector.status(handle)).state, 'active');
    await injector.close(handle);
    assert.equal(fis.server.sent('DELETE', '/experiments/EXP1').length, 1);
    assert.equal(fis.experiments.get('EXP1')?.state.status, 'stopped');
    const st = await injector.status(handle);
    assert.equal(st.state, 'closed');
    assert.match(st.detail ?? '', /^stopped/);
  });

  void it('close of an experiment that is gone or already over succeeds', async () => {
    const injector = awsFisInjector.create(params(), fast);
    await injector.close({ injector: 'aws-fis', region: REGION, endpoint: fis.server.url, experimentId: 'EXP404', runId: 'r', stopTimeoutMs: 1000 });
    const handle = await injector.open(ctx());
    fis.experiments.get(str(handle.experimentId))!.state = { status: 'completed' };
    await injector.close(handle);
    assert.equal(fis.server.sent('DELETE').length, 2);
  });

  void it('a close that fails, then succeeds, goes through closeWithRetry (the SDK itself does not retry)', async () => {
    const injector = awsFisInjector.create(params(), fast);
    const handle = await injector.open(ctx());
    fis.server.once('DELETE', '/experiments/:id', { status: 503, headers: { 'x-amzn-errortype': 'ServiceUnavailableException' }, body: { message: 'try later' } });
    await rejectsWith(injector.close(handle), (err) => {
      assert.equal(err.retryable, true);
      assert.match(err.message, /StopExperiment: ServiceUnavailableException \(HTTP 503\)/);
    });
    assert.equal(fis.server.sent('DELETE').length, 1, 'one attempt per close call');
    fis.server.once('DELETE', '/experiments/:id', { status: 429, headers: { 'x-amzn-errortype': 'ThrottlingException' }, body: { message: 'Rate exceeded' } });
    await closeWithRetry(injector, handle, { baseMs: 1, maxMs: 5 });
    assert.equal(fis.server.sent('DELETE').length, 3);
    assert.equal(fis.experiments.get('EXP1')?.state.status, 'stopped');
  });

  void it('an experiment that fails before running fails the open', async () => {
    fis.behaviour = { startReads: 1, stopReads: 1, failsWith: 'Target resolution failed: no instances matched.' };
    const injector = awsFisInjector.create(params(), fast);
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.equal(err.retryable, false);
      assert.equal(err.code, 'injector_not_injected');
      assert.match(err.message, /the experiment ended before it ran: failed \(Target resolution failed/);
    });
  });

  void it('an experiment that never reaches running fails the open within the bound, and is stopped', async () => {
    fis.behaviour = { startReads: Number.POSITIVE_INFINITY, stopReads: 1 };
    const injector = awsFisInjector.create(params({ startTimeout: '80ms' }), fast);
    const started = Date.now();
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.equal(err.code, 'injector_not_injected');
      assert.match(err.message, /not running within 80 ms \(initiating \(Experiment is initiating\.\)\)/);
      assert.match(err.message, /experiment EXP1 was stopped/);
    });
    assert.ok(Date.now() - started < 2_000);
    assert.equal(fis.server.sent('DELETE', '/experiments/EXP1').length, 1);
    assert.equal(fis.experiments.get('EXP1')?.state.status, 'stopped');
  });

  void it('access denied is fatal and names the credential source, never the keys', async () => {
    fis.deny = 'StartExperiment';
    const injector = awsFisInjector.create(params(), fast);
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.equal(err.retryable, false);
      assert.equal(err.code, 'injector_auth');
      assert.match(err.message, /AccessDeniedException \(HTTP 403\); AWS credentials from environment variables \(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY\)/);
      assert.match(err.message, /not authorized to perform: fis:StartExperiment/);
      assert.doesNotMatch(`${err.message}\n${inspect(err, { depth: 10 })}\n${JSON.stringify(err)}`, new RegExp(`${SECRET_KEY}|${ACCESS_KEY}`));
    });
    assert.equal(fis.experiments.size, 0);
  });

  void it('check reads the template; an unknown template is fatal', async () => {
    await awsFisInjector.create(params(), fast).check();
    assert.equal(fis.server.sent('GET', `/experimentTemplates/${TEMPLATE}`).length, 1);
    await rejectsWith(awsFisInjector.create(params({ experimentTemplateId: 'EXTnope' }), fast).check(), (err) => {
      assert.equal(err.retryable, false);
      assert.match(err.message, /ResourceNotFoundException \(HTTP 404\): Experiment template not found/);
    });
  });

  void it('listOwned pages through experiments and keeps our unfinished ones; the sweep stops the orphan', async () => {
    const injector = awsFisInjector.create(params(), fast);
    const live = await injector.open(ctx());
    const dead = await injector.open(ctx());
    const done = await injector.open(ctx());
    fis.experiments.get(str(done.experimentId))!.state = { status: 'completed' };
    fis.experiments.set('EXPother', { id: 'EXPother', experimentTemplateId: TEMPLATE, state: { status: 'running' }, tags: {}, clientToken: 'x', readsToNext: 0 });

    const owned = await injector.listOwned!();
    assert.deepEqual(owned.map((o) => o.handle.experimentId).sort(), [live.experimentId, dead.experimentId].sort());
    assert.ok(fis.server.sent('GET', '/experiments').length >= 2, 'more than one page');

    const report = await sweepOrphans({ adapters: [injector], activeRunIds: [str(live.runId)], closePolicy: { baseMs: 1, maxMs: 5 } });
    assert.deepEqual(report.removed.map((r) => r.ref), [`fis experiment ${str(dead.experimentId)}`]);
    assert.equal(fis.experiments.get(str(dead.experimentId))?.state.status, 'stopped');
    assert.equal(fis.experiments.get(str(live.experimentId))?.state.status, 'running');
  });

  void it('an unreachable endpoint is a retryable network error', async () => {
    const injector = awsFisInjector.create(params({ endpoint: 'http://127.0.0.1:9' }), { ...fast, timeoutMs: 200 });
    const handle: InjectorHandle = { injector: 'aws-fis', region: REGION, endpoint: 'http://127.0.0.1:9', experimentId: 'EXP1', runId: 'r', stopTimeoutMs: 100 };
    await rejectsWith(injector.close(handle), (err) => {
      assert.equal(err.retryable, true);
      assert.equal(err.code, 'injector_network');
    });
  });
});

void describe('STS, as the web-identity link of the credential chain uses it', () => {
  // The SDK pins fast-xml-parser 4.2.5 (GHSA-jmr7-xgp7-cmfj and others); package.json overrides it with
  // a fixed 4.x. STS answers in XML, so this is the code path the override changes: it must still parse,
  // entities included.
  void it('AssumeRoleWithWebIdentity XML parses into credentials with the overridden fast-xml-parser', async () => {
    const { AssumeRoleWithWebIdentityCommand, STSClient } = await import('@aws-sdk/client-sts');
    const sts = new ContractServer();
    await sts.start();
    try {
      sts.route('POST', '/', () => ({
        status: 200,
        headers: { 'content-type': 'text/xml' },
        body: [
          '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">',
          '<AssumeRoleWithWebIdentityResult><Credentials>',
          '<AccessKeyId>ASIASTEADYSTATE</AccessKeyId><SecretAccessKey>s3cr3t</SecretAccessKey>',
          '<SessionToken>tok&amp;en</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>',
          '</Credentials><SubjectFromWebIdentityToken>system:serviceaccount:chaos:steadystate</SubjectFromWebIdentityToken>',
          '</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>',
          '</AssumeRoleWithWebIdentityResponse>',
        ].join(''),
      }));
      const client = new STSClient({ region: REGION, endpoint: sts.url, maxAttempts: 1 });
      const out = await client.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: 'arn:aws:iam::123456789012:role/chaos', RoleSessionName: 's', WebIdentityToken: 'jwt' }));
      client.destroy();
      assert.equal(out.Credentials?.AccessKeyId, 'ASIASTEADYSTATE');
      assert.equal(out.Credentials?.SessionToken, 'tok&en');
      assert.equal(out.Credentials?.Expiration?.toISOString(), '2030-01-01T00:00:00.000Z');
      assert.equal(out.SubjectFromWebIdentityToken, 'system:serviceaccount:chaos:steadystate');
      assert.match(sts.sent('POST', '/')[0]!.body, /Action=AssumeRoleWithWebIdentity/);
    } finally {
      await sts.stop();
    }
  });
});
