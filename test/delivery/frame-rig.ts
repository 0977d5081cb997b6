// A message's Signal set-up on a real Redis, for the tests of the frame its outbox record keeps
// (status-frame-first.test.ts, frame-second-holder.test.ts): alice's account with a session to
// the one device of a hub user, an outbox, a queued message and a reader of its stored frame.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createAccount } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { PeerLock } from '../../src/crypto/peer-lock.ts';
import { RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { SignalEdge } from '../../src/crypto/signal-edge.ts';
import { Outbox, type OutboundRecord } from '../../src/delivery/outbox.ts';
import { StatusLog } from '../../src/delivery/status-log.ts';
import { computeDhash, deviceAddress } from '../../src/protocol/index.ts';
import type { KeyBundle } from '../../src/protocol/types.ts';
import { testRedis } from '../support/redis.ts';

export const USER = 'alice@birdy.interop';
export const LOCAL = deviceAddress(USER, 1);
export const PEER = '447700900123@hub';
export const JID = deviceAddress(PEER, 0);

/** `outboxRedis`: the outbox's connection (default: the rig's own, `redis`). */
export function frameRig(outboxRedis?: Redis) {
  const { redis, prefix, cleanup } = testRedis();
  const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
  const edge = new SignalEdge(new PeerLock(prefix));
  const outbox = new Outbox(outboxRedis ?? redis, ring, prefix, new StatusLog(outboxRedis ?? redis, prefix));
  const store = new RedisSignalStore(redis, ring, prefix, USER);
  /** PEER's device list: JID alone. */
  const deviceList = { jid: PEER, devices: [0], dhash: computeDhash([JID]) };

  return {
    redis, prefix, ring, edge, outbox, store, deviceList,

    /** Creates alice's account and her session with JID (from a bundle of its own account). */
    async start(): Promise<void> {
      await createAccount(store, { preKeys: 1, kyberPreKeys: 1 });
      const up = await createAccount(new RedisSignalStore(redis, ring, `${prefix}-hub`, JID), { preKeys: 1, kyberPreKeys: 1 });
      const bundle = { registration: up.registration, identity: up.identity, skey: up.skey, kyber: up.kyber, key: up.preKeys?.[0] } as KeyBundle;
      await edge.startSession(store, LOCAL, JID, bundle);
    },

    /** A new text message from alice to PEER, its record queued in the outbox. */
    async queued(): Promise<OutboundRecord> {
      const r: OutboundRecord = { id: `m-${randomBytes(4).toString('hex')}`, adapterId: 'rec', idempotencyKey: 'k', user: USER, peer: PEER, from: 'alice', t: 1_700_000_000, message: { idempotencyKey: 'k', from: 'alice', to: PEER, text: 'once' } };
      await redis.hset(outbox.recordKey(USER, r.id), 'state', 'queued');
      return r;
    },

    /** The frame stored in message `id`'s outbox record, opened. */
    async storedFrame(id: string): Promise<string | undefined> {
      const key = outbox.recordKey(USER, id);
      const sealed = await redis.hgetBuffer(key, 'frame');
      return sealed ? ring.open(sealed, `${key}|frame`).toString('utf8') : undefined;
    },

    async close(): Promise<void> {
      const keys = await redis.keys(`${prefix}-hub*`);
      if (keys.length > 0) await redis.del(...keys);
      await cleanup();
    },
  };
}
