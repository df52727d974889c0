/**
 * Deploy triggers: a CI/CD system tells us a service was deployed to an
 * environment, and we start the experiments tagged for that pair.
 *
 * The port is one small interface, `DeployProvider`: authenticate a raw HTTP
 * delivery and turn it into a `DeployEvent` (or say why it is ignored). It is
 * pure — no I/O, the clock passed in — so every check it makes happens before
 * anything is read from or written to the store. One file per provider
 * (github.ts, argocd.ts, cdevents.ts, generic.ts), a registry keyed by the
 * `{provider}` path segment (registry.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { AppError } from '../lib/errors.ts';

/** The providers this build knows, i.e. `POST /hooks/deploy/{provider}` and `STEADYSTATE_WEBHOOK_SECRET_<PROVIDER>`. */
export const DEPLOY_PROVIDERS = ['github', 'argocd', 'cdevents', 'generic'] as const;
export type DeployProviderName = (typeof DEPLOY_PROVIDERS)[number];

/** A delivery exactly as it arrived: the signature covers these bytes, not a re-serialised JSON. */
export interface WebhookRequest {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** What a deploy means to us once authenticated and parsed. */
export interface DeployEvent {
  /**
   * The provider's id of this delivery (GitHub: X-GitHub-Delivery; CDEvents:
   * context.id; …). A redelivery carries the same id; it keys the runs'
   * idempotency (`provider:deliveryId`). At most MAX_DELIVERY_ID_LENGTH chars.
   */
  deliveryId: string;
  /** Matched against `metadata.service` (see deploy-matching.ts for the rules). */
  service: string;
  /** Matched against `metadata.environment`. */
  environment: string;
  /** When the deploy happened according to the (authenticated) delivery; checked for freshness. */
  occurredAt: Date;
  /** Commit, revision or artifact, for the record. */
  revision?: string;
}

export type VerifyOutcome =
  | { kind: 'deploy'; event: DeployEvent }
  /** Authentic, but nothing to run (a `ping`, a `pending` status, another event type). */
  | { kind: 'ignore'; deliveryId: string | undefined; reason: string };

export interface DeployProvider {
  readonly name: DeployProviderName;
  /**
   * How long the body of an accepted delivery counts as a replay when it
   * comes again under another delivery id: the provider's freshness window
   * plus clock skew. Beyond it a captured delivery fails the freshness check
   * by itself, so the same body is a new deploy (the same revision again).
   */
  readonly replayWindowMs: number;
  /**
   * Authenticate with `secret`, then parse. Throws WebhookError (a 4xx) for
   * anything wrong: missing or bad signature, stale timestamp, malformed
   * body. Never touches the network or the store.
   */
  verify(request: WebhookRequest, secret: string, now: number): VerifyOutcome;
}

/** A delivery id longer than this is malformed (it becomes part of an idempotency key of at most 255). */
export const MAX_DELIVERY_ID_LENGTH = 200;

/** Deliveries whose deploy happened longer ago than this are refused (the signed body can be replayed forever otherwise). */
export const MAX_EVENT_AGE_MS = 60 * 60_000;

/** Deploy times this far in the future are accepted (clock skew), later ones refused. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/**
 * A refused delivery. Always a 4xx; the message says what was wrong without
 * echoing secrets or signatures.
 */
export class WebhookError extends AppError {
  constructor(httpStatus: 400 | 401 | 404 | 409 | 413 | 415 | 422, code: string, message: string) {
    super(message, { code, httpStatus });
  }
}

export const malformed = (message: string): WebhookError => new WebhookError(400, 'malformed_delivery', message);
export const unauthenticated = (message: string): WebhookError => new WebhookError(401, 'bad_signature', message);

/** One header's value; repeated headers are refused (an attacker's second copy could win elsewhere). */
export function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw malformed(`header ${name} is repeated`);
  return value;
}

/** The body as JSON; a 400 for anything else (after authentication, so strangers learn nothing). */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) throw malformed('the body is empty');
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw malformed('the body is not valid JSON');
  }
}

/** A delivery id: 1..200 printable ASCII characters without spaces. */
export function checkDeliveryId(id: unknown, where: string): string {
  if (typeof id !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(id)) {
    throw malformed(`${where} must be 1 to ${MAX_DELIVERY_ID_LENGTH} printable characters without spaces`);
  }
  return id;
}

/** An ISO-8601 timestamp from a delivery. */
export function parseTime(value: unknown, where: string): Date {
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) throw malformed(`${where} must be an ISO-8601 timestamp`);
  return new Date(value);
}

/** A non-empty string field of at most `max` characters. */
export function textField(value: unknown, where: string, max = 256): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > max) {
    throw malformed(`${where} must be a non-empty string of at most ${max} characters`);
  }
  return value.trim();
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
