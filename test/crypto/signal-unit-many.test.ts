// One Signal unit of work for several devices of one hub user (signal-unit.ts, PeerLock.withLocksIo,
// SignalEdge.encryptForDevices / startSessionsAndEncrypt), on a real Redis with real libsignal:
// two scripts whatever the number of devices, all locks taken or none, nothing written unless
// every lock is still ours, and encryptMessage (at most two units) from two replicas at once.
import { randomBytes } from 'node:crypto';
import { ErrorCode, LibSignalErrorBase, SignalMessage, signalEncrypt } from '@signalapp/libsignal-client';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccount, type UploadQuery } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { PeerLock, type LockIo } from '../../src/crypto/peer-lock.ts';
import { RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { SignalEdge, signalAddress, type Encrypted } from '../../src/crypto/signal-edge.ts';
import { LockLostError, SignalUnit } from '../../src/crypto/signal-unit.ts';
import { encryptMessage } from '../../src/delivery/encrypt-message.ts';
import type { OutboundRecord } from '../../src/delivery/outbox.ts';
import type { HubConnection } from '../../src/hub/connection.ts';
import { computeDhash, decodeContent, deviceAddress, type OutgoingMessage } from '../../src/protocol/index.ts';
import type { EncType, KeyBundle } from '../../src/protocol/types.ts';
import { recordingRedis, REDIS_URL, testRedis } from '../support/redis.ts';

const { redis: plain, prefix, cleanup } = testRedis();
// The local side uses a connection that counts the commands it sends (one round trip each).
const { redis, sent } = recordingRedis();
const replica = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 }); // a second Causeway's connection
afterAll(async () => {
  redis.disconnect();
  replica.disconnect();
  await cleanup();
});

const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
const lock = new PeerLock(prefix, { ttlMs: 300 });
const edge = new SignalEdge(lock);
const hubEdge = new SignalEdge(new PeerLock(`${prefix}-hub`));
const text = new TextEncoder();
const dec = new TextDecoder();
const DEVICES = [0, 2, 5];

/** A hub user with three devices, each with its own account; bundles hand out one-time keys in turn. */
async function hubUser(phone: string) {
  const jid = `${phone}@hub`;
  const jids = DEVICES.map((d) => deviceAddress(jid, d));
  const stores = new Map<string, RedisSignalStore>();
  const uploads = new Map<string, UploadQuery>();
  for (const j of jids) {
    const store = new RedisSignalStore(plain, ring, `${prefix}-hub`, j);
    stores.set(j, store);
    uploads.set(j, await createAccount(store, { preKeys: 4, kyberPreKeys: 4 }));
  }
  let taken = 0;
  const bundle = (j: string): KeyBundle => {
    const up = uploads.get(j) as UploadQuery;
    const i = taken++ % 4;
    return {
      registration: up.registration as number,
      identity: up.identity as Uint8Array,
      skey: up.skey as KeyBundle['skey'],
      kyber: up.kyberPreKeys?.[i] as KeyBundle['kyber'],
      key: up.preKeys?.[i] as NonNullable<KeyBundle['key']>,
    };
  };
  const devices = { jid, devices: DEVICES, dhash: computeDhash(jids) };
  return { jid, jids, stores, bundle, devices };
}
type Hub = Awaited<ReturnType<typeof hubUser>>;

async function localUser(name: string) {
  const user = `${name}@birdy.interop`;
  const store = new RedisSignalStore(redis, ring, prefix, user);
  await createAccount(store, { preKeys: 2, kyberPreKeys: 2 });
  return { user, store, address: deviceAddress(user, 1) };
}
type Local = Awaited<ReturnType<typeof localUser>>;

/** Sessions with the given hub devices, acknowledged both ways (so messages are `msg`s). */
async function connect(l: Local, hub: Hub, jids = hub.jids): Promise<void> {
  for (const j of jids) {
    await edge.startSession(l.store, l.address, j, hub.bundle(j));
    const hubStore = hub.stores.get(j) as RedisSignalStore;
    await hubEdge.decrypt(hubStore, j, l.address, await edge.encrypt(l.store, l.address, j, text.encode('hi')));
    await edge.decrypt(l.store, l.address, j, await hubEdge.encrypt(hubStore, j, l.address, text.encode('hello')));
  }
}

