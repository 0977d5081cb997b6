// End to end through the Matrix adapter: a matrix-js-sdk client (Rust crypto) on the in-process
// homeserver, the bridge as an appservice, the real Core and the mock hub with simulated hub users.
import { EventType, MsgType, type MatrixClient, type MatrixEvent } from 'matrix-js-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, until } from '../../delivery/harness.ts';
import { matrixHarness, openPortal, SERVER, timelineEvent, type Harness } from './support/bridge-harness.ts';

const ADA = '447700900123@hub';
const PUPPET = `@hub_447700900123:${SERVER}`;
const BOT = `@hubbot:${SERVER}`;
type Inbox = { messages: Array<{ id: string; device: number; decrypted: boolean; content?: { text?: string } }> };

let h: Harness;
let alice: MatrixClient;
let mgmt: string;
let portal: string;

beforeAll(async () => {
  h = await matrixHarness({
    hubUsers: { users: [{ phone: '+447700900123', name: 'Ada', devices: [0, 3], script: { echo: true, receipts: true, read: true, delay_ms: 0 } }] },
    // Success statuses set explicitly (they are the default too: statuses.test.ts).
    config: { send_statuses: 'all' },
  });
  alice = await h.client('alice');
}, 60_000);
afterAll(() => h?.close());

const inbox = async (jid: string) => (await h.control('GET', `/users/${jid}/inbox`)).body as unknown as Inbox;
const joined = (roomId: string, userId: string) => h.hs.state.membership(roomId, userId) === 'join';

