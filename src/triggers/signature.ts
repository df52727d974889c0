/**
 * Webhook authentication primitives. Every comparison of something secret is
 * constant-time: `timingSafeEqual` over equal-length buffers, and for shared
 * secrets of unknown length over their SHA-256 digests (so neither the
 * content nor the length leaks through timing).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Hex HMAC-SHA256 of `parts` concatenated, with `secret` as the key. */
export function hmacSha256Hex(secret: string, ...parts: (string | Buffer)[]): string {
  const mac = createHmac('sha256', secret);
  for (const part of parts) mac.update(part);
  return mac.digest('hex');
}

export function sha256Hex(...parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

/**
 * Does a `sha256=<hex>` header carry the HMAC of `parts`? False for a missing
 * prefix, wrong length or non-hex, without a data-dependent early exit on the
 * digest itself.
 */
export function verifySha256Signature(header: string, secret: string, ...parts: (string | Buffer)[]): boolean {
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!m) return false;
  const expected = Buffer.from(hmacSha256Hex(secret, ...parts), 'hex');
  const given = Buffer.from(m[1]!.toLowerCase(), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Constant-time equality of a presented shared secret and the configured one. */
export function secretEquals(presented: string, secret: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(secret, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** `Authorization: Bearer <secret>` checked against `secret`. */
export function bearerMatches(authorization: string | undefined, secret: string): boolean {
  if (authorization === undefined) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  // Compare something even when the header is malformed: the timing says nothing either way.
  return secretEquals(m?.[1] ?? '', secret) && m !== null;
}
