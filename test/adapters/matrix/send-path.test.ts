// The bridge's encrypted send path without the per-send preparation (bridge-device.ts): a device
// that already shared its group session of a room with the same members skips the key queries,
// Olm claims and key sharing, but still rotates the session before the library's limit (an
// encrypt past it aborts the process), shares again after a device-list change or with new
// members, and writes its state once for concurrent sends — before the ciphertexts leave, so a
// device reopened from Redis never reuses a message index. Real matrix-sdk-crypto-wasm devices on
// both sides, the in-process homeserver, real Redis. Also the transaction's event groups.
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { OlmMachine } from '@matrix-org/matrix-sdk-crypto-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../../adapters/matrix/bridge.ts';
import { BridgeDevice, megolmIndex } from '../../../adapters/matrix/bridge-device.ts';
import { DeviceStore } from '../../../adapters/matrix/device-store.ts';
import { Devices } from '../../../adapters/matrix/devices.ts';
import { groupEvents, handleGroups } from '../../../adapters/matrix/event-groups.ts';
import { BridgeIds } from '../../../adapters/matrix/ids.ts';
import { MatrixApi, type Json } from '../../../adapters/matrix/matrix-api.ts';
import { handleEvent } from '../../../adapters/matrix/matrix-inbound.ts';
import { Portals } from '../../../adapters/matrix/portals.ts';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { BenchMatrixDevice } from '../../../bench/matrix-sender.ts';
import { testRedis } from '../../support/redis.ts';
import { startHomeserver, type TestHomeserver } from './support/homeserver.ts';

const SERVER = 'send.example';
const PUPPET = `@hub_1:${SERVER}`;
const ROOM = `!portal:${SERVER}`;
const t = testRedis();
let hs: TestHomeserver;
let api: MatrixApi;
let store: CountingStore;
let puppet: BridgeDevice;
let alice: BenchMatrixDevice;

class CountingStore extends DeviceStore {
  flushes = 0;
  override async flush(userId: string, dbPrefix: string, full = false): Promise<number> {
    this.flushes++;
    return super.flush(userId, dbPrefix, full);
  }
}

/** Counts the library's key sharing calls (the preparation the fast path skips). */
let shares = 0;
const share = OlmMachine.prototype.shareRoomKey;

beforeAll(async () => {
  await Devices.init();
  OlmMachine.prototype.shareRoomKey = function counted(this: OlmMachine, ...a: Parameters<typeof share>) {
    shares++;
    return share.apply(this, a);
  };
  hs = await startHomeserver({
    serverName: SERVER,
    registration: { id: 'cw', url: 'http://127.0.0.1:1', as_token: 'as-send', hs_token: 'hs-send', sender_localpart: 'hubbot', namespaces: { users: [{ exclusive: true, regex: `@hub_[0-9]+:${SERVER.replace('.', '\\.')}` }], aliases: [], rooms: [] } } as never,
  });
  hs.appservice.paused = true;
  api = new MatrixApi(hs.url, () => 'as-send');
  await api.register('hub_1', { userId: PUPPET });
  store = new CountingStore(t.redis, new Keyring([{ id: 'k', key: randomBytes(32) }], 'k'), `${t.prefix}:send`);
  puppet = await BridgeDevice.open(PUPPET, api, store, `cw|${t.prefix}|a`);
  alice = await BenchMatrixDevice.create(hs, 'alice');
}, 60_000);

afterAll(async () => {
  OlmMachine.prototype.shareRoomKey = share;
  puppet?.close();
  api?.close();
  await hs?.close();
  await t.cleanup();
});

/** Alice's device takes its queued room keys and decrypts an event the puppet encrypted. */
async function read(by: BenchMatrixDevice, content: Json, n: number): Promise<string> {
  await by.receiveToDevice(by.takeToDevice());
  const r = await by.decrypt(ROOM, { type: 'm.room.encrypted', room_id: ROOM, sender: PUPPET, content, event_id: `$e${n}-${randomBytes(3).toString('hex')}`, origin_server_ts: Date.now() });
  return (JSON.parse(r.event) as { content: { body: string } }).content.body;
}

