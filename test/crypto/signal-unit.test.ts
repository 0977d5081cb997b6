// The Signal edge's unit of work (signal-unit.ts) on a real Redis: two round trips per operation,
// the lock's guarantees (a holder whose lock expired writes nothing, a crashed holder's lock
// expires), trust on first use, prekeys consumed only after the session is written, and the cached
// local identity following every change of the account.
import { randomBytes } from 'node:crypto';
import { PrivateKey, signalEncrypt } from '@signalapp/libsignal-client';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccount, type UploadQuery } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { PeerLock } from '../../src/crypto/peer-lock.ts';
import { MissingKeyError, RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { rewrapAll } from '../../src/crypto/rewrap.ts';
import { SignalEdge, signalAddress } from '../../src/crypto/signal-edge.ts';
import { LockLostError, SignalUnit } from '../../src/crypto/signal-unit.ts';
import type { KeyBundle } from '../../src/protocol/types.ts';
import { recordingRedis, REDIS_URL, testRedis } from '../support/redis.ts';

const { redis: plain, prefix, cleanup } = testRedis();
// The stores and the lock use a connection that counts the commands it sends (one round trip each).
const { redis, sent: commands } = recordingRedis();
afterAll(async () => {
  redis.disconnect();
  await cleanup();
});

const k1 = { id: 'k1', key: randomBytes(32) };
const ring = new Keyring([k1], 'k1');
const lock = new PeerLock(prefix, { ttlMs: 300 });
const edge = new SignalEdge(lock);
const enc = new TextEncoder();
const dec = new TextDecoder();

function bundleFrom(up: UploadQuery, take?: number): KeyBundle {
  const key = take === undefined ? undefined : up.preKeys?.[take];
  return {
    registration: up.registration as number,
    identity: up.identity as Uint8Array,
    skey: up.skey as KeyBundle['skey'],
    kyber: (take === undefined ? undefined : up.kyberPreKeys?.[take]) ?? (up.kyber as KeyBundle['kyber']),
    ...(key ? { key } : {}),
  };
}

async function party(name: string, n = 3, p = prefix, r = ring) {
  const store = new RedisSignalStore(redis, r, p, `${name}@birdy.interop`);
  const upload = await createAccount(store, { preKeys: n, kyberPreKeys: n });
  return { store, upload, user: `${name}@birdy.interop`, address: `${name}:1@birdy.interop` };
}

/** Two parties with an acknowledged session both ways. */
async function pair(a: string, b: string) {
  const x = await party(a);
  const y = await party(b);
  await edge.startSession(x.store, x.address, y.address, bundleFrom(y.upload, 0));
  await edge.decrypt(y.store, y.address, x.address, await edge.encrypt(x.store, x.address, y.address, enc.encode('hi')));
  await edge.decrypt(x.store, x.address, y.address, await edge.encrypt(y.store, y.address, x.address, enc.encode('hello')));
  return { x, y };
}

const hashOf = (store: RedisSignalStore, kind: string) => plain.hgetallBuffer(store.redisKeys().find((k) => k.endsWith(`:${kind}`)) as string);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Signal unit of work', () => {
  it('costs two Redis round trips per encrypt and per decrypt, and never rewrites an unchanged identity', async () => {
    const { x, y } = await pair('ann', 'ben');
    const identitiesBefore = [await hashOf(x.store, 'identities'), await hashOf(y.store, 'identities')];
    for (let i = 0; i < 5; i++) {
      let from = commands.length;
      const m = await edge.encrypt(x.store, x.address, y.address, enc.encode(`m${i}`));
      expect(commands.length - from).toBe(2);
      from = commands.length;
      expect(dec.decode(await edge.decrypt(y.store, y.address, x.address, m))).toBe(`m${i}`);
      expect(commands.length - from).toBe(2);
      from = commands.length;
      const r = await edge.encryptIfSession(y.store, y.address, x.address, enc.encode(`r${i}`));
      expect(commands.length - from).toBe(2);
      expect(dec.decode(await edge.decrypt(x.store, x.address, y.address, r as NonNullable<typeof r>))).toBe(`r${i}`);
    }
    // sealed blobs carry a fresh nonce: byte-equal means never written again
    expect([await hashOf(x.store, 'identities'), await hashOf(y.store, 'identities')]).toEqual(identitiesBefore);
    for (const v of Object.values(await hashOf(x.store, 'sessions'))) expect(ring.keyIdOf(v)).toBe('k1');
    expect(await plain.exists(lock.keyOf(x.store.user, y.address))).toBe(0);
  });

  it('works on an auto-pipelined connection (as the sidecar runs it), many peers at once', async () => {
    const ap = new Redis(REDIS_URL, { maxRetriesPerRequest: 3, enableAutoPipelining: true });
    try {
      const apEdge = new SignalEdge(new PeerLock(prefix));
      const mk = async (name: string) => {
        const store = new RedisSignalStore(ap, ring, prefix, `${name}@birdy.interop`);
        return { store, upload: await createAccount(store, { preKeys: 2, kyberPreKeys: 2 }), address: `${name}:1@birdy.interop` };
      };
      const x = await mk('apx');
      const peers = await Promise.all(['apa', 'apb', 'apc', 'apd'].map(mk));
      await Promise.all(peers.map((y) => apEdge.startSession(x.store, x.address, y.address, bundleFrom(y.upload, 0))));
      const rounds = await Promise.all(peers.flatMap((y) => [0, 1, 2].map(async (i) => ({ y, i, m: await apEdge.encrypt(x.store, x.address, y.address, enc.encode(`${y.address}/${i}`)) }))));
      for (const { y, i, m } of rounds) expect(dec.decode(await apEdge.decrypt(y.store, y.address, x.address, m))).toBe(`${y.address}/${i}`);
    } finally {
      ap.disconnect();
    }
  });

  it('encryptIfSession without a session: undefined, nothing written, lock released; then one unit starts it and encrypts', async () => {
    const x = await party('cat');
    const y = await party('dan');
    const from = commands.length;
    expect(await edge.encryptIfSession(x.store, x.address, y.address, enc.encode('x'))).toBeUndefined();
    expect(commands.length - from).toBe(2);
    expect(await hashOf(x.store, 'sessions')).toEqual({});
    expect(await plain.exists(lock.keyOf(x.store.user, y.address))).toBe(0);
    const first = await edge.startSessionAndEncrypt(x.store, x.address, y.address, bundleFrom(y.upload, 1), enc.encode('first'));
    expect(first.type).toBe('pkmsg');
    expect(dec.decode(await edge.decrypt(y.store, y.address, x.address, first))).toBe('first');
    // The session was kept: the next message goes out without a bundle.
    const second = await edge.encryptIfSession(x.store, x.address, y.address, enc.encode('second'));
    if (second === undefined) throw new Error('no session after startSessionAndEncrypt');
    expect(dec.decode(await edge.decrypt(y.store, y.address, x.address, second))).toBe('second');
  });

  it('a holder whose lock expired writes nothing and fails; the session stays usable', async () => {
    const { x, y } = await pair('eve', 'fay');
    const key = lock.keyOf(x.store.user, y.address);
    const before = await hashOf(x.store, 'sessions');
    const unit = new SignalUnit(x.store, signalAddress(y.address));
    const slow = lock.withLockIo(x.store.user, y.address, unit, async (u) => {
      await signalEncrypt(enc.encode('lost'), signalAddress(y.address), signalAddress(x.address), u.sessions, u.identities);
      await sleep(450); // past the 300 ms TTL
      await plain.set(key, 'another-holder', 'PX', 5000);
    });
    await expect(slow).rejects.toThrow(LockLostError);
    expect(await hashOf(x.store, 'sessions')).toEqual(before);
    expect(await plain.get(key)).toBe('another-holder'); // not released by the old holder
    await plain.del(key);
    const m = await edge.encrypt(x.store, x.address, y.address, enc.encode('after'));
    expect(dec.decode(await edge.decrypt(y.store, y.address, x.address, m))).toBe('after');
  });

  it("a crashed holder's lock expires by itself", async () => {
    const { x, y } = await pair('gus', 'hal');
    await plain.set(lock.keyOf(x.store.user, y.address), 'crashed-holder', 'PX', 250);
    const t0 = Date.now();
    const m = await edge.encrypt(x.store, x.address, y.address, enc.encode('later'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(dec.decode(await edge.decrypt(y.store, y.address, x.address, m))).toBe('later');
  });

  it('a record that fails authentication fails the operation and releases the lock', async () => {
    const { x, y } = await pair('ida', 'jon');
    const sessions = x.store.redisKeys().find((k) => k.endsWith(':sessions')) as string;
    const field = `${y.address}.1`;
    const good = await plain.hgetBuffer(sessions, field);
    await plain.hset(sessions, field, ring.seal(Buffer.from('moved'), `${sessions}|elsewhere`));
    await expect(edge.encrypt(x.store, x.address, y.address, enc.encode('x'))).rejects.toThrow(/failed authentication/);
    expect(await plain.exists(lock.keyOf(x.store.user, y.address))).toBe(0);
    await plain.hset(sessions, field, good as Buffer);
    const m = await edge.encrypt(x.store, x.address, y.address, enc.encode('ok'));
    expect(dec.decode(await edge.decrypt(y.store, y.address, x.address, m))).toBe('ok');
  });

  it('trust on first use: a changed identity is refused and changes nothing; once forgotten it is trusted anew', async () => {
    const { x, y } = await pair('kim', 'lou');
    const y2 = await party('lou'); // the same address with a new identity
    const pk = await edge.startSessionAndEncrypt(y2.store, y2.address, x.address, bundleFrom(x.upload, 1), enc.encode('new phone'));
    const before = [await hashOf(x.store, 'sessions'), await hashOf(x.store, 'identities')];
    await expect(edge.decrypt(x.store, x.address, y.address, pk)).rejects.toThrow(/untrusted|identity/i);
    expect([await hashOf(x.store, 'sessions'), await hashOf(x.store, 'identities')]).toEqual(before);
    await expect(edge.startSession(x.store, x.address, y.address, bundleFrom(y2.upload, 2))).rejects.toThrow(/untrusted|identity/i);

    const ofLou = (name: string) => name.startsWith('lou:');
    await x.store.dropSessionsOf(ofLou);
    await x.store.forgetIdentitiesOf(ofLou);
    expect(dec.decode(await edge.decrypt(x.store, x.address, y.address, pk))).toBe('new phone');
    const stored = await x.store.identities.getIdentity(signalAddress(y.address));
    expect(Buffer.from(stored?.serialize() ?? [])).toEqual(Buffer.from(y2.upload.identity as Uint8Array));
  });

  it('consumes one-time prekeys when used, keeps the last-resort Kyber prekey', async () => {
    const x = await party('max');
    const y = await party('ned');
    const lastResort = (y.upload.kyber as KeyBundle['kyber']).id;
    await edge.startSession(x.store, x.address, y.address, bundleFrom(y.upload)); // no one-time keys
    await edge.decrypt(y.store, y.address, x.address, await edge.encrypt(x.store, x.address, y.address, enc.encode('a')));
    expect(await y.store.kyberPreKeys.count()).toBe(3);
    expect((await y.store.kyberPreKeys.getKyberPreKey(lastResort)).id()).toBe(lastResort);

    const z = await party('ola');
    await edge.startSession(z.store, z.address, y.address, bundleFrom(y.upload, 2));
    await edge.decrypt(y.store, y.address, z.address, await edge.encrypt(z.store, z.address, y.address, enc.encode('b')));
    expect(await y.store.preKeys.count()).toBe(2);
    expect(await y.store.kyberPreKeys.count()).toBe(2);
    expect(await y.store.preKeys.ids()).not.toContain((y.upload.preKeys ?? [])[2]?.id);
  });

  it('our identity is cached, yet a new account, a re-seal and a removal are seen at once', async () => {
    const k2 = { id: 'k2', key: randomBytes(32) };
    const both = new Keyring([k1, k2], 'k2');
    const p = `${prefix}-own`;
    const x = await party('pia', 1, p, ring); // sealed under k1
    const lk = new PeerLock(p);
    const ours = (store: RedisSignalStore) =>
      lk.withLockIo(store.user, 'quinn:1@hub', new SignalUnit(store, signalAddress('quinn:1@hub')), async (u) => ({
        key: Buffer.from((await u.identities.getIdentityKey()).serialize()),
        reg: await u.identities.getLocalRegistrationId(),
      }));
    const withBoth = new RedisSignalStore(redis, both, p, x.user);
    const stored = { key: Buffer.from((await x.store.identities.getIdentityKey()).serialize()), reg: x.upload.registration };
    expect(await ours(withBoth)).toEqual(stored);
    expect(await ours(withBoth)).toEqual(stored); // from the cache

    expect((await rewrapAll(plain, both, p)).rewrapped).toBeGreaterThan(0); // `causeway keys rotate`
    expect(await ours(withBoth)).toEqual(stored);
    expect(await ours(new RedisSignalStore(redis, new Keyring([k2], 'k2'), p, x.user))).toEqual(stored);

    const fresh = PrivateKey.generate(); // what a new account does
    await withBoth.saveAccount(fresh, 77);
    expect(await ours(withBoth)).toEqual({ key: Buffer.from(fresh.serialize()), reg: 77 });

    await plain.del(x.store.redisKeys().find((k) => k.endsWith(':account')) as string);
    await expect(ours(withBoth)).rejects.toThrow(MissingKeyError);
  });
});
