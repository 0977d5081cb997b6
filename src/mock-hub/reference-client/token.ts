// Provider signing keys and HIP/1 session tokens (spec 2) for the reference client (tests, demos,
// providers' CI — not the sidecar). A token is a JWS-signed JWT: iss = provider id, sub = user
// address, aud = hub id, iat, exp (at most 300 s after iat), unique jti.
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { JWK } from 'jose';

export type { JWK };

export interface ProviderKey {
  privateJwk: JWK;
  /** Put this in the hub's JWKS (`{ keys: [publicJwk] }`). It carries no `alg`, so that tokens
   *  signed as `EdDSA` and as the newer name `Ed25519` both verify against it. */
  publicJwk: JWK;
  kid: string;
}

/** A fresh Ed25519 key pair as JWKs (token `alg` EdDSA). */
export async function generateProviderKey(kid: string = `k-${randomUUID().slice(0, 8)}`): Promise<ProviderKey> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, use: 'sig' };
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, use: 'sig' };
  return { privateJwk, publicJwk, kid };
}

export interface MintOptions {
  providerId: string;
  hubId: string;
  /** The provider user address, `alice@birdy.interop`. */
  user: string;
  privateJwk: JWK;
  /** Defaults to privateJwk.kid. */
  kid?: string;
  /** Lifetime when `exp` is not given; default 120 s (the hub accepts at most 300). */
  ttlS?: number;
  jti?: string;
  /** UNIX seconds; default now. */
  iat?: number;
  /** UNIX seconds; default iat + ttlS. */
  exp?: number;
  /** Default `EdDSA`; `Ed25519` for the newer name, `ES256` with a P-256 key. */
  alg?: string;
}

/** Signs a session token. Tests pass odd iat/exp/jti/alg values to provoke refusals. */
export async function mintSessionToken(o: MintOptions): Promise<string> {
  const alg = o.alg ?? 'EdDSA';
  const key = await importJWK(o.privateJwk, alg);
  const iat = o.iat ?? Math.floor(Date.now() / 1000);
  const exp = o.exp ?? iat + (o.ttlS ?? 120);
  const kid = o.kid ?? o.privateJwk.kid;
  return new SignJWT({})
    .setProtectedHeader({ alg, typ: 'JWT', ...(kid === undefined ? {} : { kid }) })
    .setIssuer(o.providerId)
    .setSubject(o.user)
    .setAudience(o.hubId)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(o.jti ?? randomUUID())
    .sign(key);
}
