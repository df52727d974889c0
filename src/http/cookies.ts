/**
 * Reading and writing the session cookie. Parsing never throws: a cookie
 * whose value does not decode is ignored (the request is then anonymous and
 * gets a 401), never a 500.
 */
export const SESSION_COOKIE = 'steadystate_session';

/** The first value of cookie `name`, percent-decoded; undefined when absent or undecodable. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * `Set-Cookie` for a session: HttpOnly (no script reads it), SameSite=Strict
 * (no cross-site request carries it), Path=/, Secure when served over TLS.
 * `maxAgeSeconds` 0 deletes it.
 */
export function sessionCookie(value: string, opts: { secure: boolean; maxAgeSeconds: number }): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${opts.maxAgeSeconds}`,
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}
