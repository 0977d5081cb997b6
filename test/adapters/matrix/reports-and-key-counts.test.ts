// Reports to the Matrix sender and key-count routing, checked on the modules themselves with a
// stand-in bridge (what they call of it is recorded) and a real Redis:
// - a refusal whose notice the homeserver refuses (a permanent Matrix error) is logged and does not
//   fail the transaction (it would fail again on every retry, blocking what comes after it);
// - one-time key counts and fallback key types of another device of a bridge user do not make
//   the bridge drop the to-device events and counts of the device it holds;
// - the undecryptable sweep and a transaction's retry running at once report an event once;
// - an undecryptable command in a management room is reported to its sender by the bot.
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { BridgeDevice, type SyncChanges } from '../../../adapters/matrix/bridge-device.ts';
import type { Bridge } from '../../../adapters/matrix/bridge.ts';
import type { DeviceStore } from '../../../adapters/matrix/device-store.ts';
import { Devices } from '../../../adapters/matrix/devices.ts';
import { MatrixApiError, type Json, type MatrixApi } from '../../../adapters/matrix/matrix-api.ts';
import { Portals, type Portal } from '../../../adapters/matrix/portals.ts';
import { prepareToHub, Refusal, refuse, type InboundDeps, type Pending } from '../../../adapters/matrix/to-hub.ts';
import { Undecryptable } from '../../../adapters/matrix/undecryptable.ts';
import { testRedis } from '../../support/redis.ts';

const t = testRedis();
afterAll(t.cleanup);
afterEach(() => vi.restoreAllMocks());

const log = pino({ level: 'silent' });
const BOT = '@hubbot:example.org';
const PUPPET = '@hub_447700900123:example.org';
const ALICE = '@alice:example.org';
const PORTAL: Portal = { roomId: '!portal:example.org', userId: ALICE, local: 'alice', hubUser: '447700900123@hub', puppet: PUPPET, encrypted: true };

interface Sent {
  as: string;
  roomId: string;
  type: string;
  content: Json;
  encrypted: boolean;
}

let bases = 0;
/**
 * A stand-in bridge over real portal records (Redis): records what is posted; `refuseNotices`
 * makes the homeserver refuse every m.notice.
 */
async function fakeBridge(o: { refuseNotices?: boolean; portal?: Portal; management?: { owner: string; roomId: string } } = {}): Promise<{ b: Bridge; sent: Sent[] }> {
  const sent: Sent[] = [];
  const post = async (as: string, roomId: string, type: string, content: Json, encrypted: boolean): Promise<string> => {
    if (o.refuseNotices && content.msgtype === 'm.notice') throw new MatrixApiError(403, 'M_FORBIDDEN', 'PUT send: 403 M_FORBIDDEN');
    sent.push({ as, roomId, type, content, encrypted });
    return `$sent${sent.length}`;
  };
  const portals = new Portals(t.redis, `${t.prefix}:b${bases++}`);
  if (o.portal) await portals.save(o.portal);
  if (o.management) await portals.setManagementRoom(o.management.owner, o.management.roomId);
  const b = {
    log,
    adapterId: 'matrix',
    config: { hub_name: 'Hub' },
    ids: { botUserId: BOT },
    portals,
    sendAs: (as: string, roomId: string, type: string, content: Json, encrypted: boolean) => post(as, roomId, type, content, encrypted),
    sendToPortal: (p: Portal, type: string, content: Json) => post(p.puppet, p.roomId, type, content, p.encrypted),
    notice: (p: Portal, text: string) => post(p.puppet, p.roomId, 'm.room.message', { msgtype: 'm.notice', body: text }, p.encrypted),
    // As Bridge.botNotice with the encryption known (the only form the reports use).
    botNotice: (roomId: string, _userId: string, text: string, encrypted: boolean) => post(BOT, roomId, 'm.room.message', { msgtype: 'm.notice', body: text }, encrypted),
  } as unknown as Bridge;
  return { b, sent };
}

const noPending: Pending = { has: () => false, flush: async () => undefined };

describe('a refusal whose notice cannot be posted', () => {
  it('is logged; refuse() resolves after posting the failure status', async () => {
    const { b, sent } = await fakeBridge({ refuseNotices: true });
    await expect(refuse(b, PORTAL, '$ev1', new Refusal('bad-request', 'text is too long'))).resolves.toBeUndefined();
    expect(sent.map((s) => s.type)).toEqual(['com.beeper.message_send_status']);
  });

  it('does not fail the preparation of the event (a policy rejection): the transaction goes on', async () => {
    const { b, sent } = await fakeBridge({ refuseNotices: true });
    const d: InboundDeps = { bridge: b, downgrade: () => 'reject', deferUndecryptable: async () => undefined };
    const e = { eventId: '$react1', type: 'm.reaction', content: { 'm.relates_to': { rel_type: 'm.annotation', event_id: '$unknown', key: '👍' } }, raw: {} };
    await expect(prepareToHub(d, PORTAL, e, noPending, 'ev|$react1')).resolves.toBeUndefined();
    expect(sent.map((s) => (s.content.status as string | undefined) ?? s.type)).toEqual(['FAIL_PERMANENT']);
  });

  it('does not fail the undecryptable sweep either (the event is dropped, reported as far as possible)', async () => {
    const { b } = await fakeBridge({ refuseNotices: true, portal: PORTAL });
    const u = new Undecryptable(t.redis, `${t.prefix}:notice`, 0);
    await u.defer(PORTAL.roomId, { event_id: '$utd-notice', room_id: PORTAL.roomId, sender: ALICE, type: 'm.room.encrypted' });
    await expect(u.retry(b, async () => 'deferred')).resolves.toBeUndefined();
    expect(await u.count()).toBe(0);
  });
});

