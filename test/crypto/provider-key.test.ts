import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { ProviderKey, ProviderKeyError } from '../../src/hub/provider-key.ts';

describe('ProviderKey', () => {
  it('mints tokens the published JWKS verifies (Ed25519 JWK and P-256 PEM)', async () => {
    const ed = generateKeyPairSync('ed25519');
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keys = [
      await ProviderKey.load(JSON.stringify(ed.privateKey.export({ format: 'jwk' })), 'ed-1'),
      await ProviderKey.load(p256.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string),
    ];
    for (const key of keys) {
      const token = await key.mint({ providerId: 'birdy', hubId: 'hub', user: 'alice@birdy.interop', ttlS: 120 });
      const jwks = key.jwks();
      expect(JSON.stringify(jwks)).not.toContain('"d"');
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: 'birdy', audience: 'hub' });
      expect(payload.sub).toBe('alice@birdy.interop');
      expect((payload.exp as number) - (payload.iat as number)).toBe(120);
      expect(typeof payload.jti).toBe('string');
      expect(protectedHeader.kid).toBe(key.kid);
    }
  });

  it('rejects unusable keys and lifetimes over 300 s', async () => {
    await expect(ProviderKey.load('not a key')).rejects.toThrow(ProviderKeyError);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    await expect(ProviderKey.load(rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)).rejects.toThrow(/Ed25519 or P-256/);
    const ed = generateKeyPairSync('ed25519');
    const key = await ProviderKey.load(ed.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    expect(() => key.mint({ providerId: 'birdy', hubId: 'hub', user: 'a@birdy.interop', ttlS: 301 })).toThrow(/300/);
  });
});
