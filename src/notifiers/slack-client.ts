/**
 * Talking to Slack: an incoming webhook (POST JSON, plain-text errors) or the
 * Web API with a bot token (chat.postMessage, chat.update; `{ ok, error }`).
 *
 * Errors are SlackError, marked retryable for 429, 5xx, `ratelimited` and
 * network failures, with the `Retry-After` delay when Slack gave one; fatal
 * for everything Slack says is our mistake (invalid_payload, channel_not_found,
 * invalid_auth…). Messages name the operation and Slack's error code, never
 * the webhook URL (it is the credential) or the token.
 *
 * Node's fetch, not axios: an AxiosError keeps the request config, headers
 * included, and serialises it — the token would reach the logs.
 */
import { rawUrlProblem } from '../security/outbound-url.ts';
import { AppError } from '../lib/errors.ts';
import type { SlackMessage } from './slack-blocks.ts';

export type SlackTarget =
  | { kind: 'webhook'; url: string }
  | { kind: 'bot'; token: string; channel: string; apiUrl: string };

export type BotTarget = Extract<SlackTarget, { kind: 'bot' }>;

/** Where a bot's message landed. */
export interface PostedMessage {
  ts: string;
  /** The channel id Slack answered with (chat.update wants the id, not the name). */
  channel: string;
}

export class SlackError extends AppError {
  /** How long Slack asked us to wait (Retry-After), in ms. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, opts: { retryable: boolean; retryAfterMs?: number; cause?: unknown }) {
    super(message, { code: 'slack_error', httpStatus: 502, retryable: opts.retryable, cause: opts.cause });
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** Retry-After is seconds (Slack); an HTTP date is accepted too. Capped so a bogus value cannot park a run's messages for hours. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header.trim());
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}


/** Web API errors worth another try; every other one (invalid_auth, channel_not_found, invalid_blocks…) is ours to fix. */
const TRANSIENT_API_ERRORS = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);

export interface SlackClientOptions {
  fetch?: typeof fetch;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
}

/** A short, safe rendering of Slack's error text (it may echo anything). */
function code(text: string): string {
  const m = /^[a-z0-9_]{1,64}$/.exec(text.trim());
  return m ? m[0] : 'unexpected response';
}

export class SlackClient {
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(opts: SlackClientOptions = {}) {
    this.fetch = opts.fetch ?? globalThis.fetch;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /**
   * Post a message. A bot's answer carries the message's `ts` and the channel
   * id, which chat.update and thread replies need; a webhook's carries nothing.
   */
  async post(target: SlackTarget, message: SlackMessage, threadTs?: string): Promise<PostedMessage | undefined> {
    if (target.kind === 'webhook') {
      await this.webhook(target.url, message);
      return undefined;
    }
    const answer = await this.api(target, 'chat.postMessage', {
      channel: target.channel,
      text: message.text,
      blocks: message.blocks,
      unfurl_links: false,
      ...(threadTs ? { thread_ts: threadTs } : {}),
    });
    if (typeof answer.ts !== 'string') return undefined;
    return { ts: answer.ts, channel: typeof answer.channel === 'string' ? answer.channel : target.channel };
  }

  /** Replace a bot's message in place. */
  async update(target: BotTarget, posted: PostedMessage, message: SlackMessage): Promise<void> {
    await this.api(target, 'chat.update', { channel: posted.channel, ts: posted.ts, text: message.text, blocks: message.blocks });
  }

  private async send(what: string, url: string, headers: Record<string, string>, body: unknown): Promise<Response> {
    // Operator-set URLs (STEADYSTATE_SLACK_*), but held to the same plain form as spec URLs: parsed once, sent as parsed.
    const problem = rawUrlProblem(url);
    if (problem) throw new SlackError(`${what}: the configured URL ${problem}`, { retryable: false });
    try {
      return await this.fetch(new URL(url), {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      // The cause of a fetch failure can carry the URL: keep only its kind.
      const kind = err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${this.timeoutMs / 1000}s` : 'network error';
      throw new SlackError(`${what}: ${kind}`, { retryable: true });
    }
  }

  private async webhook(url: string, message: SlackMessage): Promise<void> {
    const what = 'Slack incoming webhook';
    const res = await this.send(what, url, {}, { text: message.text, blocks: message.blocks, unfurl_links: false });
    const text = await res.text().catch(() => '');
    if (res.ok) return;
    if (res.status === 429) throw new SlackError(`${what}: rate limited (429)`, { retryable: true, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) });
    throw new SlackError(`${what} answered ${res.status} (${code(text)})`, { retryable: res.status >= 500 });
  }

  private async api(target: BotTarget, method: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const what = `Slack ${method}`;
    const res = await this.send(what, `${target.apiUrl}/${method}`, { authorization: `Bearer ${target.token}` }, body);
    if (res.status === 429) {
      await res.body?.cancel().catch(() => undefined);
      throw new SlackError(`${what}: rate limited (429)`, { retryable: true, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) });
    }
    let answer: unknown;
    try {
      answer = await res.json();
    } catch {
      throw new SlackError(`${what} answered ${res.status} without JSON`, { retryable: res.status >= 500 });
    }
    const obj = (answer && typeof answer === 'object' ? answer : {}) as Record<string, unknown>;
    if (res.ok && obj.ok === true) return obj;
    const error = typeof obj.error === 'string' ? code(obj.error) : `HTTP ${res.status}`;
    if (error === 'ratelimited') throw new SlackError(`${what}: rate limited`, { retryable: true, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) });
    throw new SlackError(`${what} failed: ${error}`, { retryable: res.status >= 500 || TRANSIENT_API_ERRORS.has(error) });
  }
}
