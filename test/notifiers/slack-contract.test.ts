/**
 * Contract tests of the Slack notifier against a local server that follows
 * Slack's documented API: an incoming webhook (POST JSON, "ok" or a
 * plain-text error) and the Web API (chat.postMessage → { ok, channel, ts },
 * chat.update, Bearer auth, 429 with Retry-After). The tests assert what we
 * sent: Block Kit payloads for passed, failed and halted runs, within
 * Slack's limits, user text escaped, no credential anywhere in a message or
 * a log line, and the retry after a 429.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import type { RunEvent, RunRecord, RunState } from '../../src/engine/types.ts';
import { blockKitViolations, type Block, type SlackMessage } from '../../src/notifiers/slack-blocks.ts';
import { SlackNotifier } from '../../src/notifiers/slack-notifier.ts';
import type { Experiment } from '../../src/spec/schema.ts';
import { judgeMetric, type MetricVerdict } from '../../src/stats/verdict.ts';
import { startContractServer, type ContractServer, type Recorded } from '../helpers/contract-server.ts';
import { taggedSpec } from '../triggers/helpers.ts';

const BOT_TOKEN = 'xoxb-1111111111-2222222222-SeCrEtBoTtOkEnVaLuE';
const TEAM_TOKEN = 'xoxb-3333333333-4444444444-AnOtHeRtEaMtOkEn';
const WEBHOOK_PATH = '/services/T00000000/B00000000/XXXXwebhookSECRETxxxx';
const SPEC_SECRET = 'hunter2-in-the-spec';
const CHANNEL_ID = 'C0CHAOS42';

function metric(name: string, shift: number, reason?: string): MetricVerdict {
  const control = Array.from({ length: 40 }, (_, i) => 100 + ((i * 7) % 11) - 5);
  const experiment = control.map((v) => v + shift);
  const verdict = judgeMetric({ name, control, experiment, direction: 'decrease', tolerance: { kind: 'relative', value: 0.05 }, alpha: 0.05, minSamples: 10 });
  return reason ? { ...verdict, reason } : verdict;
}

function newRun(id: string, experiment: string): RunRecord {
  const at = '2026-03-03T09:30:00.000Z';
  return {
    id,
    experiment,
    state: 'pending',
    verdict: null,
    reason: '',
    startedAt: at,
    endedAt: null,
    metrics: [],
    series: [],
    guardrails: [],
    events: [{ at, type: 'run.started', message: 'run started', data: { actor: 'webhook:github 72d3162e' } }],
  };
}

const event = (type: string): RunEvent => ({ at: new Date().toISOString(), type, message: type });

function finish(run: RunRecord, state: RunState, metrics: MetricVerdict[], reason: string): void {
  run.state = state;
  run.verdict = state === 'passed' ? 'pass' : state === 'inconclusive' ? 'inconclusive' : 'fail';
  run.metrics = metrics;
  run.reason = reason;
  run.endedAt = '2026-03-03T09:33:10.000Z';
}

/** Every mrkdwn/plain text of a message, with where it sits. */
function texts(blocks: Block[]): { where: string; type: string; text: string }[] {
  const out: { where: string; type: string; text: string }[] = [];
  blocks.forEach((b, i) => {
    if (b.type === 'header') out.push({ where: `blocks[${i}].text`, type: b.text.type, text: b.text.text });
    if (b.type === 'section') {
      if (b.text) out.push({ where: `blocks[${i}].text`, type: b.text.type, text: b.text.text });
      b.fields?.forEach((f, j) => out.push({ where: `blocks[${i}].fields[${j}]`, type: f.type, text: f.text }));
    }
    if (b.type === 'context') b.elements.forEach((e, j) => out.push({ where: `blocks[${i}].elements[${j}]`, type: e.type, text: e.text }));
  });
  return out;
}

const bodyOf = (r: Recorded): SlackMessage & Record<string, unknown> => JSON.parse(r.body);

