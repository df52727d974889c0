/**
 * What the Kubernetes injectors put on and read from custom objects: the marks
 * that make an object ours and name its run, DNS-safe names derived from run
 * ids, the object shape we rely on, and status conditions.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'steadystate';
/** Label (selectable, possibly shortened) and annotation (the exact run id). */
export const RUN_ID_KEY = 'steadystate.dev/run-id';
export const EXPERIMENT_ANNOTATION = 'steadystate.dev/experiment';
export const OWNED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** DNS-1123 label: what a namespace may be called. */
export const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/**
 * `steadystate-<run id>` as a DNS-1123 name (≤ 63 characters), the same for
 * every call with the same run id, so a retried open finds what the first
 * attempt created. Run ids are lower-cased; anything else that had to change
 * (other characters, truncation) adds a hash of the exact id so two runs never
 * share a name.
 */
export function objectNameFor(runId: string): string {
  const lower = runId.toLowerCase();
  let safe = lower.replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '');
  const prefix = 'steadystate-';
  const max = 63 - prefix.length;
  if (safe !== lower || safe.length > max || safe === '') {
    safe = `${safe.slice(0, max - 9).replace(/-$/, '')}-${shortHash(runId)}`.replace(/^-/, '');
  }
  return `${prefix}${safe}`;
}

/** The run id as a label value when it is one, else a shortened form with a hash (the annotation keeps it exact). */
export function runIdLabelValue(runId: string): string {
  if (runId.length <= 63 && LABEL_VALUE_RE.test(runId)) return runId;
  const safe = runId.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 50).replace(/[^A-Za-z0-9]+$/, '');
  return `${safe}${safe ? '-' : ''}${shortHash(runId)}`;
}

/** Labels and annotations that mark an object as ours and name its run. */
export function ownershipMetadata(runId: string, experiment: string): { labels: Record<string, string>; annotations: Record<string, string> } {
  return {
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [RUN_ID_KEY]: runIdLabelValue(runId) },
    annotations: { [RUN_ID_KEY]: runId, [EXPERIMENT_ANNOTATION]: experiment },
  };
}

/** The exact run id recorded on an object: the annotation, else the label. */
export function runIdOf(obj: KubeObject): string | undefined {
  return obj.metadata?.annotations?.[RUN_ID_KEY] ?? obj.metadata?.labels?.[RUN_ID_KEY];
}

export const kubeObjectSchema = z
  .object({
    apiVersion: z.string().optional(),
    kind: z.string().optional(),
    metadata: z
      .object({
        name: z.string().optional(),
        namespace: z.string().optional(),
        labels: z.record(z.string(), z.string()).nullish().transform((v) => v ?? undefined),
        annotations: z.record(z.string(), z.string()).nullish().transform((v) => v ?? undefined),
        creationTimestamp: z.string().nullish(),
        deletionTimestamp: z.string().nullish(),
      })
      .loose()
      .optional(),
    spec: z.unknown().optional(),
    status: z.unknown().optional(),
  })
  .loose();
export type KubeObject = z.output<typeof kubeObjectSchema>;

/** A custom resource type: `/apis/{group}/{version}/namespaces/{ns}/{plural}`. */
export interface CustomResource {
  group: string;
  version: string;
  plural: string;
}

/** `status.conditions[type=…].status === "True"` (Kubernetes condition convention). */
export function conditionTrue(obj: KubeObject | undefined, type: string): boolean {
  const conditions = (obj?.status as { conditions?: unknown } | undefined)?.conditions;
  if (!Array.isArray(conditions)) return false;
  return conditions.some((c: unknown) => {
    const cond = c as { type?: unknown; status?: unknown };
    return cond.type === type && cond.status === 'True';
  });
}

/** `AllInjected=True, Selected=False` — for messages. */
export function describeConditions(obj: KubeObject | undefined): string {
  const conditions = (obj?.status as { conditions?: unknown } | undefined)?.conditions;
  if (!Array.isArray(conditions) || conditions.length === 0) return 'no conditions reported yet';
  return conditions
    .map((c: unknown) => {
      const cond = c as { type?: unknown; status?: unknown };
      return `${String(cond.type)}=${String(cond.status)}`;
    })
    .join(', ');
}
