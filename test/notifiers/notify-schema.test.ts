/**
 * `spec.notify.slack` validation: credentials only as references to SLACK_*
 * environment variables, one way of sending, and unknown notifiers named.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { notifySchema } from '../../src/notifiers/notify-schema.ts';
import { parseExperiment } from '../../src/spec/load.ts';
import { taggedSpecYaml } from '../triggers/helpers.ts';

const issues = (input: unknown): string =>
  (notifySchema.safeParse(input).error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');

describe('notify.slack', () => {
  it('accepts the brief\'s form, a bot token reference, a webhook reference', () => {
    assert.deepEqual(notifySchema.parse({ slack: { channel: '#chaos' } }), { slack: { channel: '#chaos', updates: 'update' } });
    assert.equal(issues({ slack: { channel: 'C0123ABCD', token: { fromEnv: 'SLACK_BOT_TOKEN' }, updates: 'thread' } }), '');
    assert.equal(issues({ slack: { webhookUrl: { fromEnv: 'STEADYSTATE_SLACK_WEBHOOK_PAYMENTS' } } }), '');
  });

  it('refuses a secret written into the spec, and references outside SLACK_*', () => {
    assert.match(issues({ slack: { channel: '#c', token: 'xoxb-123-456-abc' } }), /token is a secret: write \{ fromEnv: SLACK_… \}/);
    assert.match(issues({ slack: { webhookUrl: 'https://hooks.slack.com/services/T/B/X' } }), /webhookUrl is a secret/);
    assert.match(issues({ slack: { channel: '#c', token: { fromEnv: 'DATABASE_URL' } } }), /starting with SLACK_ or STEADYSTATE_SLACK_/);
    assert.match(issues({ slack: { channel: '#c', token: { fromEnv: 'STEADYSTATE_ADMIN_TOKEN' } } }), /starting with SLACK_/);
  });

  it('one way of sending; a token needs a channel; channels look like channels', () => {
    assert.match(issues({ slack: { webhookUrl: { fromEnv: 'SLACK_HOOK' }, channel: '#c' } }), /either webhookUrl, or token\/channel/);
    assert.match(issues({ slack: { token: { fromEnv: 'SLACK_BOT' } } }), /channel: a bot token needs a channel/);
    assert.match(issues({ slack: { channel: 'general chat' } }), /channel name/);
    assert.match(issues({ slack: { channel: '#c', updates: 'sometimes' } }), /updates/);
  });

  it('an unknown notifier is named, with the known ones', () => {
    assert.match(issues({ teams: { url: 'x' } }), /teams: unknown notifier "teams"; known: slack/);
  });

  it('is what spec.notify validates with', () => {
    const result = parseExperiment(taggedSpecYaml('n', { notify: '{ slack: { channel: "#chaos", token: "xoxb-1-2-3" } }' }));
    assert.equal(result.ok, false);
    if (!result.ok) assert.ok(result.issues.some((i) => i.path === 'spec.notify.slack.token'), JSON.stringify(result.issues));
  });
});
