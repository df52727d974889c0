/**
 * Access control: `Authorization: Bearer <token>` on every route except
 * `/healthz`. Deny by default: a route that does not declare the role it
 * needs requires `admin`. Roles are ordered viewer < operator < admin.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../lib/errors.ts';
import type { Principal, Store } from '../store/types.ts';
import type { ZodApp } from './types.ts';

export type Role = 'viewer' | 'operator' | 'admin';
export type RouteAccess = Role | 'public';

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call this route. Absent = admin (deny by default). */
    access?: RouteAccess;
  }
  interface FastifyRequest {
    identity?: Principal;
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'a valid bearer token is required') {
    super(message, { code: 'unauthorized', httpStatus: 401 });
  }
}

export class ForbiddenError extends AppError {
  constructor(need: Role, have: Role) {
    super(`this needs the ${need} role; your token has ${have}`, { code: 'forbidden', httpStatus: 403 });
  }
}

/** The token from `Authorization: Bearer …`, or from the `steadystate_token` cookie (for the browser pages). */
export function tokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m?.[1];
  }
  const cookie = request.headers.cookie;
  if (typeof cookie === 'string') {
    for (const part of cookie.split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k === 'steadystate_token') return decodeURIComponent(v.join('='));
    }
  }
  return undefined;
}

export function registerAuth(app: ZodApp, store: Store): void {
  app.addHook('onRequest', async (request: FastifyRequest, _reply: FastifyReply) => {
    // The OpenAPI UI's routes are registered by a plugin without our config: readable by viewers.
    const access: RouteAccess = request.url.startsWith('/docs') ? 'viewer' : (request.routeOptions.config?.access ?? 'admin');
    if (access === 'public') return;
    const token = tokenOf(request);
    // Unknown routes still need a token, so a 404 reveals nothing to strangers.
    if (!token || token.length > 512) throw new UnauthorizedError();
    const identity = await store.tokens.verify(token);
    if (!identity) throw new UnauthorizedError('the bearer token is not valid');
    request.identity = identity;
    const need: Role = request.routeOptions.url === undefined ? 'viewer' : access;
    if (RANK[identity.role] < RANK[need]) throw new ForbiddenError(need, identity.role);
  });
}

/** The name recorded in events for who did something. */
export function actorOf(request: FastifyRequest): string {
  return request.identity ? `${request.identity.name} (${request.identity.role})` : 'anonymous';
}