async function hubDecrypts(hub: Hub, from: string, j: string, e: Encrypted): Promise<string> {
  return dec.decode(await hubEdge.decrypt(hub.stores.get(j) as RedisSignalStore, j, from, e));
}

/** The text of a message as a hub device decrypts it. */
async function hubReads(hub: Hub, from: string, j: string, e: { type: EncType; ciphertext: Uint8Array }): Promise<string | undefined> {
  return decodeContent(await hubEdge.decrypt(hub.stores.get(j) as RedisSignalStore, j, from, e)).text;
}

const sessionsKey = (l: Local) => `${prefix}:sig:{${l.user}}:sessions`;
const sessionsOf = (l: Local) => plain.hgetallBuffer(sessionsKey(l));

/** The hub side of encryptMessage: only the bundle fetch, recorded. */
function hubConn(hub: Hub, fetches: string[][]): HubConnection {
  const iq = async (q: { jids: string[] }) => {
    fetches.push(q.jids);
    return { op: 'bundles', users: q.jids.map((jid) => ({ jid, bundle: hub.bundle(jid) })) };
  };
  return { iq } as unknown as HubConnection;
}

/** A PeerLock that records the peers of every unit it runs. */
class CountingLock extends PeerLock {
  readonly units: string[][] = [];
  override withLocksIo<T, S>(user: string, peers: string[], io: LockIo<S>, fn: (state: S) => Promise<T>): Promise<T> {
    this.units.push(peers);
    return super.withLocksIo(user, peers, io, fn);
  }
}

let n = 0;
function record(l: Local, hub: Hub, body: string): OutboundRecord {
  const k = `k${++n}`;
  return { id: `m-${randomBytes(4).toString('hex')}-${n}`, adapterId: 'rec', idempotencyKey: k, user: l.user, peer: hub.jid, from: 'alice', t: 1_700_000_000 + n, message: { idempotencyKey: k, from: 'alice', to: hub.jid, text: body } };
}

