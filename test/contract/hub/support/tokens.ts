// Provider credentials and session tokens (spec 2): an Ed25519 (or ES256) key whose public half the
// hub holds as the provider's JWKS, and JWTs minted with it, with every claim overridable so that
// the error paths (expired, too long, wrong aud/iss/sub, replayed jti, wrong key) can be produced.
import { SignJWT, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { randomUUID } from 'node:crypto';

export interface ProviderCreds {
  id: string;
  name: string;
  alg: 'EdDSA' | 'ES256' | 'Ed25519';
  kid: string;
  privateKey: CryptoKey;
  /** The public JWK as enrolled (embedded mode or enrolled through the control API). */
  publicJwk?: JWK;
  /** Set when this suite receives the provider's pushes (spec 9). */
  pushSecret?: string;
}

export async function generateProvider(id: string, name: string): Promise<ProviderCreds> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const kid = `${id}-${randomUUID().slice(0, 8)}`;
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  return { id, name, alg: 'EdDSA', kid, privateKey, publicJwk };
}

/** A provider from a private JWK (HIP_PROVIDER_JWK), for running against an external hub. */
export async function importProvider(id: string, jwkJson: string): Promise<ProviderCreds> {
  const jwk = JSON.parse(jwkJson) as JWK;
  const alg = jwk.kty === 'EC' ? 'ES256' : 'EdDSA';
  const key = await importJWK(jwk, jwk.alg ?? alg);
  if (key instanceof Uint8Array) throw new Error('HIP_PROVIDER_JWK must be an asymmetric private key');
  return { id, name: id, alg, kid: jwk.kid ?? '', privateKey: key };
}

export interface TokenOverrides {
  iss?: string;
  sub?: string;
  aud?: string;
  iat?: number;
  exp?: number;
  jti?: string;
  /** Sign with another key (bad signature). */
  key?: CryptoKey;
  kid?: string;
  alg?: string;
  /** Leave a claim out. */
  omit?: Array<'iss' | 'sub' | 'aud' | 'iat' | 'exp' | 'jti'>;
}

/** A session token for `user` as provider `p` would mint it for hub `hubId`. */
export async function mintToken(p: ProviderCreds, user: string, hubId: string, o: TokenOverrides = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, string | number> = {
    iss: o.iss ?? p.id,
    sub: o.sub ?? user,
    aud: o.aud ?? hubId,
    iat: o.iat ?? now,
    exp: o.exp ?? (o.iat ?? now) + 120,
    jti: o.jti ?? randomUUID(),
  };
  for (const k of o.omit ?? []) delete claims[k];
  const header: { alg: string; kid?: string } = { alg: o.alg ?? p.alg };
  const kid = o.kid ?? p.kid;
  if (kid !== '') header.kid = kid;
  return new SignJWT(claims).setProtectedHeader(header).sign(o.key ?? p.privateKey);
}
