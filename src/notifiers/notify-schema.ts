/**
 * `spec.notify`: where a run's start, halt and verdict are reported.
 *
 *   notify:
 *     slack:
 *       channel: "#chaos"                          # with a bot token: the service's STEADYSTATE_SLACK_BOT_TOKEN…
 *       token: { fromEnv: SLACK_BOT_TOKEN_PAYMENTS } # …or this experiment's own (xoxb-…)
 *       updates: update                            # or "thread": halt and verdict as replies
 *   # or, with an incoming webhook (its URL is the secret):
 *     slack:
 *       webhookUrl: { fromEnv: SLACK_WEBHOOK_CHAOS }  # else the service's STEADYSTATE_SLACK_WEBHOOK_URL
 *
 * Credentials are references to environment variables of the service,
 * never values: a spec is stored, versioned and shown through the API, a
 * secret must not be. References are limited to names starting with
 * `SLACK_` or `STEADYSTATE_SLACK_`, so a spec author cannot make the service
 * send some other secret of its environment (the database URL, the admin
 * token) to Slack.
 */
import { z } from 'zod';

export const SLACK_ENV_RE = /^(STEADYSTATE_)?SLACK_[A-Z0-9_]+$/;

const envRef = (what: string) =>
  z
    .unknown()
    .superRefine((value, ctx) => {
      if (typeof value === 'string') {
        ctx.addIssue({ code: 'custom', message: `${what} is a secret: write { fromEnv: SLACK_… } and set that variable on the service, never the value itself` });
      }
    })
    .pipe(
      z.strictObject({
        fromEnv: z.string().regex(SLACK_ENV_RE, 'must name an environment variable starting with SLACK_ or STEADYSTATE_SLACK_'),
      }),
    );

export const slackNotifySchema = z
  .strictObject({
    /** An incoming webhook: one channel, fixed by Slack; messages cannot be updated or threaded. */
    webhookUrl: envRef('webhookUrl').optional(),
    /** A bot token (chat:write) for chat.postMessage and chat.update. */
    token: envRef('token').optional(),
    /** Channel name or id, for a bot token. */
    channel: z
      .string()
      .regex(/^#?[a-z0-9][a-z0-9._-]{0,79}$|^[CGD][A-Z0-9]{6,20}$/, 'must be a channel name ("#chaos") or id ("C0123ABCD")')
      .optional(),
    /** How a bot reports the halt and the verdict: `update` the start message in place, or reply in its `thread`. */
    updates: z.enum(['update', 'thread']).default('update'),
  })
  .superRefine((slack, ctx) => {
    if (slack.webhookUrl && (slack.token || slack.channel)) {
      ctx.addIssue({ code: 'custom', path: ['webhookUrl'], message: 'use either webhookUrl, or token/channel (a bot), not both' });
    }
    if (slack.token && !slack.channel) {
      ctx.addIssue({ code: 'custom', path: ['channel'], message: 'a bot token needs a channel' });
    }
  });

export const KNOWN_NOTIFIERS = ['slack'] as const;

export const notifySchema = z
  .looseObject({ slack: slackNotifySchema.optional() })
  .superRefine((notify, ctx) => {
    for (const key of Object.keys(notify)) {
      if (!(KNOWN_NOTIFIERS as readonly string[]).includes(key)) {
        ctx.addIssue({ code: 'custom', path: [key], message: `unknown notifier "${key}"; known: ${KNOWN_NOTIFIERS.join(', ')}` });
      }
    }
  });

export type SlackNotifySpec = z.output<typeof slackNotifySchema>;
export type NotifySpec = z.output<typeof notifySchema>;