describe('one Signal unit for several devices', () => {
  it('encrypts for three devices in one unit: two scripts, every session written, every device decrypts', async () => {
    const l = await localUser('ann');
    const hub = await hubUser('447700900101');
    await connect(l, hub);
    const before = await sessionsOf(l);
    const made: Array<ReadonlyMap<string, Encrypted>> = [];
    sent.length = 0;
    const r = await edge.encryptForDevices(l.store, l.address, hub.jids, text.encode('to all three'), (encs) => (made.push(encs), undefined));
    expect(sent).toEqual(['evalsha', 'evalsha']);
    expect(r.without).toEqual([]);
    expect([...r.encs.keys()]).toEqual(hub.jids);
    expect(made).toEqual([r.encs]); // `after` ran once, on all of them
    const after = await sessionsOf(l);
    for (const j of hub.jids) expect(after[`${j}.1`]?.equals(before[`${j}.1`] as Buffer)).toBe(false);
    for (const j of hub.jids) expect(await plain.exists(lock.keyOf(l.user, j))).toBe(0);
    for (const [j, e] of r.encs) expect(await hubDecrypts(hub, l.address, j, e)).toBe('to all three');
  });

  it('encryptMessage with one device of three without a session: one bundle fetch, four scripts in all, every device decrypts', async () => {
    const l = await localUser('bea');
    const hub = await hubUser('447700900102');
    const [d0, d2, d5] = hub.jids as [string, string, string];
    await connect(l, hub, [d0, d5]);
    const fetches: string[][] = [];
    const completed: OutgoingMessage[] = [];
    sent.length = 0;
    const msg = await encryptMessage(hubConn(hub, fetches), edge, l.store, l.address, record(l, hub, 'one new device'), hub.devices, (m) => (completed.push(m), undefined));
    // The unit for all three devices (device 2 has no session: nothing made for it), then the one
    // that starts device 2's session from its bundle and encrypts: ACQUIRE and COMMIT each.
    expect(sent).toEqual(Array(4).fill('evalsha'));
    expect(fetches).toEqual([[d2]]);
    expect(completed).toEqual([msg]);
    expect(msg.participants.map((p) => [p.jid, p.enc.type])).toEqual([[d0, 'msg'], [d2, 'pkmsg'], [d5, 'msg']]);
    for (const p of msg.participants) expect(await hubReads(hub, l.address, p.jid, p.enc)).toBe('one new device');
    // The session was kept: the next message is one unit.
    sent.length = 0;
    await encryptMessage(hubConn(hub, fetches), edge, l.store, l.address, record(l, hub, 'next'), hub.devices);
    expect(sent).toEqual(['evalsha', 'evalsha']);
  });

  it('writes nothing at all when one of its locks is no longer its own, and frees the others at once', async () => {
    const l = await localUser('cid');
    const hub = await hubUser('447700900103');
    await connect(l, hub);
    const before = await sessionsOf(l);
    const lost = lock.keyOf(l.user, hub.jids[1] as string);
    const staged = `${prefix}:{${l.user}}:staged`;
    const unit = new SignalUnit(l.store, hub.jids.map(signalAddress));
    const run = lock.withLocksIo(l.user, hub.jids, unit, async (u) => {
      for (const j of hub.jids) await signalEncrypt(text.encode('lost'), signalAddress(j), signalAddress(l.address), u.sessions, u.identities);
      u.stage({ hashes: [{ key: staged, fields: { frame: 'x' } }] });
      // The middle lock expired and another holder took it; the other two are still ours.
      await plain.set(lost, 'another-holder', 'PX', 5000);
    });
    await expect(run).rejects.toBeInstanceOf(LockLostError);
    expect(await sessionsOf(l)).toEqual(before); // no device's session changed
    expect(await plain.exists(staged)).toBe(0);
    expect(await plain.get(lost)).toBe('another-holder'); // not released by the old holder
    for (const j of [hub.jids[0], hub.jids[2]] as string[]) expect(await plain.exists(lock.keyOf(l.user, j))).toBe(0);
    await plain.del(lost);
    // The sessions are still usable.
    const r = await edge.encryptForDevices(l.store, l.address, hub.jids, text.encode('after'));
    for (const [j, e] of r.encs) expect(await hubDecrypts(hub, l.address, j, e)).toBe('after');
  });

  it('waits while another holder has one of its keys, taking none of them meanwhile, then succeeds', async () => {
    const l = await localUser('dot');
    const hub = await hubUser('447700900104');
    await connect(l, hub);
    await plain.set(lock.keyOf(l.user, hub.jids[2] as string), 'another-holder', 'PX', 250);
    const t0 = Date.now();
    const pending = edge.encryptForDevices(l.store, l.address, hub.jids, text.encode('later'));
    await new Promise((r) => setTimeout(r, 100));
    for (const j of [hub.jids[0], hub.jids[1]] as string[]) expect(await plain.exists(lock.keyOf(l.user, j))).toBe(0);
    const r = await pending;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(r.encs.size).toBe(3);
    for (const [j, e] of r.encs) expect(await hubDecrypts(hub, l.address, j, e)).toBe('later');
  });

  it('holders of overlapping device sets, in one process and across two replicas, never hold a key together and never deadlock', async () => {
    const l = await localUser('gil');
    const [a, b, c] = ['447700900107:0@hub', '447700900107:1@hub', '447700900107:2@hub'];
    const locks = [lock, new PeerLock(prefix, { ttlMs: 300 })];
    const sets = [[a, b], [b, c], [c, a], [a, b, c], [c], [b, a]];
    const held = new Set<string>();
    const clashes: string[] = [];
    const runs = Array.from({ length: 4 * sets.length }, (_, i) => {
      const peers = sets[i % sets.length] as string[];
      const unit = new SignalUnit(l.store, peers.map(signalAddress));
      return (locks[i % 2] as PeerLock).withLocksIo(l.user, peers, unit, async () => {
        for (const p of peers) {
          if (held.has(p)) clashes.push(p);
          held.add(p);
        }
        await new Promise((r) => setTimeout(r, 2));
        for (const p of peers) held.delete(p);
      });
    });
    await Promise.all(runs);
    expect(clashes).toEqual([]);
    for (const p of [a, b, c]) expect(await plain.exists(lock.keyOf(l.user, p))).toBe(0);
  });

  it('an untrusted identity on one device throws UntrustedIdentity; the message is not completed', async () => {
    const l = await localUser('eli');
    const hub = await hubUser('447700900105');
    const [d0, d2, d5] = hub.jids as [string, string, string];
    await connect(l, hub);
    // Device 5 got a new phone: its session is gone, its stored identity is the old one.
    await l.store.dropSessionsOf((name) => name === d5);
    const identitiesKey = `${prefix}:sig:{${l.user}}:identities`;
    const identities = await plain.hgetallBuffer(identitiesKey);
    const fresh = await createAccount(hub.stores.get(d5) as RedisSignalStore, { preKeys: 1, kyberPreKeys: 1 });
    const newPhone = { registration: fresh.registration as number, identity: fresh.identity as Uint8Array, skey: fresh.skey as KeyBundle['skey'], kyber: fresh.kyber as KeyBundle['kyber'] };
    const conn = { iq: async () => ({ op: 'bundles', users: [{ jid: d5, bundle: newPhone }] }) } as unknown as HubConnection;
    let completed = 0;
    const err = await encryptMessage(conn, edge, l.store, l.address, record(l, hub, 'x'), hub.devices, () => (completed++, undefined)).catch((e: unknown) => e);
    expect(LibSignalErrorBase.is(err, ErrorCode.UntrustedIdentity)).toBe(true);
    expect(completed).toBe(0);
    expect(await plain.hgetallBuffer(identitiesKey)).toEqual(identities);
    expect(await plain.hexists(sessionsKey(l), `${d5}.1`)).toBe(0);
    // Devices 0 and 2 stay usable.
    const r = await edge.encryptForDevices(l.store, l.address, [d0, d2], text.encode('still'));
    for (const [j, e] of r.encs) expect(await hubDecrypts(hub, l.address, j, e)).toBe('still');
  });

  it('concurrent encryptMessage calls from two replicas: one unit each, every device steps in one order and decrypts every message in it', async () => {
    const l = await localUser('fox');
    const hub = await hubUser('447700900106');
    await connect(l, hub);
    const replicas = [redis, replica].map((conn) => {
      const locks = new CountingLock(prefix);
      return { locks, edge: new SignalEdge(locks), store: new RedisSignalStore(conn, ring, prefix, l.user) };
    });
    const order: OutgoingMessage[] = []; // `complete` runs under the locks of the unit that completes
    const fetches: string[][] = [];
    const PER_REPLICA = 8;
    const records = Array.from({ length: 2 * PER_REPLICA }, (_, i) => record(l, hub, `r${i % 2}-${i}`));
    await Promise.all(
      records.map((r, i) => {
        const rep = replicas[i % 2] as (typeof replicas)[number];
        return encryptMessage(hubConn(hub, fetches), rep.edge, rep.store, l.address, r, hub.devices, (m) => (order.push(m), undefined));
      }),
    );
    expect(fetches).toEqual([]);
    // One unit per message, holding the locks of all three devices.
    for (const rep of replicas) expect(rep.locks.units).toEqual(Array(PER_REPLICA).fill(hub.jids));
    expect(order).toHaveLength(2 * PER_REPLICA);
    // Each device's chain counters follow the order in which the messages were completed.
    for (const j of hub.jids) {
      const counters = order.map((m) => {
        const e = m.participants.find((p) => p.jid === j)?.enc as Encrypted;
        expect(e.type).toBe('msg');
        return SignalMessage.deserialize(Buffer.from(e.ciphertext)).counter();
      });
      expect(counters).toEqual(counters.map((_, i) => (counters[0] as number) + i));
    }
    const texts = new Map(records.map((r) => [r.id, r.message.text]));
    for (const m of order) {
      for (const p of m.participants) expect(await hubReads(hub, l.address, p.jid, p.enc)).toBe(texts.get(m.id));
    }
  });
});
