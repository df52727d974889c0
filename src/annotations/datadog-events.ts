/**
 * Datadog events: `POST /api/v1/events` with `DD-API-KEY`, body `{ title,
 * text, date_happened (s), tags, alert_type, aggregation_key }`. The site
 * comes from DD_SITE, as for the Datadog metric source; the run id aggregates a run's events into one thread.
 */
import { postJson } from './post-json.ts';
import { resolveCredential, type AnnotationsConfig } from './annotations-config.ts';
import type { Annotation, Annotator } from './types.ts';

/** Datadog caps an event's title at 100 characters and its text at 4000. */
const MAX_TITLE = 100;
const MAX_TEXT = 4000;

export class DatadogEventAnnotator implements Annotator {
  readonly name = 'datadog';

  constructor(
    private readonly config: NonNullable<AnnotationsConfig['datadog']>,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async post(a: Annotation, signal: AbortSignal): Promise<void> {
    const key = resolveCredential(this.config.apiKey, this.env, 'datadog events API key');
    const span = a.timeEnd !== undefined ? `\n${new Date(a.time).toISOString()} → ${new Date(a.timeEnd).toISOString()}` : '';
    const body = {
      title: a.title.slice(0, MAX_TITLE),
      text: `${a.text}${span}`.slice(0, MAX_TEXT),
      date_happened: Math.floor((a.timeEnd ?? a.time) / 1000),
      tags: a.tags,
      alert_type: a.severity === 'warning' ? 'warning' : 'info',
      aggregation_key: a.runId.slice(0, 100),
    };
    await postJson(`${this.config.url}/api/v1/events`, { 'dd-api-key': key }, body, 'datadog event', signal);
  }
}
