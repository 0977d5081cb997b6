// Session token verification (spec 2): a JWS-signed JWT from the provider, alg EdDSA / Ed25519
// (Ed25519 keys) or ES256, verified against the provider's JWKS (static, or fetched from jwks_url
// and refetched on an unknown key). Claims: iss = the provider id (= the provider of `user`),
// sub = user, aud = the hub id, iat, exp with exp - iat ≤ 300 s, and a jti not seen before within
// the token's lifetime (replay cache). Every failure is one answer (`not-authorized`); the reason
// is only for logs and never contains the token.
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import type { Provider } from './directory.ts';

export type AuthResult = { ok: true; jti: string; exp: number } | { ok: false; why: string };

const ALGORITHMS = ['EdDSA', 'Ed25519', 'ES256'];
/** Spec 2: exp at most 300 s after iat. */
const MAX_LIFETIME_S = 300;
/** Accepted clock skew for an `iat` in the future. */
const IAT_SKEW_S = 60;
/** A remote JWKS is refetched on an unknown key at most this often. */
const REFETCH_COOLDOWN_MS = 1000;
const REMOTE_TTL_MS = 10 * 60_000;

interface RemoteCache {
  url: string;
  fetchedAt: number;
  set: JWTVerifyGetKey | undefined;
}

export class Authenticator {
  readonly #hubId: string;
  readonly #now: () => number;
  /** `${iss}|${jti}` → exp (seconds). */
  readonly #seen = new Map<string, number>();
  readonly #local = new Map<string, { jwks: unknown; set: JWTVerifyGetKey }>();
  readonly #remote = new Map<string, RemoteCache>();
  readonly #abort = new AbortController();

  constructor(hubId: string, now: () => number = Date.now) {
    this.#hubId = hubId;
    this.#now = now;
  }

  async verify(user: string, provider: Provider, token: string): Promise<AuthResult> {
    const nowS = Math.floor(this.#now() / 1000);
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.#keys(provider), {
        algorithms: ALGORITHMS,
        issuer: provider.id,
        audience: this.#hubId,
        subject: user,
        requiredClaims: ['iat', 'exp', 'jti'],
        currentDate: new Date(nowS * 1000),
      }));
    } catch (err) {
      return { ok: false, why: err instanceof Error ? `${err.name}: ${err.message}` : 'invalid token' };
    }
    const { iat, exp, jti } = payload;
    if (typeof iat !== 'number' || typeof exp !== 'number' || typeof jti !== 'string' || jti === '') return { ok: false, why: 'bad iat/exp/jti' };
    if (exp - iat > MAX_LIFETIME_S) return { ok: false, why: 'exp more than 300 s after iat' };
    if (iat > nowS + IAT_SKEW_S) return { ok: false, why: 'iat in the future' };
    this.#sweep(nowS);
    const key = `${provider.id}|${jti}`;
    if (this.#seen.has(key)) return { ok: false, why: 'jti replayed' };
    this.#seen.set(key, exp);
    return { ok: true, jti, exp };
  }

  close(): void {
    this.#abort.abort();
  }

  #keys(provider: Provider): JWTVerifyGetKey {
    if (provider.jwks !== undefined) {
      const cached = this.#local.get(provider.id);
      if (cached !== undefined && cached.jwks === provider.jwks) return cached.set;
      const set = createLocalJWKSet(normalize(provider.jwks));
      this.#local.set(provider.id, { jwks: provider.jwks, set });
      return set;
    }
    const url = provider.jwksUrl;
    if (url === undefined) return () => Promise.reject(new Error('provider has no JWKS'));
    return async (header, token) => {
      let c = this.#remote.get(provider.id);
      if (c === undefined || c.url !== url || this.#now() - c.fetchedAt > REMOTE_TTL_MS) c = await this.#fetch(provider.id, url);
      try {
        if (c.set === undefined) throw new Error('no JWKS');
        return await c.set(header, token);
      } catch (err) {
        // unknown kid (key rotation): refetch once, rate-limited
        if (this.#now() - c.fetchedAt < REFETCH_COOLDOWN_MS) throw err;
        const fresh = await this.#fetch(provider.id, url);
        if (fresh.set === undefined) throw err;
        return fresh.set(header, token);
      }
    };
  }

  async #fetch(providerId: string, url: string): Promise<RemoteCache> {
    const c: RemoteCache = { url, fetchedAt: this.#now(), set: undefined };
    try {
      const res = await fetch(url, { signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(5000)]) });
      if (res.ok) c.set = createLocalJWKSet(normalize((await res.json()) as JSONWebKeySet));
      else await res.body?.cancel();
    } catch {
      c.set = undefined;
    }
    this.#remote.set(providerId, c);
    return c;
  }

  #sweep(nowS: number): void {
    for (const [k, exp] of this.#seen) if (exp < nowS) this.#seen.delete(k);
  }
}

/**
 * Ed25519 keys may be labelled `EdDSA` or `Ed25519` (spec 2: hubs accept both names), so the `alg`
 * of such keys is dropped and either token `alg` selects them.
 */
function normalize(jwks: { keys: Array<Record<string, unknown>> } | JSONWebKeySet): JSONWebKeySet {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys)) throw new Error('JWKS malformed');
  return {
    keys: jwks.keys.map((k) => {
      const { alg, ...rest } = k as Record<string, unknown>;
      return (alg === 'EdDSA' || alg === 'Ed25519' ? rest : k) as JSONWebKeySet['keys'][number];
    }),
  };
}