describe('encrypted sends of a bridge device', () => {
  it('share the room key once, then only encrypt; rotate the session before its 100-message limit', async () => {
    const before = shares;
    const sessions = new Set<string>();
    let last = -1;
    for (let i = 0; i < 230; i++) {
      const c = await puppet.encrypt(ROOM, [PUPPET, alice.userId], 'm.room.message', { msgtype: 'm.text', body: `hello ${i}` });
      sessions.add(String(c.session_id));
      const index = megolmIndex(c.ciphertext) as number;
      expect(index).toBeLessThan(100);
      if (index !== 0) expect(index).toBe(last + 1);
      last = index;
      expect(await read(alice, c, i)).toBe(`hello ${i}`);
    }
    // 230 messages: three sessions (0–98 or so each), and a full preparation only around each rotation.
    expect(sessions.size).toBe(3);
    expect(shares - before).toBeLessThanOrEqual(6);
  }, 60_000);

  it('shares again with a new member, and with a member’s new device after a device-list change', async () => {
    const bob = await BenchMatrixDevice.create(hs, 'bob');
    const c1 = await puppet.encrypt(ROOM, [PUPPET, alice.userId, bob.userId], 'm.room.message', { body: 'with bob' });
    expect(await read(bob, c1, 1)).toBe('with bob');
    // Alice logs in on a second device: the homeserver reports her device list as changed.
    const alice2 = await BenchMatrixDevice.create(hs, 'alice');
    const stale = await puppet.encrypt(ROOM, [PUPPET, alice.userId, bob.userId], 'm.room.message', { body: 'before the change' });
    await expect(read(alice2, stale, 2)).rejects.toThrow(); // nothing told the device yet
    await puppet.receive({ toDevice: [], changed: [alice.userId], left: [] });
    const c2 = await puppet.encrypt(ROOM, [PUPPET, alice.userId, bob.userId], 'm.room.message', { body: 'after the change' });
    expect(await read(alice2, c2, 3)).toBe('after the change');
    expect(await read(alice, c2, 4)).toBe('after the change');
  }, 60_000);

  it('writes concurrent sends in fewer flushes, and a reopened device continues after the last index', async () => {
    const sent = await Promise.all(Array.from({ length: 12 }, (_, i) => puppet.encrypt(ROOM, [PUPPET, alice.userId], 'm.room.message', { body: `batch ${i}` })));
    // Twelve sends asking for their write at once: one write starts, the other eleven share the next.
    const flushes = store.flushes;
    await Promise.all(sent.map(() => puppet.persist()));
    expect(store.flushes - flushes).toBe(2);
    const lastIndex = Math.max(...sent.map((c) => megolmIndex(c.ciphertext) as number));
    const session = String((sent.at(-1) as Json).session_id);
    // Another process (namespace) restores the device from Redis: same session, next index.
    const again = await BridgeDevice.open(PUPPET, api, store, `cw|${t.prefix}|b`);
    try {
      const c = await again.encrypt(ROOM, [PUPPET, alice.userId], 'm.room.message', { body: 'after restart' });
      if (c.session_id === session) expect(megolmIndex(c.ciphertext)).toBe(lastIndex + 1);
      expect(await read(alice, c, 5)).toBe('after restart');
    } finally {
      again.close();
    }
  }, 60_000);

  it('reads the message index of a Megolm ciphertext, varint included, and refuses anything else', () => {
    const ct = (index: number): string => {
      const v: number[] = [];
      for (let x = index; ; x = Math.floor(x / 128)) {
        if (x < 128) {
          v.push(x);
          break;
        }
        v.push((x % 128) | 0x80);
      }
      return Buffer.from([3, 0x08, ...v, 0x12, 0x20, ...randomBytes(40)]).toString('base64').replace(/=+$/, '');
    };
    for (const i of [0, 1, 99, 127, 128, 300, 16_384, 9_999_999]) expect(megolmIndex(ct(i))).toBe(i);
    expect(megolmIndex(Buffer.from([4, 0x08, 1]).toString('base64'))).toBeUndefined();
    expect(megolmIndex(Buffer.from([3, 0x10, 1]).toString('base64'))).toBeUndefined();
    expect(megolmIndex(42)).toBeUndefined();
    expect(megolmIndex('')).toBeUndefined();
  });
});

