/**
 * Removes secrets from anything about to be written for people: reports, logs,
 * events, API answers. Specs may carry credentials (an Authorization header on
 * a source, a token in a webhook), so redaction is by key name, by header map,
 * and by URL userinfo — applied to whole documents, not field by field.
 */
const SENSITIVE_KEY = /(pass(word)?|secret|token|api[-_]?key|app[-_]?key|authorization|cookie|credential|private[-_]?key|signature)/i;
export const REDACTED = '[redacted]';

export function redact<T>(value: T): T {
  return walk(value, false) as T;
}

function walk(value: unknown, inHeaders: boolean): unknown {
  if (Array.isArray(value)) return value.map((v) => walk(v, false));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      if (inHeaders) {
        // Header maps: every literal value may be a credential; env references are safe to show.
        out[k] = v && typeof v === 'object' && 'fromEnv' in v ? v : REDACTED;
      } else if (SENSITIVE_KEY.test(k) && (typeof v === 'string' || typeof v === 'number')) {
        out[k] = REDACTED;
      } else {
        out[k] = walk(v, /^headers$/i.test(k));
      }
    }
    return out;
  }
  if (typeof value === 'string') return redactUrlSecrets(value);
  return value;
}

/** Userinfo passwords and sensitive query parameters (`?token=…`, `&api_key=…`) in any URL inside the text. */
export function redactUrlSecrets(text: string): string {
  return redactUrlUserinfo(text).replace(
    /([?&](?:[a-z0-9_.-]*?)(?:pass(?:word)?|secret|token|api[-_]?key|app[-_]?key|key|signature|sig|auth)[a-z0-9_.-]*=)([^&#\s"']+)/gi,
    `$1${REDACTED}`,
  );
}

/** `https://user:pw@host/x` → `https://user:[redacted]@host/x`; other strings unchanged. */
export function redactUrlUserinfo(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]+):([^/@\s]+)@/gi, `$1$2:${REDACTED}@`);
}
