// The provider's signing key for HIP/1 session tokens (spec 2): loaded from configuration (a
// private JWK as JSON, a PKCS#8 PEM, or PKCS#8 DER in base64), used to mint short-lived JWTs per provider user, and
// published as a JWKS (public half only) at /.well-known/jwks.json for the hub to verify.
import { createPrivateKey, createPublicKey, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, SignJWT, type JWK } from 'jose';

export class ProviderKeyError extends Error {
  override readonly name = 'ProviderKeyError';
}

export interface TokenClaims {
  providerId: string;
  hubId: string;
  /** The provider user's address, e.g. `alice@birdy.interop`. */
  user: string;
  /** Seconds; spec 2 caps exp - iat at 300. */
  ttlS: number;
}

export class ProviderKey {
  readonly alg: 'EdDSA' | 'ES256';
  readonly kid: string;
  readonly #private: KeyObject;
  readonly #publicJwk: JWK;

  private constructor(priv: KeyObject, alg: 'EdDSA' | 'ES256', kid: string, publicJwk: JWK) {
    this.#private = priv;
    this.alg = alg;
    this.kid = kid;
    this.#publicJwk = publicJwk;
  }

  /** From a private JWK (JSON text), a PKCS#8 PEM or PKCS#8 DER in base64 (causeway keygen); Ed25519 or P-256 only. */
  static async load(material: string, kid?: string): Promise<ProviderKey> {
    let priv: KeyObject;
    try {
      const text = material.trim();
      priv = text.startsWith('{')
        ? createPrivateKey({ key: JSON.parse(text) as JsonWebKey, format: 'jwk' })
        : text.startsWith('-----')
          ? createPrivateKey(text)
          : createPrivateKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'pkcs8' });
    } catch (err) {
      throw new ProviderKeyError(`signing key is neither a private JWK nor PKCS#8 (PEM, or DER in base64) (${(err as Error).message})`);
    }
    let alg: 'EdDSA' | 'ES256';
    if (priv.asymmetricKeyType === 'ed25519') alg = 'EdDSA';
    else if (priv.asymmetricKeyType === 'ec' && priv.asymmetricKeyDetails?.namedCurve === 'prime256v1') alg = 'ES256';
    else throw new ProviderKeyError(`signing key must be Ed25519 or P-256, got ${priv.asymmetricKeyType ?? 'unknown'}`);
    const pub = await exportJWK(createPublicKey(priv));
    const id = kid ?? (await calculateJwkThumbprint(pub));
    return new ProviderKey(priv, alg, id, { ...pub, kid: id, alg, use: 'sig' });
  }

  /** A session token for one provider user (spec 2). */
  mint(c: TokenClaims, now = Math.floor(Date.now() / 1000)): Promise<string> {
    if (c.ttlS <= 0 || c.ttlS > 300) throw new ProviderKeyError('token lifetime must be 1–300 s (spec 2)');
    return new SignJWT({})
      .setProtectedHeader({ alg: this.alg, kid: this.kid, typ: 'JWT' })
      .setIssuer(c.providerId)
      .setSubject(c.user)
      .setAudience(c.hubId)
      .setIssuedAt(now)
      .setExpirationTime(now + c.ttlS)
      .setJti(randomUUID())
      .sign(this.#private);
  }

  /** The JWKS to publish: the public key only. */
  jwks(): { keys: JWK[] } {
    return { keys: [{ ...this.#publicJwk }] };
  }
}
