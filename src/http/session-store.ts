/**
 * Browser sessions, bound server-side (docs/adr/010-browser-session-and-csrf.md).
 * The cookie carries a random id (32 bytes); the table keeps its SHA-256, the
 * token that opened it and an expiry. Looking a session up joins the token, so
 * a revoked token ends its sessions at once, on every replica.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Sql } from '../store/sql.ts';
import type { Principal } from '../store/types.ts';

/** How long a session lasts from login: a working day. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** A session id is 43 base64url characters; anything else is not one of ours. */
const SESSION_ID_RE = /^[A-Za-z0-9_-]{43}$/;

export interface SessionRepository {
  /** A new session for the token `tokenId`; the id goes into the cookie and is never stored. */
  create(tokenId: string, now?: Date): Promise<{ id: string; expiresAt: string }>;
  /** The principal behind a live session, or undefined (unknown, expired, or its token revoked). */
  verify(id: string, now?: Date): Promise<Principal | undefined>;
  /** Idempotent. */
  destroy(id: string): Promise<void>;
}

const hashId = (id: string): string => createHash('sha256').update(id, 'utf8').digest('hex');

export function createSessionRepository(sql: Sql): SessionRepository {
  return {
    async create(tokenId, now = new Date()) {
      const id = randomBytes(32).toString('base64url');
      const expiresAt = new Date(now.getTime() + SESSION_TTL_MS).toISOString();
      // Expired rows go when new ones come: no sweeper to run, the table stays small.
      await sql.query('DELETE FROM browser_sessions WHERE expires_at < $1::timestamptz', [now.toISOString()]);
      await sql.query('INSERT INTO browser_sessions (id_sha256, token_id, expires_at) VALUES ($1, $2, $3::timestamptz)', [hashId(id), tokenId, expiresAt]);
      return { id, expiresAt };
    },

    async verify(id, now = new Date()) {
      if (typeof id !== 'string' || !SESSION_ID_RE.test(id)) return undefined;
      const [row] = await sql.query<Principal>(
        `SELECT t.id, t.name, t.role FROM browser_sessions s JOIN api_tokens t ON t.id = s.token_id
         WHERE s.id_sha256 = $1 AND s.expires_at > $2::timestamptz AND t.revoked_at IS NULL`,
        [hashId(id), now.toISOString()],
      );
      return row ? { id: row.id, name: row.name, role: row.role } : undefined;
    },

    async destroy(id) {
      if (typeof id !== 'string' || !SESSION_ID_RE.test(id)) return;
      await sql.query('DELETE FROM browser_sessions WHERE id_sha256 = $1', [hashId(id)]);
    },
  };
}
