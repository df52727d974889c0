/**
 * Webhook authentication primitives, against GitHub's documented test vector.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearerMatches, hmacSha256Hex, secretEquals, verifySha256Signature } from '../../src/triggers/signature.ts';

// docs.github.com, "Validating webhook deliveries": testing the webhook payload validation.
const VECTOR = {
  secret: "It's a Secret to Everybody",
  body: 'Hello, World!',
  signature: 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
};

describe('HMAC-SHA256 signatures', () => {
  it('reproduces GitHub\'s documented test vector', () => {
    assert.equal(`sha256=${hmacSha256Hex(VECTOR.secret, VECTOR.body)}`, VECTOR.signature);
    assert.equal(verifySha256Signature(VECTOR.signature, VECTOR.secret, Buffer.from(VECTOR.body)), true);
    // Upper-case hex is the same digest.
    assert.equal(verifySha256Signature(VECTOR.signature.toUpperCase().replace('SHA256=', 'sha256='), VECTOR.secret, VECTOR.body), true);
  });

  it('refuses a wrong secret, a changed byte, a missing prefix, a truncated or non-hex digest', () => {
    assert.equal(verifySha256Signature(VECTOR.signature, 'It\'s a Secret to Everybody!', VECTOR.body), false);
    assert.equal(verifySha256Signature(VECTOR.signature, VECTOR.secret, 'Hello, World?'), false);
    assert.equal(verifySha256Signature(VECTOR.signature, VECTOR.secret, 'Hello, World! '), false);
    assert.equal(verifySha256Signature(VECTOR.signature.slice('sha256='.length), VECTOR.secret, VECTOR.body), false);
    assert.equal(verifySha256Signature(VECTOR.signature.replace('sha256=', 'sha1='), VECTOR.secret, VECTOR.body), false);
    assert.equal(verifySha256Signature(VECTOR.signature.slice(0, -2), VECTOR.secret, VECTOR.body), false);
    assert.equal(verifySha256Signature(`${VECTOR.signature.slice(0, -1)}g`, VECTOR.secret, VECTOR.body), false);
    assert.equal(verifySha256Signature('', VECTOR.secret, VECTOR.body), false);
  });

  it('signs over the raw bytes: re-serialised JSON with other whitespace does not verify', () => {
    const raw = '{"a": 1,\n "b": [1, 2]}';
    const sig = `sha256=${hmacSha256Hex(VECTOR.secret, raw)}`;
    assert.equal(verifySha256Signature(sig, VECTOR.secret, Buffer.from(raw)), true);
    assert.equal(verifySha256Signature(sig, VECTOR.secret, JSON.stringify(JSON.parse(raw))), false);
  });

  it('signs over several parts as one stream (timestamp "." body)', () => {
    const sig = `sha256=${hmacSha256Hex('k', '1700000000.{"x":1}')}`;
    assert.equal(verifySha256Signature(sig, 'k', '1700000000.', Buffer.from('{"x":1}')), true);
  });
});

describe('shared secrets', () => {
  it('compares equal secrets, refuses different ones of any length', () => {
    assert.equal(secretEquals('abc', 'abc'), true);
    assert.equal(secretEquals('abd', 'abc'), false);
    assert.equal(secretEquals('abcd', 'abc'), false);
    assert.equal(secretEquals('', 'abc'), false);
  });

  it('reads Authorization: Bearer <secret> only', () => {
    assert.equal(bearerMatches('Bearer s3cret-value', 's3cret-value'), true);
    assert.equal(bearerMatches('bearer s3cret-value', 's3cret-value'), true);
    assert.equal(bearerMatches('Basic s3cret-value', 's3cret-value'), false);
    assert.equal(bearerMatches('Bearer s3cret-valu', 's3cret-value'), false);
    assert.equal(bearerMatches(undefined, 's3cret-value'), false);
    assert.equal(bearerMatches('Bearer', ''), false);
  });
});
