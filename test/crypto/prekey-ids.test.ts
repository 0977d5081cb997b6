// Prekey ids are allocated once, also when two top-ups of one user run at the same time (the hub's
// `encrypt` notification while the session-open maintenance tops up, or two replicas): otherwise
// the second top-up overwrites the private keys of the first under the same ids, and the first
// upload's public keys on the hub no longer match anything we hold.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccount, replenishPreKeys, rotateSignedPreKeys } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { testRedis } from '../support/redis.ts';

const { redis, prefix, cleanup } = testRedis();
afterAll(cleanup);
const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');

describe('prekey id allocation', () => {
  it('gives concurrent top-ups disjoint ids, each matching the private key kept for it', async () => {
    const store = new RedisSignalStore(redis, ring, prefix, 'carol@birdy.interop');
    await createAccount(store, { preKeys: 2, kyberPreKeys: 2 });
    // A second store object for the same user: what another worker or replica would use.
    const other = new RedisSignalStore(redis, ring, prefix, 'carol@birdy.interop');
    const [a, b] = await Promise.all([replenishPreKeys(store, 5, 5), replenishPreKeys(other, 5, 5)]);

    const ecIds = [...(a.preKeys ?? []), ...(b.preKeys ?? [])].map((k) => k.id);
    const kyberIds = [...(a.kyberPreKeys ?? []), ...(b.kyberPreKeys ?? [])].map((k) => k.id);
    expect(new Set(ecIds).size).toBe(10);
    expect(new Set(kyberIds).size).toBe(10);
    // Every uploaded public key is the one of the private key stored under its id.
    for (const k of [...(a.preKeys ?? []), ...(b.preKeys ?? [])]) {
      const rec = await store.preKeys.getPreKey(k.id);
      expect(Buffer.from(rec.publicKey().serialize()).equals(Buffer.from(k.value))).toBe(true);
    }
    for (const k of [...(a.kyberPreKeys ?? []), ...(b.kyberPreKeys ?? [])]) {
      const rec = await store.kyberPreKeys.getKyberPreKey(k.id);
      expect(Buffer.from(rec.publicKey().serialize()).equals(Buffer.from(k.value))).toBe(true);
    }
  });

  it('gives concurrent signed prekey rotations distinct ids', async () => {
    const store = new RedisSignalStore(redis, ring, prefix, 'dave@birdy.interop');
    await createAccount(store, { preKeys: 1, kyberPreKeys: 1 });
    const other = new RedisSignalStore(redis, ring, prefix, 'dave@birdy.interop');
    const [a, b] = await Promise.all([rotateSignedPreKeys(store), rotateSignedPreKeys(other)]);
    expect(a.skey?.id).not.toBe(b.skey?.id);
    expect(a.kyber?.id).not.toBe(b.kyber?.id);
    for (const up of [a, b]) {
      const spk = await store.signedPreKeys.getSignedPreKey(up.skey?.id as number);
      expect(Buffer.from(spk.publicKey().serialize()).equals(Buffer.from(up.skey?.value as Uint8Array))).toBe(true);
    }
  });
});
