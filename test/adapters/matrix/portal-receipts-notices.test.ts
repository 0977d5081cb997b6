// Audit of the Matrix adapter against issue 5 (portals, receipts, notices), with the in-process
// homeserver, a matrix-js-sdk client, the real Core and the mock hub:
// - a portal the Matrix user opens by inviting a puppet shows the third-party room name suffix,
//   as one the bridge creates does;
// - a Matrix read receipt whose hand-over to the hub fails is sent again when the homeserver
//   retries the transaction (the unread hub messages are not forgotten before the hub has them);
//   a private one (m.read.private) is not sent at all;
// - a notice that has no portal to go to is posted encrypted in an encrypted management room.
import type { MatrixClient } from 'matrix-js-sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CoreApi } from '../../../adapters/contract.ts';
import type { Json } from '../../../adapters/matrix/matrix-api.ts';
import { until } from '../../delivery/harness.ts';
import { matrixHarness, openPortal, SERVER, timelineEvent, type Harness } from './support/bridge-harness.ts';

const ADA = '447700900123@hub';
const PUPPET = `@hub_447700900123:${SERVER}`;
const BOT = `@hubbot:${SERVER}`;
const ALICE = `@alice:${SERVER}`;

let h: Harness;
let alice: MatrixClient;
let portal: string;

beforeAll(async () => {
  h = await matrixHarness({ hubUsers: { users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }] } });
  alice = await h.client('alice');
  await h.core.setInterop('matrix', 'alice', true);
  portal = await openPortal(alice, h.hs, PUPPET, { encrypted: false });
}, 60_000);
afterAll(() => h?.close());

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

const stateOf = (roomId: string, type: string, key = '') => h.hs.state.rooms.get(roomId)?.state.get(`${type}|${key}`);

describe('a portal opened by inviting a puppet', () => {
  it('gets the third-party room name suffix', async () => {
    await until(() => stateOf(portal, 'm.room.name'), 10_000, 'room name set');
    expect(stateOf(portal, 'm.room.name')?.content.name).toBe('+447700900123 (via Hub)');
  });
});

describe('a Matrix read receipt', () => {
  it('reaches the hub on the retry of a transaction whose first try failed to hand it over', async () => {
    const core = h.connector.bridge.core as CoreApi;
    const marked: string[][] = [];
    let failNext = true;
    h.connector.bridge.core = new Proxy(core, {
      get(target, p) {
        if (p === 'markRead') {
          return async (local: string, peer: string, ids: string[], type: 'read' | 'played') => {
            if (failNext) {
              failNext = false;
              throw new Error('hub connection lost');
            }
            marked.push(ids);
            return target.markRead(local, peer, ids, type);
          };
        }
        const v = Reflect.get(target, p) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    restore = () => void (h.connector.bridge.core = core);
    // A hub message shown in the portal, unread.
    const eventId = `$hubmsg-${Date.now()}`;
    const messageId = `m${Date.now()}`;
    await h.connector.bridge.portals.link(eventId, portal, messageId, ADA);
    await h.connector.bridge.portals.addUnread(portal, messageId);
    const body: Json = { events: [], ephemeral: [{ type: 'm.receipt', room_id: portal, content: { [eventId]: { 'm.read': { [ALICE]: { ts: Date.now() } } } } }] };
    await expect(h.connector.handleTransaction(body)).rejects.toThrow('hub connection lost');
    // The homeserver retries the same transaction.
    await h.connector.handleTransaction(body);
    expect(marked).toEqual([[messageId]]);
  });
});

describe('a private read receipt (m.read.private)', () => {
  it('is not sent to the hub: the user asked that others not see it', async () => {
    const core = h.connector.bridge.core as CoreApi;
    const marked: string[][] = [];
    h.connector.bridge.core = new Proxy(core, {
      get(target, p) {
        if (p === 'markRead') return async (_l: string, _p: string, ids: string[]) => void marked.push(ids);
        const v = Reflect.get(target, p) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    restore = () => void (h.connector.bridge.core = core);
    const eventId = `$hubmsg-private-${Date.now()}`;
    const messageId = `mp${Date.now()}`;
    await h.connector.bridge.portals.link(eventId, portal, messageId, ADA);
    await h.connector.bridge.portals.addUnread(portal, messageId);
    await h.connector.handleTransaction({ events: [], ephemeral: [{ type: 'm.receipt', room_id: portal, content: { [eventId]: { 'm.read.private': { [ALICE]: { ts: Date.now() } } } } }] });
    expect(marked).toEqual([]);
  });
});

describe('a notice without a portal', () => {
  it('is encrypted in an encrypted management room', async () => {
    const mgmt = (await alice.createRoom({
      invite: [BOT], is_direct: true, preset: 'private_chat' as never,
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    })).room_id;
    await until(() => h.hs.state.membership(mgmt, BOT) === 'join', 15_000, 'bot joined');
    await timelineEvent(alice, mgmt, (e) => e.getSender() === BOT && /Commands:/.test(String(e.getContent().body)));
    await h.connector.notice({ kind: 'provider-enrolled', user: 'alice@birdy.interop', provider: { id: 'newnet', name: 'New Net' } });
    const last = h.hs.state.rooms.get(mgmt)?.timeline.filter((t) => t.event.sender === BOT).at(-1)?.event;
    expect(last?.type).toBe('m.room.encrypted');
    expect(JSON.stringify(last?.content)).not.toContain('New Net');
    await timelineEvent(alice, mgmt, (e) => e.getSender() === BOT && /New Net/.test(String(e.getContent().body)));
  });
});
