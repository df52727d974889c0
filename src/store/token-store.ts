/**
 * API tokens. A token is `sst_` + 32 random bytes (base64url), shown once; the
 * database keeps only its SHA-256, so a leaked database (or backup) does not
 * leak credentials. Tokens carry 256 bits of entropy, so a plain, unsalted
 * hash is enough: there is nothing to brute-force, and an exact-match index
 * lookup on the hash is all `verify` needs.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ValidationError } from '../lib/errors.ts';
import { NotFoundError } from './errors.ts';
import { batchedLookup } from './group-commit.ts';
import { iso, isoOrNull, requireText } from './rows.ts';
import type { Sql } from './sql.ts';
import { ROLES, type Role, type TokenInfo, type TokenRepository } from './types.ts';

export const TOKEN_PREFIX = 'sst_';
const TOKEN_BYTES = 32;
/** A bootstrap token (STEADYSTATE_ADMIN_TOKEN) shorter than this is refused: it would be guessable. */
export const MIN_BOOTSTRAP_TOKEN_LENGTH = 32;
/** Longer bearer values are not ours; refuse them before hashing. */
const MAX_TOKEN_LENGTH = 512;

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

interface TokenRow {
  id: string;
  name: string;
  role: Role;
  created_at: Date;
  revoked_at: Date | null;
}

const TOKEN_COLUMNS = 'id, name, role, created_at, revoked_at';

function toInfo(row: TokenRow): TokenInfo {
  return { id: row.id, name: row.name, role: row.role, createdAt: iso(row.created_at), revokedAt: isoOrNull(row.revoked_at) };
}

function checkRole(role: Role): void {
  if (!ROLES.includes(role)) throw new ValidationError([{ path: 'role', message: `must be one of ${ROLES.join(', ')}` }]);
}

export function createTokenRepository(sql: Sql): TokenRepository {
  // Every API request verifies its token: a burst of requests shares one query.
  const byHash = batchedLookup(async (hashes: string[]) => {
    const rows = await sql.query<TokenRow & { token_sha256: string }>(
      `SELECT ${TOKEN_COLUMNS}, token_sha256 FROM api_tokens WHERE token_sha256 = ANY($1::text[]) AND revoked_at IS NULL`,
      [hashes],
    );
    return new Map(rows.map((r) => [r.token_sha256, r]));
  });
  return {
    async create({ name, role }) {
      requireText(name, 'name', 128);
      checkRole(role);
      const token = TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
      const [row] = await sql.query<TokenRow>(
        `INSERT INTO api_tokens (id, name, role, token_sha256) VALUES ($1, $2, $3, $4) RETURNING ${TOKEN_COLUMNS}`,
        [randomUUID(), name, role, hashToken(token)],
      );
      return { ...toInfo(row!), token };
    },

    async verify(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) return undefined;
      const row = await byHash(hashToken(token));
      return row ? { id: row.id, name: row.name, role: row.role } : undefined;
    },

    async list() {
      const rows = await sql.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id`);
      return rows.map(toInfo);
    },

    async revoke(id) {
      const [row] = await sql.query<TokenRow>(
        `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING ${TOKEN_COLUMNS}`,
        [id],
      );
      if (!row) throw new NotFoundError('token', id);
      return toInfo(row);
    },

    async ensureBootstrap(token, name, role) {
      if (typeof token !== 'string' || token.length < MIN_BOOTSTRAP_TOKEN_LENGTH || token.length > MAX_TOKEN_LENGTH) {
        throw new ValidationError([
          { path: 'STEADYSTATE_ADMIN_TOKEN', message: `must be ${MIN_BOOTSTRAP_TOKEN_LENGTH} to ${MAX_TOKEN_LENGTH} characters (e.g. openssl rand -base64 32)` },
        ]);
      }
      requireText(name, 'name', 128);
      checkRole(role);
      const hash = hashToken(token);
      // ON CONFLICT: replicas starting together all succeed, and only one row exists.
      const inserted = await sql.query<TokenRow>(
        `INSERT INTO api_tokens (id, name, role, token_sha256) VALUES ($1, $2, $3, $4)
         ON CONFLICT (token_sha256) DO NOTHING RETURNING ${TOKEN_COLUMNS}`,
        [randomUUID(), name, role, hash],
      );
      if (inserted[0]) return { ...toInfo(inserted[0]), created: true };
      const [row] = await sql.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE token_sha256 = $1`, [hash]);
      return { ...toInfo(row!), created: false };
    },
  };
}
