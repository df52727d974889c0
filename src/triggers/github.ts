/**
 * GitHub `deployment_status` webhooks.
 *
 * Authentication: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw
 * body)>`, compared in constant time over the bytes as received. Then:
 * - `X-GitHub-Delivery` is the delivery id (GitHub keeps it on a redelivery);
 * - `X-GitHub-Event: ping` (sent when the hook is created) and any other event
 *   are acknowledged and ignored;
 * - `deployment_status` with `action: created` and `deployment_status.state:
 *   success` is a deploy; other states (pending, in_progress, queued, failure,
 *   error, inactive) are ignored.
 *
 * Mapping (docs/triggers/README.md):
 * - service: `deployment.payload.service` when the workflow set it (a string),
 *   else `repository.name`;
 * - environment: `deployment_status.environment`, else `deployment.environment`;
 * - deploy time: `deployment_status.updated_at` (else `created_at`), which is
 *   inside the signed body — the freshness check rests on it, since GitHub's
 *   signature carries no timestamp;
 * - revision: `deployment.sha`.
 */
import {
  checkDeliveryId,
  MAX_CLOCK_SKEW_MS,
  MAX_EVENT_AGE_MS,
  isObject,
  malformed,
  parseJsonBody,
  parseTime,
  singleHeader,
  textField,
  WebhookError,
  type DeployProvider,
  type VerifyOutcome,
  type WebhookRequest,
} from './types.ts';
import { verifySha256Signature } from './signature.ts';

export const githubProvider: DeployProvider = {
  name: 'github',
  replayWindowMs: MAX_EVENT_AGE_MS + MAX_CLOCK_SKEW_MS,
  verify(request: WebhookRequest, secret: string): VerifyOutcome {
    const signature = singleHeader(request.headers, 'x-hub-signature-256');
    if (signature === undefined) throw new WebhookError(401, 'missing_signature', 'X-Hub-Signature-256 is missing');
    if (!verifySha256Signature(signature, secret, request.body)) {
      throw new WebhookError(401, 'bad_signature', 'X-Hub-Signature-256 does not match the body');
    }
    const deliveryId = checkDeliveryId(singleHeader(request.headers, 'x-github-delivery'), 'X-GitHub-Delivery');
    const eventName = singleHeader(request.headers, 'x-github-event');
    if (eventName === undefined || eventName === '') throw malformed('X-GitHub-Event is missing');
    const body = parseJsonBody(request.body);
    if (!isObject(body)) throw malformed('the body must be a JSON object');
    if (eventName !== 'deployment_status') return { kind: 'ignore', deliveryId, reason: `event "${eventName}" is not deployment_status` };
    if (body.action !== 'created') return { kind: 'ignore', deliveryId, reason: `action "${String(body.action)}" is not created` };

    const status = body.deployment_status;
    const deployment = body.deployment;
    const repository = body.repository;
    if (!isObject(status)) throw malformed('deployment_status must be an object');
    if (!isObject(deployment)) throw malformed('deployment must be an object');
    if (typeof status.state !== 'string') throw malformed('deployment_status.state must be a string');
    if (status.state !== 'success') return { kind: 'ignore', deliveryId, reason: `deployment state is "${status.state}", not success` };

    const payload = deployment.payload;
    let service: string;
    if (isObject(payload) && payload.service !== undefined) {
      service = textField(payload.service, 'deployment.payload.service', 128);
    } else {
      if (!isObject(repository)) throw malformed('repository must be an object');
      service = textField(repository.name, 'repository.name', 128);
    }
    const environment =
      status.environment !== undefined && status.environment !== null
        ? textField(status.environment, 'deployment_status.environment', 128)
        : textField(deployment.environment, 'deployment.environment', 128);
    const occurredAt = parseTime(status.updated_at ?? status.created_at, 'deployment_status.updated_at');
    return {
      kind: 'deploy',
      event: {
        deliveryId,
        service,
        environment,
        occurredAt,
        ...(typeof deployment.sha === 'string' ? { revision: deployment.sha.slice(0, 64) } : {}),
      },
    };
  },
};
