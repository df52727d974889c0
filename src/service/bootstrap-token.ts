/**
 * The bootstrap admin token (STEADYSTATE_ADMIN_TOKEN). Stored hashed on
 * start; when the variable changes (a rotation), the bootstrap tokens stored
 * before it are revoked, so the old value stops working on the first start
 * with the new one. A value that was rotated out stays revoked: going back to
 * it locks nobody in, but does not revive it either (pick a new value).
 */
import type { Logger } from 'pino';
import type { TokenRepository } from '../store/types.ts';

export const BOOTSTRAP_TOKEN_NAME = 'bootstrap-admin';

export async function ensureBootstrapToken(tokens: TokenRepository, token: string, logger: Logger): Promise<void> {
  const boot = await tokens.ensureBootstrap(token, BOOTSTRAP_TOKEN_NAME, 'admin');
  if (boot.created) logger.info({ tokenId: boot.id }, 'bootstrap admin token stored (hashed)');
  // A revoked current value must not revoke a newer one: a replica started with the old
  // value during a rolling update would otherwise lock everyone out.
  if (boot.revokedAt !== null) {
    logger.warn({ tokenId: boot.id }, 'STEADYSTATE_ADMIN_TOKEN is a revoked (rotated-out) token: it does not work; set a new value');
    return;
  }
  const older = (await tokens.list()).filter((t) => t.name === BOOTSTRAP_TOKEN_NAME && t.id !== boot.id && t.revokedAt === null);
  for (const t of older) {
    await tokens.revoke(t.id);
    logger.info({ tokenId: t.id }, 'STEADYSTATE_ADMIN_TOKEN changed: the previous bootstrap token is revoked');
  }
}
