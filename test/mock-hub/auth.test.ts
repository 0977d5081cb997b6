import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/mock-hub/auth.ts';
import type { Provider } from '../../src/mock-hub/directory.ts';
import { nowS, providerKeys, token, birdy } from './helpers.ts';
import type { ProviderKeys } from './helpers.ts';

const A = 'alice@birdy.interop';

describe('session tokens (spec 2)', () => {
  let keys: ProviderKeys;
  let provider: Provider;
  beforeAll(async () => {
    keys = await providerKeys();
    provider = { ...birdy(keys), delisted: false };
  });

  it('accepts a good token once and refuses its replay', async () => {
    const auth = new Authenticator('hub');
    const t = await token(keys, { sub: A, jti: 'jti-1' });
    expect(await auth.verify(A, provider, t)).toMatchObject({ ok: true, jti: 'jti-1' });
    expect(await auth.verify(A, provider, t)).toMatchObject({ ok: false, why: 'jti replayed' });
    // another token with the same jti is a replay too
    expect(await auth.verify(A, provider, await token(keys, { sub: A, jti: 'jti-1' }))).toMatchObject({ ok: false });
  });

  it('refuses a wrong aud, iss, sub, an expired token and a lifetime over 300 s', async () => {
    const auth = new Authenticator('hub');
    const bad = [
      await token(keys, { sub: A, aud: 'other-hub' }),
      await token(keys, { sub: A, iss: 'haiket' }),
      await token(keys, { sub: 'carol@birdy.interop' }),
      await token(keys, { sub: A, iat: nowS() - 400, exp: nowS() - 100 }),
      await token(keys, { sub: A, iat: nowS(), exp: nowS() + 301 }),
      await token(keys, { sub: A, iat: nowS() + 600, exp: nowS() + 700 }),
      'not.a.jwt',
    ];
    for (const t of bad) expect((await auth.verify(A, provider, t)).ok).toBe(false);
    expect((await auth.verify(A, provider, await token(keys, { sub: A, iat: nowS(), exp: nowS() + 300 }))).ok).toBe(true);
  });

  it('refuses a token signed by a key that is not in the JWKS', async () => {
    const other = await providerKeys();
    const auth = new Authenticator('hub');
    expect((await auth.verify(A, provider, await token({ ...other, publicJwk: { ...other.publicJwk, kid: keys.publicJwk.kid } }, { sub: A }))).ok).toBe(false);
  });

  it('accepts the alg names EdDSA and Ed25519 for Ed25519 keys, and ES256', async () => {
    const auth = new Authenticator('hub');
    const labelled: Provider = { ...provider, jwks: { keys: [{ ...keys.publicJwk, alg: 'EdDSA' } as Record<string, unknown>] } };
    expect((await auth.verify(A, labelled, await token(keys, { sub: A, alg: 'Ed25519' }))).ok).toBe(true);
    expect((await auth.verify(A, labelled, await token(keys, { sub: A, alg: 'EdDSA' }))).ok).toBe(true);
    const es = await providerKeys('ES256');
    const p256: Provider = { ...provider, jwks: { keys: [es.publicJwk as Record<string, unknown>] } };
    expect((await auth.verify(A, p256, await token(es, { sub: A }))).ok).toBe(true);
  });

  describe('with a jwks_url', () => {
    let served: { keys: unknown[] } = { keys: [] };
    let fetches = 0;
    const server = createServer((_req, res) => {
      fetches += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(served));
    });
    let url = '';
    beforeAll(async () => {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    });
    afterAll(async () => {
      await new Promise<void>((r) => server.close(() => r()));
    });

    it('fetches the JWKS, caches it, and refetches on an unknown key (rotation)', async () => {
      const auth = new Authenticator('hub');
      const remote: Provider = { id: 'birdy', name: 'Birdy', jwksUrl: url, delisted: false };
      served = { keys: [keys.publicJwk] };
      expect((await auth.verify(A, remote, await token(keys, { sub: A }))).ok).toBe(true);
      expect((await auth.verify(A, remote, await token(keys, { sub: A }))).ok).toBe(true);
      expect(fetches).toBe(1);
      const rotated = await providerKeys();
      served = { keys: [keys.publicJwk, rotated.publicJwk] };
      await new Promise((r) => setTimeout(r, 1100));
      expect((await auth.verify(A, remote, await token(rotated, { sub: A }))).ok).toBe(true);
      expect(fetches).toBe(2);
      auth.close();
    });
  });
});
