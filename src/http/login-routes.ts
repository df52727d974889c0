/**
 * The browser session: `GET /login` (a form that takes a token), `POST /login`
 * (checks the token, opens a server-side session, sets its cookie) and
 * `POST /logout`. The page has no script at all and a CSP that allows none;
 * the form posts only to this origin.
 *
 * POST /login is public (it is how one gets credentials) but not open to other
 * sites: it needs this site's Origin, so a hostile page cannot log a browser
 * into the attacker's account (login CSRF). See
 * docs/adr/010-browser-session-and-csrf.md.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { CrossOriginError, isSameOrigin, UnauthorizedError } from './auth.ts';
import { cookieValue, SESSION_COOKIE, sessionCookie } from './cookies.ts';
import type { HttpDeps } from './app.ts';
import { SESSION_TTL_MS } from './session-store.ts';
import type { ZodApp } from './types.ts';

const LOGIN_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const FORM_TYPE = 'application/x-www-form-urlencoded';

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderLoginPage(message?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>steadystate — log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}label,input,button{display:block;width:100%;box-sizing:border-box}input{margin:.5rem 0 1rem;padding:.5rem;font:inherit}button{padding:.5rem;font:inherit}.error{color:#a00}</style>
</head><body>
<h1>steadystate</h1>
${message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : ''}
<form method="post" action="/login">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required maxlength="512">
<button type="submit">Log in</button>
</form>
<p>Create a token with <code>steadystate token create --role viewer --name you</code>.</p>
</body></html>
`;
}

function sendPage(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('content-security-policy', LOGIN_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    // Not no-referrer: under it Chromium sends `Origin: null` with the form post, which the Origin check refuses.
    .header('referrer-policy', 'same-origin')
    .header('cache-control', 'no-store')
    .send(html);
}

/** Secure cookies when the browser talks TLS to us or to the proxy in front (the public URL says https). */
function secure(request: FastifyRequest, publicUrl: string | undefined): boolean {
  return request.protocol === 'https' || (publicUrl?.startsWith('https://') ?? false);
}

function tokenFrom(body: unknown): string | undefined {
  const token = body !== null && typeof body === 'object' ? (body as Record<string, unknown>).token : undefined;
  return typeof token === 'string' && token.length > 0 && token.length <= 512 ? token.trim() : undefined;
}

export function registerLoginRoutes(app: ZodApp, deps: Pick<HttpDeps, 'store' | 'config'>): void {
  const { store } = deps;
  const publicUrl = deps.config.publicUrl;

  app.get('/login', { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) => sendPage(reply, 200, renderLoginPage()));

  void app.register(async (scope) => {
    // The form posts urlencoded; only here is that content type read.
    scope.addContentTypeParser(FORM_TYPE, { parseAs: 'string' }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    scope.withTypeProvider<ZodTypeProvider>().post('/login', { config: { access: 'public' }, schema: { hide: true } }, async (request, reply) => {
      const form = (request.headers['content-type'] ?? '').startsWith(FORM_TYPE);
      if (!isSameOrigin(request, publicUrl)) throw new CrossOriginError('log in from this site\'s own /login page (the Origin header must be this site)');
      const token = tokenFrom(request.body);
      const identity = token === undefined ? undefined : await store.tokens.verify(token);
      if (!identity) {
        if (form) return sendPage(reply, 401, renderLoginPage('That token is not valid (unknown or revoked).'));
        throw new UnauthorizedError('send {"token": "…"} with a valid token');
      }
      const session = await store.sessions.create(identity.id);
      reply.header('set-cookie', sessionCookie(session.id, { secure: secure(request, publicUrl), maxAgeSeconds: Math.floor(SESSION_TTL_MS / 1000) }));
      request.log.info({ tokenId: identity.id, role: identity.role }, 'browser session opened');
      if (form) return reply.code(303).header('location', '/').send();
      return reply.send({ session: { name: identity.name, role: identity.role, expiresAt: session.expiresAt } });
    });
  });

  // Viewer: whoever holds a session may end it. As a write it needs this site's Origin (auth.ts).
  app.post('/logout', { config: { access: 'viewer' }, schema: { hide: true } }, async (request, reply) => {
    const session = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (session !== undefined) await store.sessions.destroy(session);
    reply.header('set-cookie', sessionCookie('', { secure: secure(request, publicUrl), maxAgeSeconds: 0 }));
    return reply.code(303).header('location', '/login').send();
  });
}
