// Device-state writes are fenced by the holding of the bridge lease under which the device was
// opened, not by the replica: a write that a replica started while it held the lease, and that
// reaches Redis after the lease went to another replica and came back, must be refused. Replica A
// holds the lease and a flush of its device reads its records; A loses the lease (it paused past
// its TTL); replica B takes it, opens the device from Redis and writes newer state (a Megolm
// session's next index, say), then hands the lease back; A takes it again. A's old write then
// reaches Redis: it would overwrite B's state (a restored device would reuse message indexes) if
// the fence only knew the replica. Likewise a flush that a device opened in the earlier holding
// starts only once A holds the lease again (the work that had the device in hand went on). Two BridgeLease instances on real Redis, a real
// matrix-sdk-crypto-wasm device opened by each, the in-process homeserver; A's device-store writes
// (EVALSHA) are held at will.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeDevice } from '../../../adapters/matrix/bridge-device.ts';
import { DeviceStore } from '../../../adapters/matrix/device-store.ts';
import { Devices } from '../../../adapters/matrix/devices.ts';
import { dirtyWith, keyToken } from '../../../adapters/matrix/idb-snapshot.ts';
import { BridgeLease, LeaseLostError } from '../../../adapters/matrix/lease.ts';
import { MatrixApi } from '../../../adapters/matrix/matrix-api.ts';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { until } from '../../delivery/harness.ts';
import { REDIS_URL, testRedis } from '../../support/redis.ts';
import { startHomeserver, type TestHomeserver } from './support/homeserver.ts';
import { gate, openDb, putRecord, req, type Req } from './support/idb.ts';

const SERVER = 'holding.example';
const PUPPET = `@hub_11:${SERVER}`;
const REL = '::holding-db';
const t = testRedis();
const keyring = new Keyring([{ id: 'k', key: randomBytes(32) }], 'k');
const logger = pino({ level: 'silent' });
let hs: TestHomeserver;
let api: MatrixApi;
let connA: Redis;

/** A's device-store writes (EVALSHA) wait for these, one per write, in order. */
const holds: Array<Promise<void>> = [];
const writesSeen: Array<() => void> = [];

/** Stands for the library advancing a Megolm session: the record's next message index. */
async function setIndex(name: string, index: number): Promise<void> {
  const db = await openDb(name);
  try {
    await putRecord(db, { id: 'megolm', index });
  } finally {
    db.close();
  }
}
/** The record's index as stored in Redis (restored under a fresh prefix). */
async function storedIndex(store: DeviceStore): Promise<unknown> {
  const p = `cw|${t.prefix}|check-${randomBytes(3).toString('hex')}|${PUPPET}|DEV`;
  await store.load(PUPPET, p);
  const db = await openDb(`${p}${REL}`);
  try {
    const tx = db.transaction(['s'], 'readonly') as unknown as { objectStore(n: string): { get(k: string): Req<{ index: number } | undefined> } };
    return (await req(tx.objectStore('s').get('megolm')))?.index;
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  await Devices.init();
  hs = await startHomeserver({
    serverName: SERVER,
    registration: { id: 'cw', url: 'http://127.0.0.1:1', as_token: 'as-hold', hs_token: 'hs-hold', sender_localpart: 'hubbot', namespaces: { users: [{ exclusive: true, regex: `@hub_[0-9]+:${SERVER.replace('.', '\\.')}` }], aliases: [], rooms: [] } } as never,
  });
  hs.appservice.paused = true;
  api = new MatrixApi(hs.url, () => 'as-hold');
  await api.register('hub_11', { userId: PUPPET });
  connA = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  const c = connA as unknown as { evalshaBuffer: (...a: unknown[]) => Promise<unknown> };
  const evalsha = c.evalshaBuffer.bind(connA);
  c.evalshaBuffer = async (...a: unknown[]) => {
    writesSeen.shift()?.();
    const hold = holds.shift();
    if (hold) await hold;
    return evalsha(...a);
  };
}, 60_000);

afterAll(async () => {
  api?.close();
  connA?.disconnect();
  await hs?.close();
  await t.cleanup();
});