describe('Slack notifier against a Slack-shaped server', () => {
  let slack: ContractServer;
  let logs: string[];
  let delays: number[];
  const notifiers: SlackNotifier[] = [];

  const makeNotifier = (opts: { attempts?: number } = {}) => {
    const config = loadConfig({
      STEADYSTATE_LISTEN: '127.0.0.1:0',
      STEADYSTATE_PUBLIC_URL: 'https://chaos.example.com/',
      STEADYSTATE_SLACK_BOT_TOKEN: BOT_TOKEN,
      STEADYSTATE_SLACK_API_URL: `${slack.url}/api`,
      SLACK_WEBHOOK_CHAOS: `${slack.url}${WEBHOOK_PATH}`,
      SLACK_BOT_TOKEN_PAYMENTS: TEAM_TOKEN,
    });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    const notifier = new SlackNotifier({
      config,
      logger: pino({ level: 'debug' }, sink),
      sleep: async (ms) => {
        delays.push(ms);
      },
      random: () => 0.5,
      timeoutMs: 2_000,
      ...(opts.attempts ? { attempts: opts.attempts } : {}),
    });
    notifiers.push(notifier);
    return notifier;
  };

  const spec = (name: string, notify: string): Experiment =>
    taggedSpec(name, { notify, admin: `http://ops:${SPEC_SECRET}@127.0.0.1:9101` });

  /** No credential in any request body, and none in any log line. */
  const assertNoSecrets = () => {
    const secrets = [BOT_TOKEN, TEAM_TOKEN, WEBHOOK_PATH, 'XXXXwebhookSECRETxxxx', SPEC_SECRET];
    for (const r of slack.requests) for (const s of secrets) assert.ok(!r.body.includes(s), `a request body carries a secret: ${s}`);
    for (const line of logs) for (const s of secrets) assert.ok(!line.includes(s), `a log line carries a secret: ${line}`);
  };

  const assertWithinLimits = (r: Recorded) => {
    const message = bodyOf(r);
    assert.deepEqual(blockKitViolations(message), [], r.body.slice(0, 500));
    assert.ok(typeof message.text === 'string' && message.text.length > 0, 'a fallback text for notifications');
  };

  before(async () => {
    slack = await startContractServer();
  });
  after(async () => slack?.stop());
  afterEach(async () => {
    for (const n of notifiers.splice(0)) await n.flush();
    slack.reset();
  });

  /** Fresh routes, requests, logs and recorded delays. */
  const slackRoutes = () => {
    logs = [];
    delays = [];
    slack.reset();
    slack
      .route('POST', WEBHOOK_PATH, () => ({ status: 200, body: 'ok' }))
      .route('POST', '/api/chat.postMessage', (req) => {
        const token = req.headers.authorization;
        if (token !== `Bearer ${BOT_TOKEN}` && token !== `Bearer ${TEAM_TOKEN}`) return { status: 200, body: { ok: false, error: 'invalid_auth' } };
        const body = JSON.parse(req.body);
        return { status: 200, body: { ok: true, channel: CHANNEL_ID, ts: body.thread_ts ? '1772530300.000200' : '1772530200.000100', message: { text: body.text } } };
      })
      .route('POST', '/api/chat.update', () => ({ status: 200, body: { ok: true, channel: CHANNEL_ID, ts: '1772530200.000100' } }));
  };

  it('passed run, bot with updates: one start message, then chat.update of that message with the verdict', async () => {
    slackRoutes();
    const n = makeNotifier();
    const experiment = spec('checkout-latency', '{ slack: { channel: "#chaos" } }');
    const run = newRun('run-20260303T093000Z-a1b2c3', 'checkout-latency');
    n.onEvent(run.events[0]!, run, { experiment });
    finish(run, 'passed', [metric('checkout-sps', 0), metric('p95-latency', 0.5)], 'every metric within tolerance');
    n.onEvent(event('state.passed'), run, { experiment });
    await n.flush();

    const [post, ...rest] = slack.requests;
    assert.equal(post?.path, '/api/chat.postMessage');
    assert.equal(post?.headers.authorization, `Bearer ${BOT_TOKEN}`);
    assert.equal(post?.headers['content-type'], 'application/json; charset=utf-8');
    const start = bodyOf(post);
    assert.equal(start.channel, '#chaos');
    assert.match(JSON.stringify(start.blocks), /Chaos experiment started · checkout-latency/);
    assert.equal(rest.length, 1);
    const update = rest[0]!;
    assert.equal(update.path, '/api/chat.update');
    const verdict = bodyOf(update);
    assert.equal(verdict.channel, CHANNEL_ID, 'chat.update uses the channel id Slack answered with');
    assert.equal(verdict.ts, '1772530200.000100');
    const header = verdict.blocks[0]!;
    assert.equal(header.type, 'header');
    assert.match(header.type === 'header' ? header.text.text : '', /✅ Passed · checkout-latency/);
    const all = JSON.stringify(verdict.blocks);
    for (const expected of ['*Control*', '*Experiment*', 'Effect (experiment − control)', 'Interval (95%)', 'checkout-sps', 'p95-latency', 'http-proxy · 1m', 'shop / staging', '*Allowed*']) {
      assert.ok(all.includes(expected), `the verdict shows ${expected}`);
    }
    // checkout-sps is a rate() in the spec: its numbers are per second, its tolerance says of what.
    assert.match(all, /median \d+(\.\d+)?\/s · mean \d+(\.\d+)?\/s · n=40/);
    assert.match(all, /±5% of control = ±\d+(\.\d+)?\/s/);
    assert.ok(all.includes('<https://chaos.example.com/api/v1/runs/run-20260303T093000Z-a1b2c3/report.html|HTML report>'), 'links the HTML report');
    for (const r of slack.requests) assertWithinLimits(r);
    assertNoSecrets();
  });

  it('halted run, bot with thread replies: start, then the halt and the verdict in its thread', async () => {
    slackRoutes();
    const n = makeNotifier();
    const experiment = spec('checkout-latency', '{ slack: { channel: "#chaos", token: { fromEnv: SLACK_BOT_TOKEN_PAYMENTS }, updates: thread } }');
    const run = newRun('run-20260303T093000Z-halted', 'checkout-latency');
    n.onEvent(run.events[0]!, run, { experiment });
    run.state = 'injecting';
    run.halt = { guardrail: 'checkout-errors', kind: 'threshold', reason: 'error ratio 0.031 > max 0.02 for 2 evaluations', at: '2026-03-03T09:31:05.000Z', value: 0.031, threshold: { max: 0.02 } };
    n.onEvent(event('run.halted'), run, { experiment });
    finish(run, 'halted', [metric('checkout-sps', -20)], 'halted by guardrail "checkout-errors": error ratio 0.031 > max 0.02');
    n.onEvent(event('state.halted'), run, { experiment });
    await n.flush();

    assert.deepEqual(slack.requests.map((r) => r.path), ['/api/chat.postMessage', '/api/chat.postMessage', '/api/chat.postMessage']);
    for (const r of slack.requests) assert.equal(r.headers.authorization, `Bearer ${TEAM_TOKEN}`, 'the experiment\'s own token');
    const [start, halt, verdict] = slack.requests.map(bodyOf);
    assert.equal(start!.thread_ts, undefined);
    assert.equal(halt!.thread_ts, '1772530200.000100');
    assert.equal(verdict!.thread_ts, '1772530200.000100');
    assert.match(JSON.stringify(halt!.blocks), /Halted by guardrail\* `checkout-errors` — value 0\.031 \(max 0\.02\)/);
    assert.match(JSON.stringify(verdict!.blocks), /🛑 Halted · checkout-latency/);
    assert.match(JSON.stringify(verdict!.blocks), /Halted by guardrail/);
    for (const r of slack.requests) assertWithinLimits(r);
    assertNoSecrets();
  });

  it('failed run, incoming webhook: a start message and a follow-up with the verdict (a webhook cannot update)', async () => {
    slackRoutes();
    const n = makeNotifier();
    const experiment = spec('search-errors', '{ slack: { webhookUrl: { fromEnv: SLACK_WEBHOOK_CHAOS } } }');
    const run = newRun('run-20260303T093000Z-failed', 'search-errors');
    n.onEvent(run.events[0]!, run, { experiment });
    finish(run, 'failed', [metric('checkout-sps', -20)], 'checkout-sps dropped by 20%');
    n.onEvent(event('state.failed'), run, { experiment });
    await n.flush();
    assert.deepEqual(slack.requests.map((r) => r.path), [WEBHOOK_PATH, WEBHOOK_PATH]);
    for (const r of slack.requests) assert.equal(r.headers.authorization, undefined, 'no token is sent to a webhook');
    const verdict = bodyOf(slack.requests[1]!);
    assert.match(JSON.stringify(verdict.blocks), /❌ Failed · search-errors/);
    assert.match(JSON.stringify(verdict.blocks), /❌ \*checkout-sps\* — fail/);
    for (const r of slack.requests) assertWithinLimits(r);
    assertNoSecrets();
  });

  it('escapes &, < and > in user text everywhere in mrkdwn: no mention, no link, no entity cut in half', async () => {
    slackRoutes();
    const n = makeNotifier();
    const hostile = 'evil <!channel> & <https://phish.example|click> >';
    const experiment = spec('x<!here>&y', '{ slack: { channel: "#chaos" } }');
    const run = newRun('run-20260303T093000Z-escape', 'x<!here>&y');
    n.onEvent(run.events[0]!, run, { experiment });
    finish(run, 'failed', [metric(`m ${hostile}`, -20, `${hostile} `.repeat(200))], hostile);
    n.onEvent(event('state.failed'), run, { experiment });
    await n.flush();
    for (const r of slack.requests) {
      const message = bodyOf(r);
      assertWithinLimits(r);
      for (const t of texts(message.blocks)) {
        if (t.type !== 'mrkdwn') continue;
        // Our own report link is the only control sequence allowed.
        const withoutOurLink = t.text.replace(/<https:\/\/chaos\.example\.com\/api\/v1\/runs\/[^|>]+\/report\.html\|HTML report>/g, '');
        assert.ok(!/[<>]/.test(withoutOurLink), `${t.where} has a raw < or >: ${t.text.slice(0, 200)}`);
        assert.ok(!/&(?!amp;|lt;|gt;)/.test(t.text), `${t.where} has a raw &: ${t.text.slice(0, 200)}`);
        assert.ok(!/&(a|am|l|g)?…/.test(t.text) && !/&(amp|lt|gt)…/.test(t.text), `${t.where} cuts an entity`);
      }
      assert.ok(!message.text.includes('<!'), 'the fallback text is escaped too');
      assert.ok(JSON.stringify(message.blocks).includes('&lt;!channel&gt; &amp; &lt;https://phish.example|click&gt;') || r === slack.requests[0]);
    }
    assertNoSecrets();
  });

  it('respects the Block Kit limits with 50 metrics, long names and reasons: ≤ 50 blocks, the rest counted', async () => {
    slackRoutes();
    const n = makeNotifier();
    const longName = `exp-${'n'.repeat(124)}`; // 128, the longest name a spec may have
    const experiment = spec(longName, '{ slack: { channel: "#chaos" } }');
    const run = newRun('run-20260303T093000Z-limits', longName);
    n.onEvent(run.events[0]!, run, { experiment });
    const metrics = Array.from({ length: 50 }, (_, i) => metric(`metric-${i}-${'m'.repeat(100)}`, i % 3 === 0 ? -20 : 0, 'r'.repeat(5000)));
    finish(run, 'failed', metrics, 'x'.repeat(10_000));
    n.onEvent(event('state.failed'), run, { experiment });
    await n.flush();
    const update = slack.requests.find((r) => r.path === '/api/chat.update')!;
    const message = bodyOf(update);
    assert.deepEqual(blockKitViolations(message), []);
    assert.equal(message.blocks.length, 50);
    // "🧪 Chaos experiment started · " + 128 characters is over 150: the header is cut, not refused.
    const startHeader = bodyOf(slack.requests[0]!).blocks[0]!;
    assert.ok(startHeader.type === 'header' && startHeader.text.text.length <= 150 && startHeader.text.text.endsWith('…'), JSON.stringify(startHeader));
    assert.match(JSON.stringify(message.blocks), /…and \d+ more metrics; the report has them all\./);
    for (const t of texts(message.blocks)) assert.ok(t.text.length <= (t.where.includes('fields') ? 2000 : 3000), t.where);
  });

  it('a 429 is retried after Retry-After, then the message goes through', async () => {
    slackRoutes();
    slack.once('POST', '/api/chat.postMessage', { status: 429, headers: { 'retry-after': '7' }, body: { ok: false, error: 'ratelimited' } });
    const n = makeNotifier();
    const experiment = spec('checkout-latency', '{ slack: { channel: "#chaos" } }');
    const run = newRun('run-20260303T093000Z-429', 'checkout-latency');
    n.onEvent(run.events[0]!, run, { experiment });
    await n.flush();
    assert.deepEqual(delays, [7_000], 'waited what Retry-After said');
    assert.equal(slack.sent('POST', '/api/chat.postMessage').length, 2);
    assert.equal(slack.requests[0]!.body, slack.requests[1]!.body, 'the same message, sent again');
    // The incoming webhook's 429 is honoured the same way.
    slackRoutes();
    slack.once('POST', WEBHOOK_PATH, { status: 429, headers: { 'retry-after': '3' }, body: 'rate_limited' });
    const hook = spec('search', '{ slack: { webhookUrl: { fromEnv: SLACK_WEBHOOK_CHAOS } } }');
    const other = newRun('run-20260303T093000Z-429b', 'search');
    n.onEvent(other.events[0]!, other, { experiment: hook });
    await n.flush();
    assert.deepEqual(delays, [3_000]);
    assert.equal(slack.sent('POST', WEBHOOK_PATH).length, 2);
    assertNoSecrets();
  });

  it('as docs/triggers/slack.md says: 5 calls in all by default, waits drawn below 1 s, 2 s, 4 s, 8 s', async () => {
    slackRoutes();
    for (let i = 0; i < 5; i += 1) slack.once('POST', '/api/chat.postMessage', { status: 503, body: 'upstream unavailable' });
    const n = makeNotifier();
    const experiment = spec('checkout-latency', '{ slack: { channel: "#chaos" } }');
    const run = newRun('run-20260303T093000Z-documented', 'checkout-latency');
    n.onEvent(run.events[0]!, run, { experiment });
    await n.flush();
    assert.equal(slack.requests.length, 5, 'the first call and 4 retries');
    // random() is 0.5 here: each wait is half its cap.
    assert.deepEqual(delays, [500, 1_000, 2_000, 4_000]);
    const doc = await readFile(new URL('../../docs/triggers/slack.md', import.meta.url), 'utf8');
    assert.match(doc.replace(/\s+/g, ' '), /at most 5 times in all \(the first call and up to 4 retries\)/);
    assert.match(doc.replace(/\s+/g, ' '), /a random wait below 1 s, then below 2 s, 4 s and 8 s/);
  });

  it('retries are bounded; a fatal error is not retried; a dropped message does not stop the next one', async () => {
    slackRoutes();
    for (let i = 0; i < 3; i += 1) slack.once('POST', '/api/chat.postMessage', { status: 503, body: 'upstream unavailable' });
    const n = makeNotifier({ attempts: 3 });
    const experiment = spec('checkout-latency', '{ slack: { channel: "#chaos" } }');
    const run = newRun('run-20260303T093000Z-bounded', 'checkout-latency');
    n.onEvent(run.events[0]!, run, { experiment });
    finish(run, 'passed', [metric('checkout-sps', 0)], 'fine');
    n.onEvent(event('state.passed'), run, { experiment });
    await n.flush();
    // Three failed attempts at the start message, then the verdict as a new message (no ts to update).
    assert.deepEqual(slack.requests.map((r) => r.path), Array(4).fill('/api/chat.postMessage'));
    assert.equal(delays.length, 2);
    assert.match(JSON.stringify(bodyOf(slack.requests[3]!).blocks), /Passed · checkout-latency/);
    assert.ok(logs.some((l) => l.includes('slack: message dropped')));

    slackRoutes();
    slack.once('POST', '/api/chat.postMessage', { status: 200, body: { ok: false, error: 'channel_not_found' } });
    const lost = spec('lost', '{ slack: { channel: "#nowhere" } }');
    const r2 = newRun('run-20260303T093000Z-fatal', 'lost');
    n.onEvent(r2.events[0]!, r2, { experiment: lost });
    await n.flush();
    assert.equal(slack.requests.length, 1, 'channel_not_found is not retried');
    assert.ok(logs.some((l) => l.includes('channel_not_found')));
    assertNoSecrets();
  });

  it('never delays the run: onEvent returns at once even when Slack hangs', async () => {
    slackRoutes();
    slack.once('POST', '/api/chat.postMessage', 'hang');
    const n = makeNotifier({ attempts: 1 });
    const experiment = spec('checkout-latency', '{ slack: { channel: "#chaos" } }');
    const run = newRun('run-20260303T093000Z-hang', 'checkout-latency');
    const t0 = performance.now();
    const returned = n.onEvent(run.events[0]!, run, { experiment }) as unknown;
    run.state = 'injecting';
    run.halt = { guardrail: 'g', reason: 'breach', at: new Date().toISOString() };
    n.onEvent(event('run.halted'), run, { experiment });
    const elapsed = performance.now() - t0;
    assert.equal(returned, undefined, 'nothing for the caller to await');
    assert.ok(elapsed < 50, `onEvent took ${elapsed.toFixed(1)}ms`);
    // The hung request times out (2 s here), the message is dropped, the halt still goes out.
    await n.flush();
    assert.equal(slack.requests.length, 2);
    assert.match(JSON.stringify(bodyOf(slack.requests[1]!).blocks), /Halted · checkout-latency/);
  });

  it('sends nothing, and says so once per message, when no credential is configured', async () => {
    slackRoutes();
    const config = loadConfig({ STEADYSTATE_LISTEN: '127.0.0.1:0' });
    const sink: string[] = [];
    const n = new SlackNotifier({ config, logger: pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, d) => (sink.push(c.toString()), d()) })) });
    const experiment = spec('checkout-latency', '{ slack: { channel: "#chaos" } }');
    const run = newRun('run-20260303T093000Z-nocreds', 'checkout-latency');
    n.onEvent(run.events[0]!, run, { experiment });
    await n.flush();
    assert.equal(slack.requests.length, 0);
    assert.ok(sink.some((l) => l.includes('no Slack credentials')));
  });
});
