// HIP/1 conformance, spec 2 (session authentication): token algorithms and key sources (static
// JWKS, jwks_url), every token error (failure not-authorized + 4401), unknown and delisted
// providers (4403).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { freshId, freshLocal, nowSeconds } from './support/names.ts';
import { openRaw } from './support/provider-user.ts';
import { birdyUser, expectFailure } from './support/sessions.ts';
import { useHub } from './support/suite.ts';
import { generateProvider, mintToken } from './support/tokens.ts';

describe('spec 2: session authentication', () => {
  const hub = useHub();

  describe('token algorithms and key sources', () => {
    it('accepts the newer JWS alg name "Ed25519" for an Ed25519 key', async () => {
      const t = hub();
      const r = await openRaw(t, birdyUser(), t.birdy, { alg: 'Ed25519' });
      expect(r.first.kind).toBe('opened');
      await r.conn.end();
    });

    it('accepts ES256 tokens from a provider enrolled with a P-256 key', async () => {
      const t = hub();
      const id = `es-${freshId().toLowerCase().replace(/[^a-z0-9]/g, '').slice(-10)}`;
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const kid = `${id}-k1`;
      await t.control.enrolProvider({ id, name: 'P-256 Chat', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] } });
      try {
        const r = await openRaw(t, `${freshLocal()}@${id}.interop`, { id, name: 'P-256 Chat', alg: 'ES256', kid, privateKey });
        expect(r.first.kind).toBe('opened');
        await r.conn.end();
      } finally {
        await t.control.delistProvider(id);
      }
    });

    it('verifies against a JWKS fetched from the provider\'s jwks_url', async () => {
      const t = hub();
      const id = `url-${freshId().toLowerCase().replace(/[^a-z0-9]/g, '').slice(-10)}`;
      const p = await generateProvider(id, 'Remote Keys');
      const server = createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [p.publicJwk] }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      try {
        await t.control.enrolProvider({ id, name: p.name, jwks_url: `http://127.0.0.1:${port}/jwks.json` });
        const ok = await openRaw(t, `${freshLocal()}@${id}.interop`, p);
        expect(ok.first.kind).toBe('opened');
        await ok.conn.end();
        const stranger = await generateProvider(id, 'impostor');
        await expectFailure(await openRaw(t, `${freshLocal()}@${id}.interop`, p, { key: stranger.privateKey }), 'not-authorized', 4401);
      } finally {
        await t.control.call('DELETE', `/control/providers/${id}`);
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  });

  describe('token errors → failure not-authorized, close 4401', () => {
    it('bad signature (signed with a key the provider did not register)', async () => {
      const t = hub();
      const stranger = await generateProvider('birdy', 'impostor');
      await expectFailure(await openRaw(t, birdyUser(), t.birdy, { key: stranger.privateKey, kid: t.birdy.kid }), 'not-authorized', 4401);
    });

    it('expired token', async () => {
      const t = hub();
      const now = nowSeconds();
      await expectFailure(await openRaw(t, birdyUser(), t.birdy, { iat: now - 400, exp: now - 120 }), 'not-authorized', 4401);
    });

    it('exp more than 300 s after iat', async () => {
      const t = hub();
      const iat = nowSeconds();
      await expectFailure(await openRaw(t, birdyUser(), t.birdy, { iat, exp: iat + 301 }), 'not-authorized', 4401);
    });

    it('wrong aud', async () => {
      const t = hub();
      await expectFailure(await openRaw(t, birdyUser(), t.birdy, { aud: `${t.hubId}-other` }), 'not-authorized', 4401);
    });

    it('iss is not the provider of the user (signed by that other provider)', async () => {
      const t = hub();
      // haiket's own key and iss, for a birdy user.
      await expectFailure(await openRaw(t, birdyUser(), t.haiket), 'not-authorized', 4401);
    });

    it('iss is not the provider of the user (signed by the user\'s provider)', async () => {
      const t = hub();
      await expectFailure(await openRaw(t, birdyUser(), t.birdy, { iss: t.haiket.id }), 'not-authorized', 4401);
    });

    it('sub is not the user of <open>', async () => {
      const t = hub();
      await expectFailure(await openRaw(t, birdyUser(), t.birdy, { sub: birdyUser() }), 'not-authorized', 4401);
    });

    it('token without jti', async () => {
      const t = hub();
      await expectFailure(await openRaw(t, birdyUser(), t.birdy, { omit: ['jti'] }), 'not-authorized', 4401);
    });

    it('replayed token (same jti) after a successful open', async () => {
      const t = hub();
      const user = birdyUser();
      const token = await mintToken(t.birdy, user, t.hubId);
      const first = await openRaw(t, user, t.birdy, token);
      expect(first.first.kind).toBe('opened');
      await first.conn.end();
      await expectFailure(await openRaw(t, user, t.birdy, token), 'not-authorized', 4401);
    });

    it('a new token reusing a jti within its lifetime', async () => {
      const t = hub();
      const user = birdyUser();
      const jti = `jti-${freshId()}`;
      const first = await openRaw(t, user, t.birdy, { jti });
      expect(first.first.kind).toBe('opened');
      await first.conn.end();
      await expectFailure(await openRaw(t, user, t.birdy, { jti, iat: nowSeconds() - 1 }), 'not-authorized', 4401);
    });
  });

  describe('providers → failure, close 4403', () => {
    it('unknown provider', async () => {
      const t = hub();
      const ghost = await generateProvider('nosuchprovider', 'Ghost');
      await expectFailure(await openRaw(t, `${freshLocal()}@nosuchprovider.interop`, ghost), 'unknown-provider', 4403);
    });

    it('a provider the hub delisted: open sessions get failure delisted + 4403, new opens are refused the same way', async () => {
      const t = hub();
      const gone = await generateProvider(`gone-${freshId().toLowerCase().replace(/[^a-z0-9]/g, '').slice(-10)}`, 'Gone');
      await t.control.enrolProvider({ id: gone.id, name: gone.name, jwks: { keys: [{ ...gone.publicJwk }] } });
      const user = `${freshLocal()}@${gone.id}.interop`;
      const live = await openRaw(t, user, gone);
      expect(live.first.kind).toBe('opened');
      await t.control.delistProvider(gone.id);
      const failure = await live.conn.next((s) => s.kind === 'failure', 3000, 'failure delisted');
      expect(failure).toEqual({ kind: 'failure', reason: 'delisted' });
      expect((await live.conn.closedWithin(3000)).code).toBe(4403);
      await expectFailure(await openRaw(t, user, gone), 'delisted', 4403);
    });
  });

});