/** Replicas A and B of one bridge (leases, stores, in-process namespaces) on real Redis. */
function replicas(name: string, o: { disposeOnLost: boolean }) {
  const leaseKey = `${t.prefix}:${name}:lease`;
  const base = `${t.prefix}:${name}`;
  const events: string[] = [];
  const dev: { a?: BridgeDevice; b?: BridgeDevice } = {};
  const drop = async (d: BridgeDevice | undefined) => void (await d?.dispose());
  const opts = { redis: t.redis, key: leaseKey, ttlMs: 600, waitMs: 3000, minHoldMs: 0, logger };
  const a: BridgeLease = new BridgeLease({
    ...opts,
    onAcquired: async () => void events.push('a:acquired'),
    onReleasing: async () => void events.push('a:releasing'),
    // What the adapter does: the devices are dropped, nothing waits for a flush under way (a
    // device whose lock a send holds is dropped only once the send is through).
    onLost: async () => {
      events.push('a:lost');
      if (o.disposeOnLost) await drop(dev.a);
    },
  });
  const b: BridgeLease = new BridgeLease({
    ...opts,
    onAcquired: async () => void events.push('b:acquired'),
    onReleasing: async () => {
      events.push('b:releasing');
      await dev.b?.persist();
      await drop(dev.b);
    },
    onLost: async () => void events.push('b:lost'),
  });
  a.start();
  b.start();
  const storeA = new DeviceStore(connA, keyring, base, a);
  const storeB = new DeviceStore(t.redis, keyring, base, b);
  const ns = (n: string) => `cw|${t.prefix}|${name}-${n}`;
  const db = (n: string, deviceId: string) => `${ns(n)}|${PUPPET}|${deviceId}${REL}`;
  return {
    a, b, events, dev, storeA, storeB, ns, db, leaseKey,
    /** A holds the lease: its device is opened and writes index 1. */
    async aOpensAndWritesIndex1(): Promise<BridgeDevice> {
      const d = await a.run(() => BridgeDevice.open(PUPPET, api, storeA, ns('A')));
      dev.a = d;
      await a.run(async () => {
        await setIndex(db('A', d.deviceId), 1);
        await d.persist();
      });
      return d;
    },
    /** A's lease expires (A paused past its TTL); B takes it, opens the device from Redis and writes index 3. */
    async bTakesOver(deviceId: string): Promise<void> {
      await t.redis.del(leaseKey);
      await b.run(async () => {
        dev.b = await BridgeDevice.open(PUPPET, api, storeB, ns('B'));
        expect(dev.b.deviceId).toBe(deviceId);
        await setIndex(db('B', deviceId), 3);
        await dev.b.persist();
      });
      await until(() => events.includes('a:lost'), 5_000, 'A notices the lease is lost');
      expect(await storedIndex(storeB)).toBe(3);
    },
    /** A has work again: B hands the lease back, A takes it again; returns A's first holding's token. */
    async aTakesBack(): Promise<string> {
      const first = a.token;
      await a.run(async () => undefined);
      expect(events).toEqual(['a:acquired', 'b:acquired', 'a:lost', 'b:releasing', 'a:acquired']);
      expect(a.held).toBe(true);
      expect(await t.redis.get(leaseKey)).toBe(a.token);
      return first;
    },
    async close(): Promise<void> {
      holds.length = 0;
      await drop(dev.a).catch(() => undefined);
      await drop(dev.b).catch(() => undefined);
      await a.stop();
      await b.stop();
    },
  };
}

describe('a device-state write from an earlier holding of the lease', () => {
  it('is refused when it reaches Redis after the lease went to another replica and came back', async () => {
    const r = replicas('held', { disposeOnLost: true });
    try {
      // A holds the lease and its device wrote index 1; then a flush of index 2 reads its records
      // and is held on its way to Redis (A paused, say).
      const deviceA = await r.aOpensAndWritesIndex1();
      const deviceId = deviceA.deviceId;
      const slow = gate();
      const sent = new Promise<void>((res) => writesSeen.push(res));
      holds.push(slow.p);
      const stale = r.a.run(async () => {
        await setIndex(r.db('A', deviceId), 2);
        await deviceA.persist();
      });
      const staleOutcome = stale.then(() => 'written', (e: unknown) => e);
      await sent;

      await r.bTakesOver(deviceId);
      const newer = await t.redis.hgetBuffer(r.storeB.key(PUPPET), `rec|${REL}|s|${keyToken('megolm')}`);
      const first = await r.aTakesBack();

      // A's old write reaches Redis now: refused, and B's newer state stays.
      slow.open();
      expect(await staleOutcome).toBeInstanceOf(LeaseLostError);
      expect(await t.redis.hgetBuffer(r.storeB.key(PUPPET), `rec|${REL}|s|${keyToken('megolm')}`)).toEqual(newer);
      expect(await storedIndex(r.storeB)).toBe(3);

      // The device opened again under the current holding reads B's state and writes normally.
      const again = await r.a.run(() => BridgeDevice.open(PUPPET, api, r.storeA, r.ns('A2')));
      r.dev.a = again;
      await r.a.run(async () => {
        await setIndex(r.db('A2', deviceId), 4);
        await again.persist();
      });
      expect(await storedIndex(r.storeB)).toBe(4);
      expect(r.a.token).not.toBe(first); // each holding has a token of its own
    } finally {
      await r.close();
    }
  }, 30_000);

  it('is refused when a device opened in the earlier holding flushes once the lease came back', async () => {
    const r = replicas('late', { disposeOnLost: false });
    try {
      const deviceA = await r.aOpensAndWritesIndex1();
      const deviceId = deviceA.deviceId;
      await r.bTakesOver(deviceId);
      await r.aTakesBack();

      // The work that had A's device in hand goes on: its state advances from what it held (index
      // 2, not B's 3) and it flushes, in A's new holding. Refused; the change stays to be written.
      await setIndex(r.db('A', deviceId), 2);
      await expect(r.a.run(() => deviceA.persist())).rejects.toBeInstanceOf(LeaseLostError);
      expect(await storedIndex(r.storeB)).toBe(3);
      expect(dirtyWith(r.ns('A'))).toContain(r.db('A', deviceId));
    } finally {
      await r.close();
    }
  }, 30_000);
});