describe('Matrix adapter end to end', () => {
  it('opts a Matrix user in through a bot command in a DM with the bot', async () => {
    mgmt = (await alice.createRoom({ invite: [BOT], is_direct: true, preset: 'private_chat' as never })).room_id;
    await until(() => joined(mgmt, BOT), 15_000, 'bot joined');
    await timelineEvent(alice, mgmt, (e) => e.getSender() === BOT && /Commands:/.test(String(e.getContent().body)));
    await alice.sendTextMessage(mgmt, 'optin');
    await timelineEvent(alice, mgmt, (e) => e.getSender() === BOT && /chats are on/.test(String(e.getContent().body)));
  });

  it('carries an encrypted DM to the hub user as the exact text, and decrypts the reply', async () => {
    portal = await openPortal(alice, h.hs, PUPPET);
    const text = 'Hello Ada 👋 <&> *from Matrix*';
    await alice.sendTextMessage(portal, text);
    // The room event on the homeserver is ciphertext.
    expect(h.hs.state.rooms.get(portal)?.timeline.some((t) => t.event.type === 'm.room.encrypted' && t.event.sender === `@alice:${SERVER}`)).toBe(true);
    const got = await eventually(async () => {
      const all = (await inbox(ADA)).messages.filter((m) => m.content?.text === text);
      return all.length === 2 ? all : undefined;
    }, 20_000, 'hub inbox');
    expect(got.every((m) => m.decrypted)).toBe(true);
    expect(got.map((m) => m.device).sort()).toEqual([0, 3]);
    const reply = await timelineEvent(alice, portal, (e) => e.getSender() === PUPPET && e.getContent().body === `echo: ${text}`);
    expect(reply.isEncrypted()).toBe(true);
    expect(reply.getType()).toBe(EventType.RoomMessage);
    expect(reply.getContent().msgtype).toBe(MsgType.Text);
  });

  it('shows the hub statuses: a send-status event per step, and the hub read receipt as the puppet\'s', async () => {
    const text = 'status please';
    const { event_id: eventId } = await alice.sendTextMessage(portal, text);
    const statuses = await until(() => {
      const found = h.hs.state.rooms.get(portal)?.timeline.filter((t) => t.event.sender === PUPPET && t.event.type === 'm.room.encrypted') ?? [];
      return found.length > 0 ? found : undefined;
    }, 15_000, 'puppet events');
    expect(statuses.length).toBeGreaterThan(0);
    const isStatus = (e: MatrixEvent) => e.getType() === 'com.beeper.message_send_status' && e.getContent()['m.relates_to']?.event_id === eventId;
    const status = await timelineEvent(alice, portal, (e) => isStatus(e) && e.getContent().status === 'SUCCESS' && Array.isArray(e.getContent().delivered_to_users));
    expect(status.getContent().network).toBe('hub');
    expect(status.getContent().delivered_to_users).toEqual([PUPPET]);
    await new Promise((res) => setTimeout(res, 1000));
    // Never back to "accepted" after "delivered", and the second hub device's delivery adds nothing.
    const all = (alice.getRoom(portal)?.getLiveTimeline().getEvents() ?? []).filter(isStatus);
    expect(all.length).toBeLessThanOrEqual(2);
    expect(all.at(-1)?.getContent().delivered_to_users).toEqual([PUPPET]);
    await until(() => h.hs.state.rooms.get(portal)?.receipts.find((r) => r.userId === PUPPET && r.eventId === eventId), 15_000, 'puppet read receipt');
  });

  it('sends the Matrix user\'s read receipt on a hub message to the hub', async () => {
    const echo = await timelineEvent(alice, portal, (e) => e.getSender() === PUPPET && e.getContent().body === 'echo: status please');
    await alice.sendReadReceipt(echo);
    const receipts = await eventually(async () => {
      const r = (await h.control('GET', `/users/${ADA}/receipts`)).body as { receipts: Array<{ type: string; from: string }> };
      return r.receipts.some((x) => x.type === 'read' && x.from.startsWith('alice@')) ? r.receipts : undefined;
    }, 15_000, 'read receipt at the hub');
    expect(receipts.length).toBeGreaterThan(0);
  });

  it('does nothing twice for a replayed transaction', async () => {
    const text = 'exactly once';
    await alice.sendTextMessage(portal, text);
    await eventually(async () => (await inbox(ADA)).messages.filter((m) => m.content?.text === text).length === 2, 20_000, 'delivered');
    await timelineEvent(alice, portal, (e) => e.getSender() === PUPPET && e.getContent().body === `echo: ${text}`);
    await new Promise((res) => setTimeout(res, 1500)); // statuses and receipts of this message settle
    // The last transaction that carried one of Alice's encrypted events, pushed again as it was.
    const carried = h.hs.appservice.sent
      .map((t, i) => ({ t, i }))
      .filter(({ t }) => t.status === 200 && (t.body.events as Array<{ type: string; sender: string }>).some((e) => e.type === 'm.room.encrypted' && e.sender === `@alice:${SERVER}`));
    const last = carried.pop();
    if (!last) throw new Error('no transaction carried the message');
    const puppetEvents = h.hs.state.rooms.get(portal)?.timeline.filter((t) => t.event.sender === PUPPET).length;
    expect(await h.hs.appservice.replay(last.i)).toBe(200);
    // The same events under a new txnId too (a homeserver that lost its state): deduped by event id.
    const body = last.t.body;
    const r = await fetch(`${h.bridgeUrl}/_matrix/app/v1/transactions/fresh-${Date.now()}`, { method: 'PUT', headers: { authorization: 'Bearer hs-token-for-tests', 'content-type': 'application/json' }, body: JSON.stringify({ events: body?.events ?? [] }) });
    expect(r.status).toBe(200);
    await new Promise((res) => setTimeout(res, 1000));
    expect((await inbox(ADA)).messages.filter((m) => m.content?.text === text)).toHaveLength(2);
    // No second echo, status or notice from the bridge either (the echo of one message is one event).
    const echoes = (alice.getRoom(portal)?.getLiveTimeline().getEvents() ?? []).filter((e) => e.getContent().body === `echo: ${text}`);
    expect(echoes).toHaveLength(1);
    expect(h.hs.state.rooms.get(portal)?.timeline.filter((t) => t.event.sender === PUPPET).length).toBe(puppetEvents);
  });

  it('still decrypts and encrypts after a restart (devices restored from Redis, sealed)', async () => {
    const deviceBefore = [...(h.hs.state.users.get(PUPPET)?.devices.keys() ?? [])];
    const keysBefore = JSON.stringify(h.hs.state.users.get(PUPPET)?.devices.get(deviceBefore[0] as string)?.keys);
    await h.restartBridge();
    const text = 'after the restart';
    await alice.sendTextMessage(portal, text);
    await eventually(async () => (await inbox(ADA)).messages.filter((m) => m.content?.text === text && m.decrypted).length === 2, 20_000, 'delivered after restart');
    await timelineEvent(alice, portal, (e) => e.getSender() === PUPPET && e.getContent().body === `echo: ${text}`);
    expect([...(h.hs.state.users.get(PUPPET)?.devices.keys() ?? [])]).toEqual(deviceBefore);
    // The same Olm account (identity keys), not a new one under the same device id.
    expect(JSON.stringify(h.hs.state.users.get(PUPPET)?.devices.get(deviceBefore[0] as string)?.keys)).toBe(keysBefore);
    // Key material at rest is sealed: every stored blob opens only with the keyring and its location.
    const key = `${h.prefix}:matrix:matrix:dev:${PUPPET}`;
    const all = await h.redis.hgetallBuffer(key);
    const blobs = Object.entries(all).filter(([f]) => f !== 'device_id');
    expect(blobs.length).toBeGreaterThan(3);
    for (const [f, v] of blobs) {
      expect(v[0]).toBe(0x01);
      expect(h.keyring.open(v, `${key}|${f}`).length).toBeGreaterThan(0);
      expect(() => h.keyring.open(v, `${key}|other`)).toThrow();
    }
  });
});
