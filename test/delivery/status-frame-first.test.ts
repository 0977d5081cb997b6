// Two holders of one lane that both encrypt the same message (the first one's lease expired while
// it encrypted, or its ack was late): the frame stored first stays. It may already be at the hub,
// which keeps the accepted stanza and answers a different body under its id with `id-reused`, so
// the stored frame is what every resend must carry (spec 4: byte-identical). The frame is written
// by the Signal unit's COMMIT as a "set if absent" write (UnitWrites `nx`), in the same script.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { PeerLock } from '../../src/crypto/peer-lock.ts';
import { RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { SignalEdge } from '../../src/crypto/signal-edge.ts';
import { Staged } from '../../src/crypto/unit-writes.ts';
import { encryptMessage } from '../../src/delivery/encrypt-message.ts';
import { Outbox, type OutboundRecord } from '../../src/delivery/outbox.ts';
import { StatusLog } from '../../src/delivery/status-log.ts';
import type { HubConnection } from '../../src/hub/connection.ts';
import { buildStanza, computeDhash, deviceAddress } from '../../src/protocol/index.ts';
import type { KeyBundle } from '../../src/protocol/types.ts';
import { testRedis } from '../support/redis.ts';

const { redis, prefix, cleanup } = testRedis();
const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
const edge = new SignalEdge(new PeerLock(prefix));
const outbox = new Outbox(redis, ring, prefix, new StatusLog(redis, prefix));
const USER = 'alice@birdy.interop';
const LOCAL = deviceAddress(USER, 1);
const PEER = '447700900123@hub';
const JID = deviceAddress(PEER, 0);
const store = new RedisSignalStore(redis, ring, prefix, USER);
const conn = {} as HubConnection; // every device has a session: no bundle fetch
const devices = { jid: PEER, devices: [0], dhash: computeDhash([JID]) };

beforeAll(async () => {
  await createAccount(store, { preKeys: 1, kyberPreKeys: 1 });
  const up = await createAccount(new RedisSignalStore(redis, ring, `${prefix}-hub`, JID), { preKeys: 1, kyberPreKeys: 1 });
  const bundle = { registration: up.registration, identity: up.identity, skey: up.skey, kyber: up.kyber, key: up.preKeys?.[0] } as KeyBundle;
  await edge.startSession(store, LOCAL, JID, bundle);
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}-hub*`);
  if (keys.length > 0) await redis.del(...keys);
  await cleanup();
});

async function storedFrame(id: string): Promise<string | undefined> {
  const key = outbox.recordKey(USER, id);
  const sealed = await redis.hgetBuffer(key, 'frame');
  return sealed ? ring.open(sealed, `${key}|frame`).toString('utf8') : undefined;
}

describe('the stored frame of a message encrypted twice', () => {
  it('is the first one: the second encrypt (another holder of the lane) does not overwrite it', async () => {
    const r: OutboundRecord = { id: `m-${randomBytes(4).toString('hex')}`, adapterId: 'rec', idempotencyKey: 'k', user: USER, peer: PEER, from: 'alice', t: 1_700_000_000, message: { idempotencyKey: 'k', from: 'alice', to: PEER, text: 'once' } };
    await redis.hset(outbox.recordKey(USER, r.id), 'state', 'queued');
    const frames: string[] = [];
    for (let i = 0; i < 2; i++) {
      await encryptMessage(conn, edge, store, LOCAL, r, devices, (m) => {
        const f = buildStanza(m);
        frames.push(f);
        return outbox.frameWrites(USER, r.id, f);
      });
    }
    expect(frames).toHaveLength(2);
    expect(frames[1]).not.toBe(frames[0]); // a second ratchet step: a different body
    expect(await storedFrame(r.id)).toBe(frames[0]);
    // After a 409 the frame is dropped on purpose (the id is unused): the next encrypt stores its own.
    await outbox.dropFrame(USER, r.id);
    await encryptMessage(conn, edge, store, LOCAL, r, devices, (m) => outbox.frameWrites(USER, r.id, (frames[2] = buildStanza(m))));
    expect(await storedFrame(r.id)).toBe(frames[2]);
  });

  it('a set-if-absent hash write is checked and encoded apart from a plain HSET', () => {
    const s = new Staged();
    s.add({ hashes: [{ key: 'a', fields: { f: 'v' } }, { key: 'b', fields: { g: 'w', h: 'x' }, ttlS: 5, nx: true }] });
    expect(s.keys).toEqual(['a', 'b']);
    expect(s.args).toEqual(['h', '1', '0', 'f', 'v', 'n', '2', '5', 'g', 'w', 'h', 'x']);
  });
});
