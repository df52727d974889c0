/**
 * Grafana annotations: `POST /api/annotations` with a service-account token
 * (`Authorization: Bearer …`), body `{ dashboardUID?, time, timeEnd?, tags,
 * text }`, times in ms since the epoch. Without a dashboard UID the annotation
 * is organisation-wide: dashboards show it through an annotation query on its
 * tags (`steadystate`, `experiment:<name>`).
 */
import { postJson } from './post-json.ts';
import { resolveCredential, type AnnotationsConfig } from './annotations-config.ts';
import type { Annotation, Annotator } from './types.ts';

export class GrafanaAnnotator implements Annotator {
  readonly name = 'grafana';

  constructor(
    private readonly config: NonNullable<AnnotationsConfig['grafana']>,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async post(a: Annotation, signal: AbortSignal): Promise<void> {
    const token = resolveCredential(this.config.token, this.env, 'grafana annotation token');
    const body = {
      ...(this.config.dashboardUid ? { dashboardUID: this.config.dashboardUid } : {}),
      time: a.time,
      ...(a.timeEnd !== undefined ? { timeEnd: a.timeEnd } : {}),
      tags: a.tags,
      text: `${a.title}\n${a.text}`,
    };
    await postJson(`${this.config.url}/api/annotations`, { authorization: `Bearer ${token}` }, body, 'grafana annotation', signal);
  }
}
