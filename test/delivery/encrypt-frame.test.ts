// The outbound message's stored frame is written by the Signal unit that makes its last ciphertext,
// in that unit's COMMIT (encrypt-message.ts, SignalEdge's AfterEncrypt): no round trip of its own,
// stored with the ratchet step or not at all. Driven on a real Redis with real libsignal sessions:
// one hub device with a session, one reached through a bundle fetch.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { PeerLock } from '../../src/crypto/peer-lock.ts';
import { RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { LockLostError } from '../../src/crypto/signal-unit.ts';
import { SignalEdge } from '../../src/crypto/signal-edge.ts';
import { encryptMessage } from '../../src/delivery/encrypt-message.ts';
import { Outbox, type OutboundRecord } from '../../src/delivery/outbox.ts';
import { StatusLog } from '../../src/delivery/status-log.ts';
import type { HubConnection } from '../../src/hub/connection.ts';
import { buildStanza, computeDhash, decodeContent, deviceAddress, type OutgoingMessage } from '../../src/protocol/index.ts';
import type { KeyBundle } from '../../src/protocol/types.ts';
import { recordingRedis, testRedis } from '../support/redis.ts';

const { redis: plain, prefix, cleanup } = testRedis();
const { redis, sent } = recordingRedis();
const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
const lock = new PeerLock(prefix, { ttlMs: 300 });
const edge = new SignalEdge(lock);
const outbox = new Outbox(redis, ring, prefix, new StatusLog(redis, prefix));

const USER = 'alice@birdy.interop';
const LOCAL = deviceAddress(USER, 1);
const PEER = '447700900123@hub';
const DEVICES = [0, 3];
const JIDS = DEVICES.map((d) => deviceAddress(PEER, d));
const store = new RedisSignalStore(redis, ring, prefix, USER);
const hubStores = new Map(JIDS.map((j) => [j, new RedisSignalStore(plain, ring, `${prefix}-hub`, j)]));
const hubEdge = new SignalEdge(new PeerLock(`${prefix}-hub`));
const bundles = new Map<string, KeyBundle>();
const fetches: string[][] = [];
/** The hub session as encryptMessage uses it: only the bundle fetch. */
const conn = {
  iq: async (q: { jids: string[] }) => {
    fetches.push(q.jids);
    return { op: 'bundles', users: q.jids.map((jid) => ({ jid, bundle: bundles.get(jid) as KeyBundle })) };
  },
} as unknown as HubConnection;
const devices = { jid: PEER, devices: DEVICES, dhash: computeDhash(JIDS) };

let n = 0;
function record(text: string): OutboundRecord {
  return { id: `m-${randomBytes(4).toString('hex')}-${++n}`, adapterId: 'rec', idempotencyKey: `k${n}`, user: USER, peer: PEER, from: 'alice', t: 1_700_000_000 + n, message: { idempotencyKey: `k${n}`, from: 'alice', to: PEER, text } };
}
const sessionsKey = `${prefix}:sig:{${USER}}:sessions`;
const FIELD3 = `${JIDS[1]}.1`; // the session's field (addressField)
/** The record's stored frame, opened as Outbox does. */
async function storedFrame(r: OutboundRecord): Promise<string | undefined> {
  const key = outbox.recordKey(USER, r.id);
  const sealed = await plain.hgetBuffer(key, 'frame');
  return sealed ? ring.open(sealed, `${key}|frame`).toString('utf8') : undefined;
}
/** A bundle for a hub device, with a fresh one-time prekey each time (a new session). */
async function freshBundle(jid: string): Promise<void> {
  const up = await createAccount(hubStores.get(jid) as RedisSignalStore, { preKeys: 1, kyberPreKeys: 1 });
  bundles.set(jid, { registration: up.registration as number, identity: up.identity as Uint8Array, skey: up.skey as KeyBundle['skey'], kyber: up.kyber as KeyBundle['kyber'], ...(up.preKeys?.[0] ? { key: up.preKeys[0] } : {}) } as KeyBundle);
}

beforeAll(async () => {
  await createAccount(store, { preKeys: 1, kyberPreKeys: 1 });
  for (const jid of JIDS) await freshBundle(jid);
  // Device 0 already has a session; device 3 has none (its bundle is fetched).
  await edge.startSession(store, LOCAL, JIDS[0] as string, bundles.get(JIDS[0] as string) as KeyBundle);
});
afterAll(async () => {
  await deleteHub();
  await cleanup();
  redis.disconnect();
});
async function deleteHub(): Promise<void> {
  const keys = await plain.keys(`${prefix}-hub*`);
  if (keys.length > 0) await plain.del(...keys);
}

describe('the stored frame in the last Signal unit', () => {
  it('is written by the COMMIT of the unit that completes the message: no command of its own, the frame the hub devices decrypt', async () => {
    const r = record('first to both devices');
    await redis.hset(outbox.recordKey(USER, r.id), 'state', 'queued');
    const completed: OutgoingMessage[] = [];
    let frame = '';
    sent.length = 0;
    const msg = await encryptMessage(conn, edge, store, LOCAL, r, devices, (m) => {
      completed.push(m);
      frame = buildStanza(m);
      return outbox.frameWrites(USER, r.id, frame);
    });
    expect(completed).toHaveLength(1);
    expect(completed[0]?.participants.map((p) => p.jid)).toEqual(JIDS);
    expect(buildStanza(msg)).toBe(frame);
    expect(fetches).toEqual([[JIDS[1]]]);
    // Two units of two scripts each (ACQUIRE and COMMIT), and nothing else: one for both devices
    // (device 0's encrypt; device 3 has no session: nothing made for it), then device 3's session
    // start and encrypt after the fetch. Device 3's own empty unit (two more scripts) is gone.
    expect(sent).toEqual(Array(4).fill('evalsha'));
    expect(await storedFrame(r)).toBe(frame);
    for (const p of msg.participants) {
      const hub = hubStores.get(p.jid) as RedisSignalStore;
      const plaintext = await hubEdge.decrypt(hub, p.jid, LOCAL, p.enc);
      expect(decodeContent(plaintext).text).toBe('first to both devices');
    }
  });

  it('is not written when the unit that would write it lost its lock; nor is its ratchet step', async () => {
    const r = record('lost lock');
    await redis.hset(outbox.recordKey(USER, r.id), 'state', 'queued');
    const before = await plain.hgetBuffer(sessionsKey, FIELD3);
    let calls = 0;
    const failing = encryptMessage(conn, edge, store, LOCAL, r, devices, (m) => {
      calls++;
      // The unit outlives its lock and another holder takes it before COMMIT.
      const until = Date.now() + 400;
      while (Date.now() < until);
      void plain.set(lock.keyOf(USER, JIDS[1] as string), 'another-holder', 'PX', 5000);
      return outbox.frameWrites(USER, r.id, buildStanza(m));
    });
    await expect(failing).rejects.toBeInstanceOf(LockLostError);
    expect(calls).toBe(1);
    expect(await storedFrame(r)).toBeUndefined();
    expect((await plain.hgetBuffer(sessionsKey, FIELD3))?.equals(before as Buffer)).toBe(true);
    await plain.del(lock.keyOf(USER, JIDS[1] as string));
  });

  it('is not asked for when a device gets no ciphertext (the fetch answered nothing for it)', async () => {
    expect(await plain.hdel(sessionsKey, FIELD3)).toBe(1);
    const r = record('no bundle');
    const saved = bundles.get(JIDS[1] as string) as KeyBundle;
    const answerNothing = { iq: async () => ({ op: 'bundles', users: [] }) } as unknown as HubConnection;
    let calls = 0;
    await expect(encryptMessage(answerNothing, edge, store, LOCAL, r, devices, () => (calls++, undefined))).rejects.toThrow(/returned nothing/);
    expect(calls).toBe(0);
    expect(await storedFrame(r)).toBeUndefined();
    bundles.set(JIDS[1] as string, saved);
  });
});
