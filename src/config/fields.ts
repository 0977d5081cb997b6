// Field schemas shared by the config sections: URLs with a fixed set of schemes, the provider's
// token-signing key (spec 2: Ed25519 or ES256), and key-encryption keys (32 bytes, base64).
// Validation messages never include a secret's value or a parser's message quoting it.
import { createPrivateKey, createPublicKey, createHash, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { secretSchema, type Secret } from './secret.ts';

/** A URL whose scheme is one of `schemes` (e.g. ['ws', 'wss']). */
export function urlWith(schemes: readonly string[], example: string) {
  const expected = `expected a ${schemes.map((s) => `${s}://`).join(' or ')} URL such as ${example}`;
  return z.string().superRefine((s, ctx) => {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: expected });
      return;
    }
    // redis: URLs parse without a host ("redis://", "redis:6379"), and ioredis then quietly uses
    // localhost: a URL here must name its host.
    if (!schemes.includes(url.protocol.slice(0, -1)) || url.hostname === '') ctx.addIssue({ code: 'custom', message: expected });
  });
}

export const port = z.number().int().min(0).max(65535);
export const positiveInt = z.number().int().positive();

/** The longest delay a Node.js timer takes: a longer one fires after 1 ms (with only a warning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const timerMessage = `must be <= ${MAX_TIMER_MS} (about 24.8 days: the longest delay a Node.js timer can wait)`;

/** A delay in milliseconds that ends up in a timer: at most MAX_TIMER_MS. */
export const durationMs = z.number().int().min(0).max(MAX_TIMER_MS, timerMessage);
export const positiveDurationMs = positiveInt.max(MAX_TIMER_MS, timerMessage);

// ── Token-signing key (spec 2) ──────────────────────────────────────────────────────────────

export type SigningAlg = 'EdDSA' | 'ES256';

export interface SigningKeyInfo {
  alg: SigningAlg;
  /** The public half as a JWK (no `kid`). */
  publicJwk: Record<string, unknown>;
  /** RFC 7638 JWK thumbprint of the public key (base64url SHA-256): the default `kid`. */
  thumbprint: string;
}

/** Strict RFC 4648 base64, with padding. */
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Reads a private key given as a JWK (JSON text), a PEM PKCS#8 `PRIVATE KEY`, or PKCS#8 DER in
 * base64 (one line with no character a shell or an env file treats specially); returns what it is,
 * or a message saying why it is not usable (never quoting the key).
 */
export function inspectSigningKey(text: string): SigningKeyInfo | string {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith('{')) {
      key = createPrivateKey({ key: JSON.parse(trimmed) as Record<string, string>, format: 'jwk' });
    } else if (trimmed.startsWith('-----BEGIN PRIVATE KEY-----')) {
      key = createPrivateKey({ key: trimmed, format: 'pem' });
    } else if (STRICT_BASE64.test(trimmed) && trimmed.length > 0) {
      key = createPrivateKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'pkcs8' });
    } else {
      return 'expected a private JWK (JSON), a PEM PKCS#8 private key ("-----BEGIN PRIVATE KEY-----") or PKCS#8 DER in base64 (what causeway keygen prints)';
    }
  } catch {
    return 'cannot read the private key (bad JSON, bad PEM, bad DER, or not a private key)';
  }
  const details = key.asymmetricKeyDetails;
  let alg: SigningAlg;
  if (key.asymmetricKeyType === 'ed25519') alg = 'EdDSA';
  else if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') alg = 'ES256';
  else return `unsupported key type (${key.asymmetricKeyType ?? 'unknown'}); HIP/1 tokens are signed with Ed25519 or ES256 (P-256)`;
  const jwk = createPublicKey(key).export({ format: 'jwk' }) as Record<string, string>;
  return { alg, publicJwk: jwk, thumbprint: jwkThumbprint(jwk) };
}

/** RFC 7638: SHA-256 over the required members in lexicographic order, base64url. */
export function jwkThumbprint(jwk: Record<string, string>): string {
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

export const signingKeySchema = secretSchema.superRefine((secret: Secret, ctx) => {
  const info = inspectSigningKey(secret.reveal());
  if (typeof info === 'string') ctx.addIssue({ code: 'custom', message: info });
});

// ── Key-encryption keys (store) ─────────────────────────────────────────────────────────────


/** Decodes strict RFC 4648 base64 (with padding); undefined when it is not. */
export function decodeBase64(s: string): Buffer | undefined {
  return STRICT_BASE64.test(s) ? Buffer.from(s, 'base64') : undefined;
}

/** A secret holding base64 of exactly 32 bytes (AES-256 key). */
export const kekSecretSchema = secretSchema.superRefine((secret: Secret, ctx) => {
  const bytes = decodeBase64(secret.reveal().trim());
  if (bytes === undefined) ctx.addIssue({ code: 'custom', message: 'expected base64 (RFC 4648, with padding) of 32 random bytes' });
  else if (bytes.length !== 32) ctx.addIssue({ code: 'custom', message: `expected base64 of 32 bytes, got ${bytes.length} bytes` });
});
