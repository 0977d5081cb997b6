// The writes of one bridge device's state (BridgeDevice.persist): one at a time, and a caller that
// asks while a write runs waits for the next one, which writes what it changed. A persist asked
// in the instant between the end of a write and the start of the queued one must join that queued
// write, not start another beside it: the queued write would then find nothing left to write and
// resolve its callers (a send about to post its ciphertext, a transaction about to be
// acknowledged) while the other write still holds their records. Real matrix-sdk-crypto-wasm
// device, the in-process homeserver, real Redis; Redis writes of the device store held at will.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeDevice } from '../../../adapters/matrix/bridge-device.ts';
import { DeviceStore } from '../../../adapters/matrix/device-store.ts';
import { Devices } from '../../../adapters/matrix/devices.ts';
import { keyToken } from '../../../adapters/matrix/idb-snapshot.ts';
import { MatrixApi } from '../../../adapters/matrix/matrix-api.ts';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { REDIS_URL, testRedis } from '../../support/redis.ts';
import { startHomeserver, type TestHomeserver } from './support/homeserver.ts';
import { gate, openDb, putRecord, type Db } from './support/idb.ts';

const SERVER = 'race.example';
const PUPPET = `@hub_7:${SERVER}`;
const REL = '::race-db';
const t = testRedis();
let hs: TestHomeserver;
let api: MatrixApi;
let conn: Redis;
let store: DeviceStore;
let device: BridgeDevice;
let ns: string;

/** Device-store writes (EVALSHA) wait for these, one per write, in order. */
const holds: Array<Promise<void>> = [];
const writesSeen: Array<() => void> = [];

const put = (db: Db, id: string): Promise<void> => putRecord(db, { id, at: Date.now() });

beforeAll(async () => {
  await Devices.init();
  hs = await startHomeserver({
    serverName: SERVER,
    registration: { id: 'cw', url: 'http://127.0.0.1:1', as_token: 'as-race', hs_token: 'hs-race', sender_localpart: 'hubbot', namespaces: { users: [{ exclusive: true, regex: `@hub_[0-9]+:${SERVER.replace('.', '\\.')}` }], aliases: [], rooms: [] } } as never,
  });
  hs.appservice.paused = true;
  api = new MatrixApi(hs.url, () => 'as-race');
  await api.register('hub_7', { userId: PUPPET });
  conn = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  const c = conn as unknown as { evalshaBuffer: (...a: unknown[]) => Promise<unknown> };
  const evalsha = c.evalshaBuffer.bind(conn);
  c.evalshaBuffer = async (...a: unknown[]) => {
    writesSeen.shift()?.();
    const hold = holds.shift();
    if (hold) await hold;
    return evalsha(...a);
  };
  store = new DeviceStore(conn, new Keyring([{ id: 'k', key: randomBytes(32) }], 'k'), `${t.prefix}:race`);
  ns = `cw|${t.prefix}|race`;
  device = await BridgeDevice.open(PUPPET, api, store, ns);
}, 60_000);

afterAll(async () => {
  device?.close();
  api?.close();
  conn?.disconnect();
  await hs?.close();
  await t.cleanup();
});

describe('a persist asked as one write ends and the queued one has not started', () => {
  it('joins the queued write: its callers resolve only once what they changed is in Redis', async () => {
    const db = await openDb(`${ns}|${PUPPET}|${device.deviceId}${REL}`);
    try {
      // Write 1 runs, held at Redis.
      await put(db, 'a');
      const first = gate();
      const firstSent = new Promise<void>((r) => writesSeen.push(r));
      holds.push(first.p);
      const p1 = device.persist();
      await firstSent;
      // A record changes while write 1 runs; its caller waits for the next write.
      await put(db, 'x');
      const p2 = device.persist();
      // Another caller asks for a write in the instant write 1 has ended (its own awaiters run then).
      const second = gate();
      holds.push(second.p);
      let p3: Promise<void> | undefined;
      void p1.then(() => {
        p3 = device.persist();
      });
      const field = `rec|${REL}|s|${keyToken('x')}`;
      const xWrittenWhenP2Resolved = p2.then(() => t.redis.hexists(store.key(PUPPET), field));
      first.open();
      await p1;
      // The next write is held for a while; p2 must not resolve before it is through.
      await new Promise((r) => setTimeout(r, 300));
      second.open();
      await p2;
      await p3;
      expect(await xWrittenWhenP2Resolved).toBe(1);
      expect(await t.redis.hexists(store.key(PUPPET), field)).toBe(1);
    } finally {
      holds.length = 0;
      db.close();
    }
  }, 30_000);
});