describe('key counts of another device of a bridge user', () => {
  it('leave the to-device events and counts of the device the bridge holds in effect', async () => {
    const received: SyncChanges[] = [];
    const device = { deviceId: 'HELD', receive: async (c: SyncChanges) => void received.push(c) } as unknown as BridgeDevice;
    vi.spyOn(BridgeDevice, 'open').mockResolvedValue(device);
    const devices = new Devices({ api: {} as MatrixApi, store: {} as DeviceStore, namespace: 'test', logger: log, ensureUser: async () => undefined });
    const roomKey = { type: 'm.room.encrypted', sender: ALICE, content: { algorithm: 'm.olm.v1.curve25519-aes-sha2' } };
    const touched = await devices.apply({
      events: [], ephemeral: [], changed: [], left: [],
      toDevice: [{ ...roomKey, to_user_id: PUPPET, to_device_id: 'HELD' }],
      // The homeserver reports every device of the user; the held one is listed first here.
      otkCounts: { [PUPPET]: { HELD: { signed_curve25519: 7 }, OTHER: { signed_curve25519: 50 } } },
      fallbackKeyTypes: { [PUPPET]: { HELD: ['signed_curve25519'], OTHER: [] } },
    }, (u) => u === PUPPET);
    expect(touched.has(device)).toBe(true);
    expect(received).toHaveLength(1);
    expect(received[0]?.toDevice).toEqual([roomKey]);
    expect(received[0]?.otkCounts).toEqual({ signed_curve25519: 7 });
    expect(received[0]?.fallbackKeyTypes).toEqual(['signed_curve25519']);
  });

  it('are ignored; a to-device event for another device is ignored alone', async () => {
    const received: SyncChanges[] = [];
    const device = { deviceId: 'HELD', receive: async (c: SyncChanges) => void received.push(c) } as unknown as BridgeDevice;
    vi.spyOn(BridgeDevice, 'open').mockResolvedValue(device);
    const devices = new Devices({ api: {} as MatrixApi, store: {} as DeviceStore, namespace: 'test', logger: log, ensureUser: async () => undefined });
    const mine = { type: 'm.room.encrypted', sender: ALICE, content: { n: 1 } };
    const theirs = { type: 'm.room.encrypted', sender: ALICE, content: { n: 2 } };
    await devices.apply({
      events: [], ephemeral: [], changed: [], left: [],
      toDevice: [{ ...mine, to_user_id: PUPPET, to_device_id: 'HELD' }, { ...theirs, to_user_id: PUPPET, to_device_id: 'OTHER' }],
      otkCounts: { [PUPPET]: { OTHER: { signed_curve25519: 50 } } },
      fallbackKeyTypes: {},
    }, (u) => u === PUPPET);
    expect(received).toHaveLength(1);
    expect(received[0]?.toDevice).toEqual([mine]);
    expect(received[0]?.otkCounts).toBeUndefined();
  });
});

describe('the undecryptable sweep and a transaction retrying at once', () => {
  it('report an event past its timeout once', async () => {
    const { b, sent } = await fakeBridge({ portal: PORTAL });
    const u = new Undecryptable(t.redis, `${t.prefix}:race`, 0);
    const event = { event_id: '$utd-race', room_id: PORTAL.roomId, sender: ALICE, type: 'm.room.encrypted' };
    await u.defer(PORTAL.roomId, event);
    // Each still cannot decrypt it and keeps it again, as handleEvent does; both read the kept
    // events before either drops it.
    const handle = async (): Promise<'deferred'> => {
      await new Promise((r) => setImmediate(r));
      await u.defer(PORTAL.roomId, event);
      return 'deferred';
    };
    await Promise.all([u.retry(b, handle), u.retry(b, handle)]);
    // A later sweep finds what a slower retry kept again: already reported.
    await u.retry(b, handle);
    expect(sent.filter((s) => s.content.msgtype === 'm.notice')).toHaveLength(1);
    expect(sent.filter((s) => s.type === 'com.beeper.message_send_status')).toHaveLength(1);
  });
});

describe('an undecryptable command in a management room', () => {
  it('is reported to its sender by the bot, encrypted, once its timeout passed', async () => {
    const { b, sent } = await fakeBridge({ management: { owner: ALICE, roomId: '!mgmt:example.org' } });
    const u = new Undecryptable(t.redis, `${t.prefix}:mgmt`, 0);
    await u.defer('!mgmt:example.org', { event_id: '$utd-cmd', room_id: '!mgmt:example.org', sender: ALICE, type: 'm.room.encrypted' });
    await u.retry(b, async () => 'deferred');
    const notices = sent.filter((s) => s.content.msgtype === 'm.notice');
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ as: BOT, roomId: '!mgmt:example.org', encrypted: true });
    expect(String(notices[0]?.content.body)).toMatch(/could not decrypt/);
    expect(await u.count()).toBe(0);
  });

  it('from someone other than the room owner is dropped without a report', async () => {
    const { b, sent } = await fakeBridge({ management: { owner: '@mallory:example.org', roomId: '!mgmt:example.org' } });
    const u = new Undecryptable(t.redis, `${t.prefix}:mgmt2`, 0);
    await u.defer('!mgmt:example.org', { event_id: '$utd-cmd2', room_id: '!mgmt:example.org', sender: ALICE, type: 'm.room.encrypted' });
    await u.retry(b, async () => 'deferred');
    expect(sent).toEqual([]);
    expect(await u.count()).toBe(0);
  });
});
