// Undecryptable events are retried when their keys arrive. Room events and the to-device messages
// that carry their Megolm keys travel separately, and a homeserver may push the event first: here
// the homeserver's transactions are split by hand — the Matrix client's encrypted message alone in
// one transaction, the Olm-encrypted room key in a later one. The event is kept (not lost, not
// reported, nothing at the hub), and the transaction bringing the key decrypts it and delivers it
// to the hub user's devices, once. (An event whose keys never come is reported to its sender after
// `undecryptable_timeout_s`: policy.test.ts.)
import type { MatrixClient } from 'matrix-js-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../delivery/harness.ts';
import { HS_TOKEN, matrixHarness, openPortal, SERVER, type Harness } from './support/bridge-harness.ts';
import type { Json } from './support/hs-state.ts';

const ADA = '447700900123@hub';
const PUPPET = `@hub_447700900123:${SERVER}`;
type Inbox = { messages: Array<{ device: number; decrypted: boolean; content?: { text?: string } }> };

let h: Harness;
let alice: MatrixClient;
let portal: string;

beforeAll(async () => {
  h = await matrixHarness({
    hubUsers: { users: [{ phone: '+447700900123', name: 'Ada', devices: [0, 1], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }] },
    // Long enough that the sweep's timeout plays no part here.
    config: { undecryptable_timeout_s: 60 },
  });
  alice = await h.client('alice');
  await h.core.setInterop('matrix', 'alice', true);
  portal = await openPortal(alice, h.hs, PUPPET);
}, 60_000);
afterAll(() => h?.close());

const atHub = async (text: string) => ((await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox).messages.filter((m) => m.content?.text === text);
const push = async (txnId: string, body: Json) => {
  const r = await fetch(`${h.bridgeUrl}/_matrix/app/v1/transactions/${txnId}`, {
    method: 'PUT', headers: { authorization: `Bearer ${HS_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  return r.status;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('undecryptable events', () => {
  it('are kept until the room key arrives in a later transaction, then decrypted and delivered once', async () => {
    // Let the homeserver's pusher go idle, then stop it: the test pushes this message's parts itself.
    await sleep(500);
    h.hs.appservice.paused = true;
    await sleep(300);
    const text = 'the key comes later';
    const { event_id: eventId } = await alice.sendTextMessage(portal, text);
    const event = h.hs.state.rooms.get(portal)?.timeline.find((t) => t.event.event_id === eventId)?.event;
    expect(event?.type).toBe('m.room.encrypted');
    // The puppet device's queued to-device messages: Alice's Olm-encrypted room key. Taken from the
    // queue, so the pusher never sends them itself.
    const [deviceId, device] = [...(h.hs.state.users.get(PUPPET)?.devices ?? new Map())][0] as [string, { toDevice: Array<{ event: Json }> }];
    const toDevice: Json[] = device.toDevice.splice(0).map((t) => ({ ...t.event, to_user_id: PUPPET, to_device_id: deviceId }));
    expect(toDevice.length).toBeGreaterThan(0);
    expect(toDevice.every((e) => e.type === 'm.room.encrypted')).toBe(true);

    // 1. The event alone: not decryptable yet, kept; the transaction is acknowledged.
    expect(await push(`ev-first-${Date.now()}`, { events: [event] })).toBe(200);
    expect(await h.connector.undecryptable.count()).toBe(1);
    await sleep(700);
    expect(await atHub(text)).toHaveLength(0);
    expect(await h.connector.undecryptable.count()).toBe(1);

    // 2. The key, in a later transaction (Synapse's spelling): the kept event is retried before the ack.
    expect(await push(`keys-later-${Date.now()}`, { events: [], 'de.sorunome.msc2409.to_device': toDevice })).toBe(200);
    expect(await h.connector.undecryptable.count()).toBe(0);
    const got = await eventually(async () => {
      const m = await atHub(text);
      return m.length === 2 ? m : undefined;
    }, 20_000, 'the retried event at the hub');
    expect(got.every((m) => m.decrypted)).toBe(true);
    expect(got.map((m) => m.device).sort()).toEqual([0, 1]);

    // 3. The homeserver resumes and pushes the event again in its own transaction: nothing twice.
    h.hs.appservice.paused = false;
    await eventually(async () => h.hs.appservice.sent.some((t) => t.status === 200 && (t.body.events as Json[]).some((e) => e.event_id === eventId)), 15_000, 'the pusher resent the event');
    await sleep(500);
    expect(await atHub(text)).toHaveLength(2);
    expect(await h.connector.undecryptable.count()).toBe(0);
  });
});
