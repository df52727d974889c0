/**
 * The configuration the triggers and the notifier read: webhook secrets per
 * provider, Slack credentials, the scheduler switch. Mistakes are named,
 * secret values never are.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/lib/errors.ts';

const base = { STEADYSTATE_LISTEN: '127.0.0.1:0' };

describe('trigger and Slack configuration', () => {
  it('enables exactly the providers with a secret', () => {
    const config = loadConfig({ ...base, STEADYSTATE_WEBHOOK_SECRET_GITHUB: '  gh-secret-0123456789  ', STEADYSTATE_WEBHOOK_SECRET_GENERIC: 'generic-secret-0123456789', STEADYSTATE_WEBHOOK_SECRET_ARGOCD: '' });
    assert.deepEqual(config.webhookSecrets, { github: 'gh-secret-0123456789', generic: 'generic-secret-0123456789' });
    assert.ok(Object.isFrozen(config.webhookSecrets));
    assert.deepEqual(loadConfig(base).webhookSecrets, {});
  });

  it('refuses unknown providers and short secrets, without echoing the secret', () => {
    assert.throws(
      () => loadConfig({ ...base, STEADYSTATE_WEBHOOK_SECRET_GITLAB: 'gitlab-secret-0123456789', STEADYSTATE_WEBHOOK_SECRET_GITHUB: 'short-1' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /STEADYSTATE_WEBHOOK_SECRET_GITLAB: no webhook provider "gitlab"; known: github, argocd, cdevents, generic/);
        assert.match(err.message, /STEADYSTATE_WEBHOOK_SECRET_GITHUB must be at least 16 characters/);
        assert.ok(!err.message.includes('short-1') && !err.message.includes('gitlab-secret'));
        return true;
      },
    );
  });

  it('Slack: defaults, the SLACK_* variables specs may reference, and checks on the token and URLs', () => {
    const config = loadConfig({
      ...base,
      STEADYSTATE_SLACK_BOT_TOKEN: 'xoxb-1-2-abc',
      SLACK_WEBHOOK_CHAOS: 'https://hooks.slack.com/services/T/B/X',
      DATABASE_URL_NOT_SLACK: 'postgres://x',
      STEADYSTATE_SLACK_API_URL: 'http://127.0.0.1:9999/api/',
    });
    assert.equal(config.slack.botToken, 'xoxb-1-2-abc');
    assert.equal(config.slack.apiUrl, 'http://127.0.0.1:9999/api');
    assert.deepEqual(Object.keys(config.slack.env).sort(), ['SLACK_WEBHOOK_CHAOS', 'STEADYSTATE_SLACK_API_URL', 'STEADYSTATE_SLACK_BOT_TOKEN']);
    assert.equal(loadConfig(base).slack.apiUrl, 'https://slack.com/api');
    assert.throws(() => loadConfig({ ...base, STEADYSTATE_SLACK_BOT_TOKEN: 'not-a-token' }), /does not look like a Slack token/);
    assert.throws(() => loadConfig({ ...base, STEADYSTATE_SLACK_WEBHOOK_URL: 'hooks.slack.com/x' }), /STEADYSTATE_SLACK_WEBHOOK_URL must be an http\(s\) URL/);
  });

  it('the scheduler is on unless STEADYSTATE_SCHEDULER=off', () => {
    assert.equal(loadConfig(base).scheduler, true);
    assert.equal(loadConfig({ ...base, STEADYSTATE_SCHEDULER: 'off' }).scheduler, false);
    assert.throws(() => loadConfig({ ...base, STEADYSTATE_SCHEDULER: 'sometimes' }), /STEADYSTATE_SCHEDULER must be on or off/);
  });
});
