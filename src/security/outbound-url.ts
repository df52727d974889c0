/**
 * Outbound URLs: parsed once with the WHATWG parser (what fetch and axios use)
 * and judged on what it parsed, never on the raw text. The parser is lenient:
 * it strips leading and trailing spaces, drops tabs and newlines anywhere
 * (`ht\ntp://`), reads `http:/x` and `http:\\x` as `http://x`, and decodes
 * `%61` or a decimal IP in a host. A check that looked at the text (a regex for
 * `^https?://`) and a client that used the parse disagreed, and a run reached
 * a host the allowlist excluded. So a raw URL whose text is not plainly what
 * the parser reads is refused outright, at validation and again at call time.
 */
import { hostAllowed, PolicyError, type SecurityPolicy } from './policy.ts';

/** Why `raw` is not a plainly written http(s) URL, or undefined when it is. */
export function rawUrlProblem(raw: string): string | undefined {
  if (raw !== raw.trim()) return 'must not start or end with whitespace';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we reject
  if (/[\u0000-\u0020\u007f-\u00a0\u2028\u2029\ufeff]/.test(raw)) return 'must not contain whitespace or control characters';
  if (raw.includes('\\')) return 'must not contain backslashes';
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(raw);
  if (!m) return 'must be written scheme://host… (two slashes, then the host)';
  const scheme = (m[1] ?? '').toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return 'must be an http:// or https:// URL';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a valid URL';
  }
  // The host as written (after any userinfo, before any port) must be the host the parser found.
  const authority = m[2] ?? '';
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const writtenHost = (hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.replace(/:\d*$/, '')).toLowerCase();
  if (writtenHost === '') return 'has no host';
  if (writtenHost !== url.hostname) return `host "${writtenHost}" is read as "${url.hostname}"; write it as ${url.hostname}`;
  return undefined;
}

/** Why the parsed URL may not be called under `policy`, or undefined. */
export function urlPolicyProblem(url: URL, policy: SecurityPolicy): string | undefined {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'only http:// and https:// URLs may be called';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!hostAllowed(host, policy.allowedHosts)) return `host "${host}" is not in STEADYSTATE_ALLOWED_HOSTS`;
  if ((url.username || url.password) && !policy.allowUrlCredentials) {
    return 'credentials in a URL (user:password@) are refused; use a secret reference ({ fromEnv } / { fromFile }) or STEADYSTATE_ALLOW_URL_CREDENTIALS=1';
  }
  return undefined;
}

/** Both checks, on text: the problem, or undefined for a URL that may be called. */
export function outboundUrlProblem(raw: string, policy: SecurityPolicy): string | undefined {
  return rawUrlProblem(raw) ?? urlPolicyProblem(new URL(raw), policy);
}

/**
 * At call time, right before a request: parse `raw` once, check it, return the
 * parsed URL to send to. Throws PolicyError naming `what` (never the URL's
 * userinfo or query).
 */
export function checkOutboundUrl(raw: string | URL, policy: SecurityPolicy, what: string): URL {
  const text = typeof raw === 'string' ? raw : raw.href;
  const problem = typeof raw === 'string' ? outboundUrlProblem(text, policy) : urlPolicyProblem(raw, policy);
  if (problem) throw new PolicyError(`${what}: refused outbound URL: ${problem}`);
  return typeof raw === 'string' ? new URL(raw) : raw;
}

/**
 * Every string leaf of `value` that the WHATWG parser would read as an http(s)
 * URL, with its path: the strict raw form is required of each, whatever field
 * it sits in (an adapter may pass any string to a client).
 */
export function urlStrings(value: unknown, path: string, out: { path: string; raw: string }[] = []): { path: string; raw: string }[] {
  if (typeof value === 'string') {
    if (parsesAsHttp(value)) out.push({ path, raw: value });
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => urlStrings(v, `${path}[${i}]`, out));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) urlStrings(v, `${path}.${k}`, out);
  }
  return out;
}

function parsesAsHttp(text: string): boolean {
  // Cheap gate first: the parser removes tabs and newlines, so look at the text without them.
  if (!/^\s*h\s*t\s*t\s*p\s*s?\s*:/i.test(text)) return false;
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
