// A caller's guard and staged writes folded into the Signal unit of work (unit-writes.ts,
// SignalEdge.decryptWith) on a real Redis: the caller's record and the ratchet step are written
// by one COMMIT or not at all, a set guard is seen by ACQUIRE without decrypting, locking or
// writing, and it is read under the lock, so two replicas handling one redelivered message do
// not both try to decrypt it.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccount, type UploadQuery } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { PeerLock } from '../../src/crypto/peer-lock.ts';
import { RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { SignalEdge, type DecryptWith, type Encrypted } from '../../src/crypto/signal-edge.ts';
import { LockLostError } from '../../src/crypto/signal-unit.ts';
import type { KeyBundle } from '../../src/protocol/types.ts';
import { recordingRedis, testRedis } from '../support/redis.ts';

const { redis: plain, prefix, cleanup } = testRedis();
// The stores and the lock use a connection that records the commands it sends (one round trip each).
const { redis, sent } = recordingRedis();
afterAll(async () => {
  redis.disconnect();
  await cleanup();
});

const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
const lock = new PeerLock(prefix, { ttlMs: 300 });
const edge = new SignalEdge(lock);
const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function party(name: string) {
  const store = new RedisSignalStore(redis, ring, prefix, `${name}@birdy.interop`);
  const up: UploadQuery = await createAccount(store, { preKeys: 1, kyberPreKeys: 1 });
  const bundle: KeyBundle = {
    registration: up.registration as number, identity: up.identity as Uint8Array,
    skey: up.skey as KeyBundle['skey'], kyber: up.kyber as KeyBundle['kyber'],
  };
  return { store, bundle, address: `${name}:1@birdy.interop` };
}

/** x has a session with y; y has received x's first message: what follows are plain `msg`s. */
async function pair(a: string, b: string) {
  const x = await party(a);
  const y = await party(b);
  await edge.startSession(x.store, x.address, y.address, y.bundle);
  await edge.decrypt(y.store, y.address, x.address, await edge.encrypt(x.store, x.address, y.address, enc.encode('hi')));
  return { x, y };
}

const sessionsOf = (store: RedisSignalStore) => plain.hgetallBuffer(store.redisKeys().find((k) => k.endsWith(':sessions')) as string);

/** What an inbound handler does: a record guarded by its `state` field, plus an index entry. */
function storing(name: string, opts: Partial<DecryptWith<string>> = {}): DecryptWith<string> & { record: string; index: string } {
  const record = `${prefix}:rec:${name}`;
  const index = `${prefix}:index:${name}`;
  return {
    record, index,
    guard: { key: record, field: 'state' },
    then: (p) => ({
      value: dec.decode(p),
      writes: {
        hashes: [{ key: record, fields: { state: 'stored', data: ring.seal(Buffer.from(p), `${record}|data`) }, ttlS: 60 }],
        zadds: [{ key: index, score: 42, member: record }],
      },
    }),
    ...opts,
  };
}

describe('decryptWith: a guard and staged writes in the Signal unit', () => {
  it('writes the record, its index entry and the ratchet step in the same COMMIT: two round trips', async () => {
    const { x, y } = await pair('ann', 'ben');
    const m = await edge.encrypt(x.store, x.address, y.address, enc.encode('stored with the session'));
    const before = await sessionsOf(y.store);
    const o = storing('ann-1');
    const from = sent.length;
    expect(await edge.decryptWith(y.store, y.address, x.address, m, o)).toEqual({ value: 'stored with the session' });
    expect(sent.slice(from)).toEqual(['evalsha', 'evalsha']);
    expect(await sessionsOf(y.store)).not.toEqual(before);
    const rec = await plain.hgetallBuffer(o.record);
    expect(rec.state?.toString()).toBe('stored');
    expect(ring.open(rec.data as Buffer, `${o.record}|data`).toString()).toBe('stored with the session'); // sealed at rest
    expect(await plain.ttl(o.record)).toBeGreaterThan(50);
    expect(await plain.zscore(o.index, o.record)).toBe('42');
    expect(await plain.exists(lock.keyOf(y.store.user, x.address))).toBe(0);
  });

  it('a set guard: one round trip, nothing decrypted, locked or written; the message key is not spent', async () => {
    const { x, y } = await pair('cat', 'dan');
    const m = await edge.encrypt(x.store, x.address, y.address, enc.encode('seen before'));
    const o = storing('cat-1');
    await plain.hset(o.record, 'state', 'delivered');
    const before = await sessionsOf(y.store);
    let decrypted = 0;
    const from = sent.length;
    const out = await edge.decryptWith(y.store, y.address, x.address, m, { ...o, then: (p) => (decrypted++, o.then(p)) });
    expect(out).toEqual({ guarded: Buffer.from('delivered') });
    expect(sent.slice(from)).toEqual(['evalsha']);
    expect(decrypted).toBe(0);
    expect(await sessionsOf(y.store)).toEqual(before);
    expect(await plain.zcard(o.index)).toBe(0);
    expect(await plain.exists(lock.keyOf(y.store.user, x.address))).toBe(0);
    // libsignal never saw it: the ciphertext still decrypts.
    expect(dec.decode(await edge.decrypt(y.store, y.address, x.address, m))).toBe('seen before');
  });

  it('a holder whose lock expired before COMMIT writes neither the ratchet step nor the record; the message still decrypts', async () => {
    const { x, y } = await pair('eve', 'fay');
    const m = await edge.encrypt(x.store, x.address, y.address, enc.encode('not lost'));
    const key = lock.keyOf(y.store.user, x.address);
    const before = await sessionsOf(y.store);
    const o = storing('eve-1');
    const slow = edge.decryptWith(y.store, y.address, x.address, m, {
      ...o,
      then: async (p) => {
        await sleep(450); // past the 300 ms TTL
        await plain.set(key, 'another-holder', 'PX', 5000);
        return o.then(p);
      },
    });
    await expect(slow).rejects.toThrow(LockLostError);
    expect(await sessionsOf(y.store)).toEqual(before);
    expect(await plain.exists(o.record)).toBe(0);
    expect(await plain.zcard(o.index)).toBe(0);
    expect(await plain.get(key)).toBe('another-holder');
    await plain.del(key);
    // The redelivered message decrypts and is stored this time.
    expect(await edge.decryptWith(y.store, y.address, x.address, m, o)).toEqual({ value: 'not lost' });
    expect((await plain.hget(o.record, 'state'))).toBe('stored');
  });

  it('two replicas handling one redelivered message: one stores it, the other finds the guard under the lock', async () => {
    const { x, y } = await pair('gus', 'hal');
    const m = await edge.encrypt(x.store, x.address, y.address, enc.encode('once'));
    // Separate PeerLocks: no shared in-process queue, only the Redis lock between them.
    const replicas = [new SignalEdge(new PeerLock(prefix)), new SignalEdge(new PeerLock(prefix))];
    const o = storing('gus-1');
    const slowThen: DecryptWith<string>['then'] = async (p) => {
      await sleep(50); // holds the lock while the other replica tries
      return o.then(p);
    };
    const outs = await Promise.all(replicas.map((r) => r.decryptWith(y.store, y.address, x.address, m, { ...o, then: slowThen })));
    expect(outs).toContainEqual({ value: 'once' });
    expect(outs).toContainEqual({ guarded: Buffer.from('stored') });
  });

  it("a failing `then`: the spent message key is kept, the caller's writes are not; malformed writes are refused", async () => {
    const { x, y } = await pair('ida', 'jon');
    const before = await sessionsOf(y.store);
    const o = storing('ida-1');
    const m1: Encrypted = await edge.encrypt(x.store, x.address, y.address, enc.encode('bad content'));
    await expect(edge.decryptWith(y.store, y.address, x.address, m1, { ...o, then: () => { throw new Error('bad content'); } })).rejects.toThrow('bad content');
    expect(await sessionsOf(y.store)).not.toEqual(before);
    expect(await plain.exists(o.record)).toBe(0);

    const m2 = await edge.encrypt(x.store, x.address, y.address, enc.encode('x'));
    const empty = edge.decryptWith(y.store, y.address, x.address, m2, { ...o, then: () => ({ value: '', writes: { hashes: [{ key: o.record, fields: {} }] } }) });
    await expect(empty).rejects.toThrow(/no fields/);
    const m3 = await edge.encrypt(x.store, x.address, y.address, enc.encode('y'));
    const badTtl = edge.decryptWith(y.store, y.address, x.address, m3, { ...o, then: () => ({ value: '', writes: { hashes: [{ key: o.record, fields: { a: '1' }, ttlS: 0 }] } }) });
    await expect(badTtl).rejects.toThrow(/TTL/);
    expect(await plain.exists(o.record)).toBe(0);
    expect(await plain.exists(lock.keyOf(y.store.user, x.address))).toBe(0);
  });
});
