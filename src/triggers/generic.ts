/**
 * The generic deploy webhook, for anything that can compute an HMAC (a CI
 * step with `openssl`, Spinnaker's webhook stage, a script).
 *
 * Authentication (the Stripe/Slack scheme, so a captured delivery cannot be
 * replayed later):
 *   X-Steadystate-Timestamp: <Unix seconds>
 *   X-Steadystate-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 * A timestamp more than 5 minutes from our clock, either way, is refused.
 * Within those minutes a replay under another delivery id is caught by the
 * delivery record; a retry that re-signs the same body with a fresh timestamp
 * and the same `id` is a redelivery (same runs).
 *
 * Body: `{ "service": "shop", "environment": "staging", "revision"?: "…",
 * "id"?: "…" }`. The delivery id is `X-Steadystate-Delivery`, else `id`,
 * else the SHA-256 of the signed content (so identical retries dedupe).
 */
import { sha256Hex, verifySha256Signature } from './signature.ts';
import {
  checkDeliveryId,
  isObject,
  malformed,
  parseJsonBody,
  singleHeader,
  textField,
  WebhookError,
  type DeployProvider,
  type VerifyOutcome,
  type WebhookRequest,
} from './types.ts';

/** How far the signed timestamp may be from our clock (issue 9: older than 5 minutes is refused). */
export const GENERIC_TOLERANCE_MS = 5 * 60_000;

export const genericProvider: DeployProvider = {
  name: 'generic',
  // A captured delivery is stale 5 minutes after (or before) its timestamp.
  replayWindowMs: 2 * GENERIC_TOLERANCE_MS,
  verify(request: WebhookRequest, secret: string, now: number): VerifyOutcome {
    const timestamp = singleHeader(request.headers, 'x-steadystate-timestamp');
    const signature = singleHeader(request.headers, 'x-steadystate-signature');
    if (timestamp === undefined || signature === undefined) {
      throw new WebhookError(401, 'missing_signature', 'X-Steadystate-Timestamp and X-Steadystate-Signature are required');
    }
    if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookError(401, 'bad_signature', 'X-Steadystate-Timestamp must be Unix seconds');
    if (!verifySha256Signature(signature, secret, `${timestamp}.`, request.body)) {
      throw new WebhookError(401, 'bad_signature', 'X-Steadystate-Signature does not match the timestamp and body');
    }
    // Checked after the signature: the timestamp is only worth anything once we know it is authentic.
    const ageMs = now - Number(timestamp) * 1000;
    if (Math.abs(ageMs) > GENERIC_TOLERANCE_MS) {
      throw new WebhookError(401, 'stale_delivery', `the delivery's timestamp is ${Math.round(ageMs / 1000)}s from this server's clock; at most ${GENERIC_TOLERANCE_MS / 1000}s is accepted`);
    }
    const body = parseJsonBody(request.body);
    if (!isObject(body)) throw malformed('the body must be a JSON object');
    const header = singleHeader(request.headers, 'x-steadystate-delivery');
    const deliveryId =
      header !== undefined
        ? checkDeliveryId(header, 'X-Steadystate-Delivery')
        : body.id !== undefined
          ? checkDeliveryId(body.id, 'id')
          : `sha256:${sha256Hex(`${timestamp}.`, request.body)}`;
    return {
      kind: 'deploy',
      event: {
        deliveryId,
        service: textField(body.service, 'service', 128),
        environment: textField(body.environment, 'environment', 128),
        occurredAt: new Date(Number(timestamp) * 1000),
        ...(body.revision !== undefined ? { revision: textField(body.revision, 'revision', 256) } : {}),
      },
    };
  },
};