describe('event groups of a transaction', () => {
  const ev = (id: string, room: string, sender: string): Json => ({ event_id: id, room_id: room, sender });

  it('keeps the order of each room and of each sender, and separates unrelated conversations', () => {
    const events = [ev('1', '!a', '@u'), ev('2', '!b', '@v'), ev('3', '!c', '@u'), ev('4', '!b', '@w'), ev('5', '!d', '@x'), ev('6', '!a', '@u')];
    const groups = groupEvents(events).map((g) => g.map((e) => e.event_id));
    expect(groups).toEqual([['1', '3', '6'], ['2', '4'], ['5']]);
    expect(groupEvents([ev('1', '!a', '@u'), ev('2', '!b', '@v'), ev('3', '!b', '@u')]).map((g) => g.map((e) => e.event_id))).toEqual([['1', '2', '3']]);
  });

  it('runs groups concurrently, each in order; a failure stops its group only, and is thrown at the end', async () => {
    const seen: string[] = [];
    let running = 0;
    let most = 0;
    const groups = [[ev('a1', '!a', '@a'), ev('a2', '!a', '@a')], [ev('b1', '!b', '@b'), ev('b2', '!b', '@b')], [ev('c1', '!c', '@c')]];
    await expect(handleGroups(groups, 8, async (g) => {
      running++;
      most = Math.max(most, running);
      try {
        for (const e of g) {
          await new Promise((r) => setTimeout(r, 5));
          if (e.event_id === 'b1') throw new Error('b1 failed');
          seen.push(String(e.event_id));
        }
      } finally {
        running--;
      }
    })).rejects.toThrow('b1 failed');
    expect(most).toBe(3);
    expect(seen.filter((x) => x.startsWith('a'))).toEqual(['a1', 'a2']);
    expect(seen).toContain('c1');
    expect(seen).not.toContain('b2');
  });
});

describe('joined members of a room', () => {
  it('are asked once, then reused until a membership event of the room arrives (the bridge’s own too) or the lease moves', async () => {
    const asked: string[] = [];
    const members: Record<string, string[]> = { '!a': ['@u:x', PUPPET], '!b': ['@v:x', PUPPET] };
    const fake = { joinedMembers: async (_as: unknown, roomId: string) => (asked.push(roomId), [...(members[roomId] ?? [])]) };
    const ids = new BridgeIds({ server_name: SERVER, bot_localpart: 'hubbot', puppet_localpart: 'hub_{phone}' });
    const bridge = new Bridge({ adapterId: 'm', config: {} as never, ids, api: fake as never, devices: {} as never, portals: new Portals(t.redis, `${t.prefix}:p`), logger: pino({ level: 'silent' }) });
    expect(await bridge.joinedMembers(PUPPET, '!a')).toEqual(['@u:x', PUPPET]);
    expect(await bridge.joinedMembers(PUPPET, '!a')).toEqual(['@u:x', PUPPET]);
    expect(await bridge.joinedMembers(PUPPET, '!b')).toEqual(['@v:x', PUPPET]);
    expect(asked).toEqual(['!a', '!b']);
    members['!a'] = ['@u:x', '@w:x', PUPPET];
    const deps = { bridge, downgrade: () => 'convert' as const, deferUndecryptable: async () => undefined };
    await handleEvent(deps, { type: 'm.room.member', room_id: '!a', sender: '@w:x', state_key: '@w:x', event_id: '$m1', content: { membership: 'join' } });
    expect(await bridge.joinedMembers(PUPPET, '!a')).toEqual(['@u:x', '@w:x', PUPPET]);
    expect(await bridge.joinedMembers(PUPPET, '!b')).toEqual(['@v:x', PUPPET]);
    expect(asked).toEqual(['!a', '!b', '!a']);
    await handleEvent(deps, { type: 'm.room.member', room_id: '!b', sender: PUPPET, state_key: PUPPET, event_id: '$m2', content: { membership: 'join' } });
    await bridge.joinedMembers(PUPPET, '!b');
    expect(asked).toEqual(['!a', '!b', '!a', '!b']);
    bridge.forgetMembers();
    await bridge.joinedMembers(PUPPET, '!b');
    expect(asked).toEqual(['!a', '!b', '!a', '!b', '!b']);
  });
});
