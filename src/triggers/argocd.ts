/**
 * Argo CD notifications (the `webhook` service of argocd-notifications).
 *
 * Argo CD signs nothing, but its webhook service sends custom headers whose
 * values may come from `argocd-notifications-secret`, so authentication is a
 * shared secret: `Authorization: Bearer <secret>`, compared in constant time.
 * A shared secret does not bind the body, so freshness rests on `finishedAt`
 * (the sync operation's end, which the template puts in the body) and replays
 * inside that window on the delivery record.
 *
 * The body comes from our template (docs/triggers/argocd.md):
 *   { "id"?, "app", "service"?, "environment", "revision"?, "phase", "health"?, "finishedAt" }
 * - runs only when `phase` is `Succeeded` and `health` (when sent) is `Healthy`;
 * - service: `service` when non-empty, else `app` (the Application's name);
 * - environment: `environment` (from a label or the destination namespace);
 * - delivery id: `id` when sent, else the SHA-256 of the body.
 * Go templates render a missing map key as `<no value>`: that counts as absent.
 */
import { bearerMatches, sha256Hex } from './signature.ts';
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

const present = (v: unknown): boolean => v !== undefined && v !== null && v !== '' && v !== '<no value>';

export const argocdProvider: DeployProvider = {
  name: 'argocd',
  replayWindowMs: MAX_EVENT_AGE_MS + MAX_CLOCK_SKEW_MS,
  verify(request: WebhookRequest, secret: string): VerifyOutcome {
    const authorization = singleHeader(request.headers, 'authorization');
    if (authorization === undefined) throw new WebhookError(401, 'missing_signature', 'Authorization: Bearer <secret> is required');
    if (!bearerMatches(authorization, secret)) throw new WebhookError(401, 'bad_signature', 'the shared secret does not match');
    const body = parseJsonBody(request.body);
    if (!isObject(body)) throw malformed('the body must be a JSON object');
    const deliveryId = present(body.id) ? checkDeliveryId(body.id, 'id') : `sha256:${sha256Hex(request.body)}`;
    const phase = textField(body.phase, 'phase', 64);
    if (phase !== 'Succeeded') return { kind: 'ignore', deliveryId, reason: `operation phase is "${phase}", not Succeeded` };
    if (present(body.health) && body.health !== 'Healthy') {
      return { kind: 'ignore', deliveryId, reason: `application health is "${String(body.health)}", not Healthy` };
    }
    const app = textField(body.app, 'app', 253);
    if (!present(body.environment)) {
      throw malformed('environment is required (a label or the destination namespace, see docs/triggers/argocd.md)');
    }
    return {
      kind: 'deploy',
      event: {
        deliveryId,
        service: present(body.service) ? textField(body.service, 'service', 128) : app,
        environment: textField(body.environment, 'environment', 128),
        occurredAt: parseTime(body.finishedAt, 'finishedAt'),
        ...(present(body.revision) ? { revision: textField(body.revision, 'revision', 256) } : {}),
      },
    };
  },
};
