import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccount, replenishPreKeys, rotateSignedPreKeys, type UploadQuery } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { PeerLock } from '../../src/crypto/peer-lock.ts';
import { RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { SignalEdge } from '../../src/crypto/signal-edge.ts';
import type { KeyBundle } from '../../src/protocol/types.ts';
import { testRedis } from '../support/redis.ts';

const { redis, prefix, cleanup } = testRedis();
afterAll(cleanup);
const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
const edge = new SignalEdge(new PeerLock(prefix));
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A bundle as the hub would hand it out from an upload: one one-time key of each kind. */
function bundleFrom(up: UploadQuery, take = 0): KeyBundle {
  const key = up.preKeys?.[take];
  return {
    registration: up.registration as number,
    identity: up.identity as Uint8Array,
    skey: up.skey as KeyBundle['skey'],
    kyber: up.kyberPreKeys?.[take] ?? (up.kyber as KeyBundle['kyber']),
    ...(key ? { key } : {}),
  };
}

async function party(name: string, n = 5) {
  const store = new RedisSignalStore(redis, ring, prefix, name);
  const upload = await createAccount(store, { preKeys: n, kyberPreKeys: n });
  return { store, upload, address: `${name}:1@birdy.interop` };
}

describe('Signal edge on Redis', () => {
  it('runs PQXDH from a bundle and exchanges messages both ways, records sealed at rest', async () => {
    const alice = await party('alice');
    const bob = await party('bob');
    expect(await alice.store.preKeys.count()).toBe(5);
    expect(await alice.store.kyberPreKeys.count()).toBe(5);

    await edge.startSession(alice.store, alice.address, bob.address, bundleFrom(bob.upload));
    const first = await edge.encrypt(alice.store, alice.address, bob.address, enc.encode('hello bob'));
    expect(first.type).toBe('pkmsg');
    expect(dec.decode(await edge.decrypt(bob.store, bob.address, alice.address, first))).toBe('hello bob');
    // the one-time EC and Kyber prekeys were consumed
    expect(await bob.store.preKeys.count()).toBe(4);
    expect(await bob.store.kyberPreKeys.count()).toBe(4);

    const reply = await edge.encrypt(bob.store, bob.address, alice.address, enc.encode('hi alice'));
    expect(reply.type).toBe('msg');
    expect(dec.decode(await edge.decrypt(alice.store, alice.address, bob.address, reply))).toBe('hi alice');
    for (let i = 0; i < 20; i++) {
      const m = await edge.encrypt(alice.store, alice.address, bob.address, enc.encode(`m${i}`));
      expect(m.type).toBe('msg');
      expect(dec.decode(await edge.decrypt(bob.store, bob.address, alice.address, m))).toBe(`m${i}`);
    }

    // nothing in Redis holds a key or a session in the clear
    for (const key of alice.store.redisKeys()) {
      const values = await redis.hgetallBuffer(key);
      for (const v of Object.values(values)) expect(ring.keyIdOf(v)).toBe('k1');
    }
  });

  it('serializes concurrent encrypts to one peer so every message decrypts', async () => {
    const alice = await party('carol');
    const bob = await party('dave');
    await edge.startSession(alice.store, alice.address, bob.address, bundleFrom(bob.upload));
    const sent = await Promise.all(Array.from({ length: 30 }, (_, i) => edge.encrypt(alice.store, alice.address, bob.address, enc.encode(`c${i}`))));
    const got = [];
    for (const m of sent) got.push(dec.decode(await edge.decrypt(bob.store, bob.address, alice.address, m)));
    expect(got).toEqual(Array.from({ length: 30 }, (_, i) => `c${i}`));
  });

  it('refuses a changed identity until trusted (trust on first use)', async () => {
    const alice = await party('erin');
    const bob = await party('frank');
    await edge.startSession(alice.store, alice.address, bob.address, bundleFrom(bob.upload));
    const reset = await party('frank'); // same name: a new identity for the same address
    await expect(edge.startSession(alice.store, alice.address, bob.address, bundleFrom(reset.upload, 1))).rejects.toThrow(/untrusted|identity/i);
  });

  it('replenishes and rotates prekeys with fresh ids', async () => {
    const g = await party('gina', 2);
    const more = await replenishPreKeys(g.store, 3, 3);
    expect(more.preKeys).toHaveLength(3);
    expect(more.identity).toBeUndefined();
    const ids = new Set([...(g.upload.preKeys ?? []), ...(more.preKeys ?? [])].map((k) => k.id));
    expect(ids.size).toBe(5);
    expect(await g.store.preKeys.count()).toBe(5);
    const rot = await rotateSignedPreKeys(g.store);
    expect(rot.skey?.id).not.toBe(g.upload.skey?.id);
    expect(rot.kyber?.id).not.toBe(g.upload.kyber?.id);
    // both last-resort Kyber keys stay, so the one-time count is unchanged
    expect(await g.store.kyberPreKeys.count()).toBe(5);
  });
});
