/**
 * Access control: `Authorization: Bearer <token>`, or the browser session
 * cookie from POST /login, on every route except `/healthz`, `/login` and the
 * signed webhooks. Deny by default: a route that does not declare the role it
 * needs requires `admin`. Roles are ordered viewer < operator < admin.
 * Writes never ride on a cookie alone (docs/adr/010-browser-session-and-csrf.md).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../lib/errors.ts';
import type { Principal, Store } from '../store/types.ts';
import { cookieValue, SESSION_COOKIE } from './cookies.ts';
import type { ZodApp } from './types.ts';

export type Role = 'viewer' | 'operator' | 'admin';
export type RouteAccess = Role | 'public';

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** Whether a role has (at least) the rights of another. */
export const roleAllows = (role: Role, need: Role): boolean => RANK[role] >= RANK[need];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call this route. Absent = admin (deny by default). */
    access?: RouteAccess;
    /** The route starts runs: a burst of its requests is answered before their runs' start-up (app.ts). */
    startsRuns?: boolean;
  }
  interface FastifyRequest {
    identity?: Principal;
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'a valid bearer token (or a session from /login) is required') {
    super(message, { code: 'unauthorized', httpStatus: 401 });
  }
}

export class ForbiddenError extends AppError {
  constructor(need: Role, have: Role) {
    super(`this needs the ${need} role; your token has ${have}`, { code: 'forbidden', httpStatus: 403 });
  }
}

/** The token from `Authorization: Bearer …`; undefined without the header or when it is not a bearer token. */
export function tokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

/**
 * The Origin header names this service: the origin of STEADYSTATE_PUBLIC_URL,
 * or the host the request was addressed to (scheme aside, so a TLS-terminating
 * proxy in front does not break it; an attacker's page has another host or port).
 */
export function isSameOrigin(request: FastifyRequest, publicUrl: string | undefined): boolean {
  const origin = request.headers.origin;
  if (typeof origin !== 'string' || !URL.canParse(origin)) return false;
  const o = new URL(origin);
  if (o.protocol !== 'http:' && o.protocol !== 'https:') return false;
  if (publicUrl !== undefined && URL.canParse(publicUrl) && new URL(publicUrl).origin === o.origin) return true;
  const host = request.headers.host;
  // Through URL, so `localhost:80` and `http://localhost` agree on the default port.
  const addressed = typeof host === 'string' && URL.canParse(`${o.protocol}//${host}`) ? new URL(`${o.protocol}//${host}`) : undefined;
  return addressed !== undefined && addressed.host === o.host && addressed.pathname === '/';
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether a request may change something (and so needs the CSRF checks). */
export const isWrite = (request: FastifyRequest): boolean => !SAFE_METHODS.has(request.method);

export class CrossOriginError extends AppError {
  constructor(message: string) {
    super(message, { code: 'cross_origin', httpStatus: 403 });
  }
}

/**
 * Who is calling. A bearer header, when present, is the only credential
 * looked at. Without one, the session cookie from POST /login; a write on a
 * session must come with this site's Origin, so another page — another port
 * of the same host included, which SameSite does not separate — cannot ride
 * on the cookie. A cross-origin Origin on any write is refused outright.
 */
export function registerAuth(app: ZodApp, store: Store, publicUrl: string | undefined): void {
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const write = isWrite(request);
    if (write && request.headers.origin !== undefined && !isSameOrigin(request, publicUrl)) {
      throw new CrossOriginError(`a write from another origin (${String(request.headers.origin).slice(0, 100)}) is refused`);
    }
    // The OpenAPI UI's routes are registered by a plugin without our config: readable by viewers.
    const access: RouteAccess = request.url.startsWith('/docs') ? 'viewer' : (request.routeOptions.config?.access ?? 'admin');
    if (access === 'public') return;
    let identity: Principal | undefined;
    if (request.headers.authorization !== undefined) {
      const token = tokenOf(request);
      // Unknown routes still need a token, so a 404 reveals nothing to strangers.
      if (!token || token.length > 512) throw new UnauthorizedError();
      identity = await store.tokens.verify(token);
      if (!identity) throw new UnauthorizedError('the bearer token is not valid');
    } else {
      const session = cookieValue(request.headers.cookie, SESSION_COOKIE);
      if (session === undefined) {
        // A person opening a page without a session is sent to the login form; APIs get the 401.
        if (request.method === 'GET' && /\btext\/html\b/.test(String(request.headers.accept ?? ''))) return reply.code(303).header('location', '/login').send();
        throw new UnauthorizedError();
      }
      identity = await store.sessions.verify(session);
      if (!identity) throw new UnauthorizedError('the session is not valid (expired, logged out or its token revoked); log in again at /login');
      if (write && !isSameOrigin(request, publicUrl)) {
        throw new CrossOriginError('a write with a session cookie needs this site\'s Origin header; scripts and CLIs send Authorization: Bearer instead');
      }
    }
    request.identity = identity;
    const need: Role = request.routeOptions.url === undefined ? 'viewer' : access;
    if (RANK[identity.role] < RANK[need]) throw new ForbiddenError(need, identity.role);
  });
}

/** The name recorded in events for who did something. */
export function actorOf(request: FastifyRequest): string {
  return request.identity ? `${request.identity.name} (${request.identity.role})` : 'anonymous';
}
