// Provider keys and session tokens of the reference client, checked with jose's own verifier
// against a JWKS holding only the public key (as the hub does, spec 2).
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { generateProviderKey, mintSessionToken } from '../../src/mock-hub/reference-client/token.ts';

describe('generateProviderKey / mintSessionToken', () => {
  it('mints an EdDSA token with the HIP/1 claims that verifies against the public JWKS', async () => {
    const key = await generateProviderKey('kid-1');
    expect(key.kid).toBe('kid-1');
    expect(key.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: 'kid-1' });
    expect(key.publicJwk.d).toBeUndefined();
    expect(key.privateJwk.d).toBeTypeOf('string');

    const token = await mintSessionToken({ providerId: 'birdy', hubId: 'hub', user: 'alice@birdy.interop', privateJwk: key.privateJwk });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid: 'kid-1' });
    const jwks = createLocalJWKSet({ keys: [key.publicJwk] });
    const { payload } = await jwtVerify(token, jwks, { issuer: 'birdy', audience: 'hub', subject: 'alice@birdy.interop' });
    expect(typeof payload.jti).toBe('string');
    expect(payload.exp! - payload.iat!).toBe(120);
    expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(5);
  });

  it('gives a unique jti per token and honours explicit claims and the Ed25519 alg name', async () => {
    const key = await generateProviderKey();
    const jwks = createLocalJWKSet({ keys: [key.publicJwk] });
    const base = { providerId: 'birdy', hubId: 'hub', user: 'bob@birdy.interop', privateJwk: key.privateJwk };
    const a = await jwtVerify(await mintSessionToken(base), jwks);
    const b = await jwtVerify(await mintSessionToken(base), jwks);
    expect(a.payload.jti).not.toBe(b.payload.jti);

    const now = Math.floor(Date.now() / 1000);
    const token = await mintSessionToken({ ...base, alg: 'Ed25519', jti: 'fixed-jti', iat: now - 10, exp: now + 290 });
    expect(decodeProtectedHeader(token).alg).toBe('Ed25519');
    const c = await jwtVerify(token, jwks);
    expect(c.payload).toMatchObject({ jti: 'fixed-jti', iat: now - 10, exp: now + 290 });

    const expired = await mintSessionToken({ ...base, iat: now - 600, exp: now - 300 });
    await expect(jwtVerify(expired, jwks)).rejects.toThrow();
    const other = await generateProviderKey();
    await expect(jwtVerify(await mintSessionToken({ ...base, privateJwk: other.privateJwk }), jwks)).rejects.toThrow();
  });
});
