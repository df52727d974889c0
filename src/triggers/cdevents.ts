/**
 * CDEvents `dev.cdevents.service.deployed` (event versions 0.1.x, 0.2.x and
 * 0.3.x, i.e. CDEvents spec 0.1 to 0.5), over HTTP in any of the three shapes
 * senders use:
 * - a bare CDEvent (`application/cdevents+json` or `application/json`);
 * - CloudEvents binary mode: `ce-specversion`, `ce-id`, `ce-source`,
 *   `ce-type` headers, the CDEvent as the body;
 * - CloudEvents structured mode (`application/cloudevents+json`): the
 *   CDEvent in `data`.
 *
 * CloudEvents define no signature, so authentication is a shared secret:
 * `Authorization: Bearer <secret>`, compared in constant time. Freshness
 * rests on `context.timestamp`, replays inside the window on the delivery
 * record.
 *
 * Mapping: service ← `subject.id`, environment ←
 * `subject.content.environment.id`, delivery id ← `context.id`, deploy time
 * ← `context.timestamp`, revision ← `subject.content.artifactId`. Service
 * and environment ids are often paths (`service/shop`, `cluster/staging`):
 * deploy-matching.ts also compares their last segment.
 */
import { bearerMatches } from './signature.ts';
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

const DEPLOYED = /^dev\.cdevents\.service\.deployed\.0\.[1-3]\.\d+$/;

export const cdeventsProvider: DeployProvider = {
  name: 'cdevents',
  replayWindowMs: MAX_EVENT_AGE_MS + MAX_CLOCK_SKEW_MS,
  verify(request: WebhookRequest, secret: string): VerifyOutcome {
    const authorization = singleHeader(request.headers, 'authorization');
    if (authorization === undefined) throw new WebhookError(401, 'missing_signature', 'Authorization: Bearer <secret> is required');
    if (!bearerMatches(authorization, secret)) throw new WebhookError(401, 'bad_signature', 'the shared secret does not match');

    const contentType = (singleHeader(request.headers, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const ceType = singleHeader(request.headers, 'ce-type');
    const parsed = parseJsonBody(request.body);
    if (!isObject(parsed)) throw malformed('the body must be a JSON object');

    let event: Record<string, unknown>;
    let cloudEventType: string | undefined;
    if (contentType === 'application/cloudevents+json') {
      if (!isObject(parsed.data)) throw malformed('a structured CloudEvent must carry the CDEvent in "data"');
      event = parsed.data;
      cloudEventType = typeof parsed.type === 'string' ? parsed.type : undefined;
    } else {
      event = parsed;
      if (ceType !== undefined && singleHeader(request.headers, 'ce-specversion') === undefined) {
        throw malformed('ce-type without ce-specversion is not a CloudEvent');
      }
      cloudEventType = ceType;
    }

    const context = event.context;
    const subject = event.subject;
    if (!isObject(context)) throw malformed('context must be an object (a CDEvent)');
    const type = textField(context.type, 'context.type', 200);
    if (cloudEventType !== undefined && cloudEventType !== type) {
      throw malformed(`the CloudEvent type "${cloudEventType}" differs from context.type "${type}"`);
    }
    const deliveryId = checkDeliveryId(context.id, 'context.id');
    if (!type.startsWith('dev.cdevents.')) throw malformed(`"${type}" is not a CDEvents type`);
    if (!DEPLOYED.test(type)) {
      return { kind: 'ignore', deliveryId, reason: `"${type}" is not dev.cdevents.service.deployed 0.1–0.3` };
    }
    if (!isObject(subject)) throw malformed('subject must be an object');
    const content = subject.content;
    if (!isObject(content)) throw malformed('subject.content must be an object');
    const environment = content.environment;
    if (!isObject(environment)) throw malformed('subject.content.environment must be an object');
    return {
      kind: 'deploy',
      event: {
        deliveryId,
        service: textField(subject.id, 'subject.id', 256),
        environment: textField(environment.id, 'subject.content.environment.id', 256),
        occurredAt: parseTime(context.timestamp, 'context.timestamp'),
        ...(typeof content.artifactId === 'string' ? { revision: content.artifactId.slice(0, 256) } : {}),
      },
    };
  },
};
