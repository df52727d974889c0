/**
 * The one redaction: everything shown to a viewer (API answers, pages,
 * reports), sent to Slack or written to a log passes through `redact` (whole
 * documents, any depth) or `redactText` (strings). Specs may carry
 * credentials (a header on a source, a password in a URL, a token in a query
 * string) and adapters build messages from them (targets, reasons, stderr of a
 * program), so the rules work on keys, on header maps and on text:
 *
 * - a key that names a secret (`password`, `token`, `apiKey`, `Authorization`…)
 *   keeps its key, loses its value;
 * - every value of a header map is a possible credential;
 * - secret references (`{ fromEnv: NAME }`, `{ fromFile: PATH }`) are shown as
 *   written: they name where a secret lives, never the secret;
 * - in any string: URL userinfo, sensitive query parameters, `Bearer …`,
 *   `key: value` / `"key":"value"` / `key=value` pairs with a secret-looking
 *   key, and every value registered as a known secret (the service's own
 *   tokens, and each secret reference once it is resolved).
 */
export const REDACTED = '[redacted]';

const SECRET_WORDS = 'pass(?:word|wd)?(?!ed|es|ing|age)|secret|token|api[-_]?key|app(?:lication)?[-_]?key|authorization|cookie|credentials?|private[-_]?key|signature|session[-_]?id';
const SENSITIVE_KEY = new RegExp(`(${SECRET_WORDS})`, 'i');
/** Keys whose values are where a secret lives or which one it is, not the secret: paths, variable names, ids. */
const LOCATION_KEY = /(File|Path|Env|Dir|Id|Name)$/;
const HEADER_MAP_KEY = /^(headers|httpHeaders)$/i;

/** Values known to be secrets; replaced wherever they appear in text. */
const knownSecrets = new Set<string>();
/** Shorter strings are not registered: redacting every "abc" would garble text and protects nothing. */
const MIN_SECRET_LENGTH = 6;

/** Register values that must never be shown (the service's tokens, resolved secret references). */
export function registerSecretValues(values: Iterable<string | undefined>): void {
  for (const v of values) {
    if (typeof v === 'string' && v.trim().length >= MIN_SECRET_LENGTH) knownSecrets.add(v.trim());
  }
}

export function isSecretReference(value: unknown): value is { fromEnv: string } | { fromFile: string } {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'fromEnv' || keys[0] === 'fromFile') && typeof (value as Record<string, unknown>)[keys[0]] === 'string';
}

/** A redacted deep copy of `value` (plain data; Errors become `{ type, message }`). */
export function redact<T>(value: T): T {
  return walk(value, false, new WeakSet()) as T;
}

function walk(value: unknown, inHeaders: boolean, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return inHeaders ? REDACTED : redactText(value);
  if (!value || typeof value !== 'object') return inHeaders && typeof value === 'number' ? REDACTED : value;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => walk(v, inHeaders, seen));
    if (value instanceof Date) return value;
    if (value instanceof Error) return walk(errorFields(value), false, seen);
    if (isSecretReference(value)) return { ...value };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      if (inHeaders) out[k] = walk(v, true, seen);
      else if (SENSITIVE_KEY.test(k) && !LOCATION_KEY.test(k) && (typeof v === 'string' || typeof v === 'number')) out[k] = REDACTED;
      else out[k] = walk(v, HEADER_MAP_KEY.test(k), seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/**
 * The same rules for one scalar, given the keys that lead to it (for text the
 * walk above cannot see as objects, e.g. a spec's YAML source).
 */
export function redactLeaf(keys: readonly string[], value: string | number): string | number {
  const last = keys.at(-1);
  const parent = keys.at(-2);
  if (last === 'fromEnv' || last === 'fromFile') return value;
  if (parent !== undefined && HEADER_MAP_KEY.test(parent)) return REDACTED;
  if (last !== undefined && SENSITIVE_KEY.test(last) && !LOCATION_KEY.test(last)) return REDACTED;
  return typeof value === 'string' ? redactText(value) : value;
}

/** What a log or an answer may say about an error: its type, message, code, stack and cause. */
export function errorFields(err: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: err.message };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (err.stack) out.stack = err.stack;
  if (err.cause instanceof Error) out.cause = errorFields(err.cause);
  return out;
}

const BEARER_RE = /\b(Bearer|Basic|Token|Digest|Negotiate)\s+[A-Za-z0-9._~+/=-]{6,}/g;
// `"authorization": "…"`, `token: …`, `api_key=…`: a secret-looking key, then its value.
const PAIR_RE = new RegExp(`((?:^|[^\\w])["']?[\\w.-]*(?:${SECRET_WORDS})[\\w.-]*["']?[ \\t]*[:=][ \\t]*)("(?:[^"\\\\]|\\\\.)*"|'[^']*'|[^\\s"',;&}\\]]+)`, 'gi');

/** Every rule for text: known secrets, URL userinfo and query secrets, auth schemes, key/value pairs. */
export function redactText(text: string): string {
  let out = text;
  for (const secret of knownSecrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  out = redactUrlSecrets(out);
  out = out.replace(BEARER_RE, `$1 ${REDACTED}`);
  out = out.replace(PAIR_RE, (whole, key: string, value: string) => {
    if (value.includes(REDACTED) || /^["']?\[redacted/.test(value)) return whole;
    // A reference or a location is not the secret: `apiKeyFile: /run/secrets/dd`, `fromEnv: NAME`.
    if (/(file|path|env|dir|from)["']?[ \t]*[:=][ \t]*$/i.test(key)) return whole;
    const quote = value.startsWith('"') ? '"' : value.startsWith("'") ? "'" : '';
    return `${key}${quote}${REDACTED}${quote}`;
  });
  return out;
}

/** Userinfo passwords and sensitive query parameters (`?token=…`, `&api_key=…`) in any URL inside the text. */
export function redactUrlSecrets(text: string): string {
  return redactUrlUserinfo(text).replace(
    /([?&](?:[a-z0-9_.-]*?)(?:pass(?:word)?|secret|token|api[-_]?key|app[-_]?key|key|signature|sig|auth|code|credential)[a-z0-9_.-]*=)([^&#\s"']+)/gi,
    `$1${REDACTED}`,
  );
}

/** `https://user:pw@host/x` → `https://user:[redacted]@host/x`; `https://tok@host` → `https://[redacted]@host`. */
export function redactUrlUserinfo(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]+):([^/@\s]+)@/gi, `$1$2:${REDACTED}@`)
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^/@\s:[\]]+)@/gi, (whole, scheme: string, user: string) => (user === REDACTED ? whole : `${scheme}${REDACTED}@`));
}
