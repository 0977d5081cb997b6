// A new bridge device's Olm account is in Redis before its keys are published: once the
// homeserver has the device's identity keys (and one-time keys, by key id), a device opened again
// after a failure or a crash — another process restoring it from Redis — must hold that same
// account. An account created again under the same device id would publish other identity keys
// for it (clients refuse a known device whose keys changed) and other one-time keys under the same
// key ids (a homeserver refuses those). And a failed open leaves nothing open in the process: the
// next open of the device there drops the in-process databases before restoring them, which an
// OlmMachine left open would block for ever. Here the first open's state writes are refused (the
// lease not held at that moment); the device is opened again in another process, or this one.
// And an open that fails after close() dropped the devices (the lease lost or taken meanwhile)
// must not remove the device opened in its place since from the open devices. Real
// matrix-sdk-crypto-wasm device, the in-process homeserver, real Redis.
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeDevice } from '../../../adapters/matrix/bridge-device.ts';
import { DeviceStore } from '../../../adapters/matrix/device-store.ts';
import { Devices } from '../../../adapters/matrix/devices.ts';
import { LeaseLostError } from '../../../adapters/matrix/lease.ts';
import { MatrixApi } from '../../../adapters/matrix/matrix-api.ts';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { testRedis } from '../../support/redis.ts';
import { startHomeserver, type TestHomeserver } from './support/homeserver.ts';

const SERVER = 'open.example';
const PUPPET = `@hub_8:${SERVER}`;
const PUPPET2 = `@hub_9:${SERVER}`;
const PUPPET3 = `@hub_10:${SERVER}`;
const t = testRedis();
let hs: TestHomeserver;
let api: MatrixApi;

beforeAll(async () => {
  await Devices.init();
  hs = await startHomeserver({
    serverName: SERVER,
    registration: { id: 'cw', url: 'http://127.0.0.1:1', as_token: 'as-open', hs_token: 'hs-open', sender_localpart: 'hubbot', namespaces: { users: [{ exclusive: true, regex: `@hub_[0-9]+:${SERVER.replace('.', '\\.')}` }], aliases: [], rooms: [] } } as never,
  });
  hs.appservice.paused = true;
  api = new MatrixApi(hs.url, () => 'as-open');
  await api.register('hub_8', { userId: PUPPET });
}, 60_000);

afterAll(async () => {
  api?.close();
  await hs?.close();
  await t.cleanup();
});

/**
 * A store whose writes after the first (the device id) are refused until `allow()`: the lease
 * answers the device's open (its holding) and that first write, and nothing more.
 */
function refusingStore(name: string): { store: DeviceStore; allow(): void } {
  const leaseKey = `${t.prefix}:${name}:lease`;
  let asked = 0;
  let refuse = true;
  const fence = { key: leaseKey, heldToken: () => (refuse && ++asked > 2 ? undefined : 'me') };
  const store = new DeviceStore(t.redis, new Keyring([{ id: 'k', key: randomBytes(32) }], 'k'), `${t.prefix}:${name}`, fence);
  return { store, allow: () => void (refuse = false) };
}

const published = (userId: string, deviceId: string) => (hs.state.users.get(userId)?.devices.get(deviceId)?.keys as { keys?: Record<string, string> } | undefined)?.keys;

describe('a new device whose first state write fails', () => {
  it('has published no keys that the device opened again (another process) does not hold', async () => {
    await t.redis.set(`${t.prefix}:a:lease`, 'me');
    const { store, allow } = refusingStore('a');
    await expect(BridgeDevice.open(PUPPET, api, store, `cw|${t.prefix}|p1`)).rejects.toBeInstanceOf(LeaseLostError);
    const deviceId = (await store.deviceId(PUPPET)) as string;
    expect(deviceId).toBeDefined();
    const before = published(PUPPET, deviceId);

    allow();
    const again = await BridgeDevice.open(PUPPET, api, store, `cw|${t.prefix}|p2`);
    try {
      expect(again.deviceId).toBe(deviceId);
      const after = published(PUPPET, deviceId);
      expect(after?.[`ed25519:${deviceId}`]).toBeDefined();
      // Whatever was published first is what the device holds now.
      if (before !== undefined) expect(after).toEqual(before);
    } finally {
      again.close();
    }
  }, 30_000);

  it('opens again in the same process (what it left in memory does not block the restore)', async () => {
    await api.register('hub_9', { userId: PUPPET2 });
    await t.redis.set(`${t.prefix}:b:lease`, 'me');
    const { store, allow } = refusingStore('b');
    const ns = `cw|${t.prefix}|same`;
    await expect(BridgeDevice.open(PUPPET2, api, store, ns)).rejects.toBeInstanceOf(LeaseLostError);
    allow();
    const opened = BridgeDevice.open(PUPPET2, api, store, ns);
    const again = await Promise.race([opened, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
    expect(again, 'the second open did not finish within 5 s').toBeDefined();
    try {
      const deviceId = (again as BridgeDevice).deviceId;
      expect(published(PUPPET2, deviceId)?.[`ed25519:${deviceId}`]).toBeDefined();
    } finally {
      again?.close();
    }
  }, 30_000);
});

describe('an open that fails after the devices were dropped (lease lost or taken)', () => {
  it('does not forget the device opened since in its place', async () => {
    await api.register('hub_10', { userId: PUPPET3 });
    const store = new DeviceStore(t.redis, new Keyring([{ id: 'k', key: randomBytes(32) }], 'k'), `${t.prefix}:c`);
    // The first open waits before it starts, then fails; later opens go through.
    let fail!: (e: Error) => void;
    const first = new Promise<void>((_res, rej) => (fail = rej));
    let calls = 0;
    const devices = new Devices({ api, store, namespace: `cw|${t.prefix}|c`, logger: pino({ level: 'silent' }), ensureUser: () => (++calls === 1 ? first : Promise.resolve()) });
    const old = devices.get(PUPPET3);
    const closed = devices.close(); // drops what is in memory; the first open is still running
    const current = await devices.get(PUPPET3);
    fail(new Error('lease lost'));
    await expect(old).rejects.toThrow('lease lost');
    await closed;
    try {
      expect(devices.openCount).toBe(1);
      expect(await devices.get(PUPPET3)).toBe(current);
    } finally {
      await devices.close();
    }
  }, 30_000);
});
