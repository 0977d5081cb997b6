// A transaction's messages reach the core together (adapters/matrix/hub-batch.ts): one
// `submitMany` per run of a sender's events, in order, split where an event names an earlier one
// of the same run (a reply needs its hub message id) or where something must come after the
// earlier messages (a bot command); a refused message gets its failure status and notice as a
// lone `submit` gave it, with or without the core's batch call. Transactions are handed to the
// connector as the homeserver sends them (unencrypted rooms: the decryption is not the point),
// with the real Core, the mock hub and a spy on the core.
import type { MatrixClient } from 'matrix-js-sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CoreApi, OutboundMessage } from '../../../adapters/contract.ts';
import { MAX_BATCH } from '../../../adapters/matrix/hub-batch.ts';
import type { Json } from '../../../adapters/matrix/matrix-api.ts';
import { eventually, until } from '../../delivery/harness.ts';
import { matrixHarness, openPortal, SERVER, type Harness } from './support/bridge-harness.ts';

const ADA = '447700900123@hub';
const PUPPET = `@hub_447700900123:${SERVER}`;
const BOT = `@hubbot:${SERVER}`;
const ALICE = `@alice:${SERVER}`;
type Entry = { id: string; content?: { text?: string; reply?: { to: string; sender: string } } };

let h: Harness;
let alice: MatrixClient;
let portal: string;
let mgmt: string;

beforeAll(async () => {
  h = await matrixHarness({ hubUsers: { users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }] } });
  alice = await h.client('alice');
  await h.core.setInterop('matrix', 'alice', true);
  portal = await openPortal(alice, h.hs, PUPPET, { encrypted: false });
  mgmt = (await alice.createRoom({ invite: [BOT], is_direct: true, preset: 'private_chat' as never })).room_id;
  await until(() => h.hs.state.membership(mgmt, BOT) === 'join', 15_000, 'bot joined');
}, 60_000);
afterAll(() => h?.close());

/** The core's calls as the adapter made them: which call, and the messages' keys in order. */
let calls: Array<{ call: 'submit' | 'submitMany'; keys: string[] }> = [];
let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
  calls = [];
});

/** Spies on the core the connector uses; `batch: false` hides `submitMany` (it is optional in the contract). */
function spy(o: { batch: boolean }): void {
  const core = h.connector.bridge.core as CoreApi;
  h.connector.bridge.core = new Proxy(core, {
    get(target, p) {
      if (p === 'submit') {
        return (id: string, m: OutboundMessage) => (calls.push({ call: 'submit', keys: [m.idempotencyKey] }), target.submit(id, m));
      }
      if (p === 'submitMany') {
        if (!o.batch) return undefined;
        return (id: string, ms: OutboundMessage[]) => (calls.push({ call: 'submitMany', keys: ms.map((m) => m.idempotencyKey) }), target.submitMany?.(id, ms));
      }
      const v = Reflect.get(target, p) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  restore = () => void (h.connector.bridge.core = core);
}

let n = 0;
/** A room event from Alice, as a homeserver puts it in a transaction. */
function event(room: string, content: Json): Json {
  return { event_id: `$batch${Date.now()}-${n++}`, room_id: room, sender: ALICE, type: 'm.room.message', origin_server_ts: Date.now(), content };
}
const text = (body: string, room = portal): Json => event(room, { msgtype: 'm.text', body });
const ids = (evs: Json[]): string[] => evs.map((e) => String(e.event_id));

const inbox = async (): Promise<Entry[]> => ((await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as { messages: Entry[] }).messages;
const arrived = (tag: string, count: number): Promise<Entry[]> =>
  eventually(async () => {
    const got = (await inbox()).filter((m) => m.content?.text?.startsWith(tag));
    return got.length >= count ? got : undefined;
  }, 20_000, `${count} messages ${tag} at the hub`);
/** The send-status event the puppet posted in the portal about `eventId`, and its notices. */
const statusOf = (eventId: string) =>
  until(() => h.hs.state.rooms.get(portal)?.timeline.find((t) => t.event.type === 'com.beeper.message_send_status' && (t.event.content as Json)['m.relates_to'] !== undefined && ((t.event.content as Json)['m.relates_to'] as Json).event_id === eventId)?.event.content as Json | undefined, 15_000, `status of ${eventId}`);
const failures = (eventId: string): number =>
  (h.hs.state.rooms.get(portal)?.timeline ?? []).filter((t) => String((t.event.content as Json).status).startsWith('FAIL') && ((t.event.content as Json)['m.relates_to'] as Json | undefined)?.event_id === eventId).length;
const notices = (): string[] => (h.hs.state.rooms.get(portal)?.timeline ?? []).filter((t) => t.event.sender === PUPPET && (t.event.content as Json).msgtype === 'm.notice').map((t) => String((t.event.content as Json).body));

describe('a transaction of several messages', () => {
  it('hands them to the core in one submitMany, in order; the hub gets them in order, and a replay submits nothing', async () => {
    spy({ batch: true });
    const evs = [1, 2, 3, 4, 5].map((i) => text(`one call ${i}`));
    await h.connector.handleTransaction({ events: evs });
    expect(calls).toEqual([{ call: 'submitMany', keys: ids(evs) }]);
    const got = await arrived('one call', 5);
    expect(got.map((m) => m.content?.text)).toEqual([1, 2, 3, 4, 5].map((i) => `one call ${i}`));
    // Each event is linked to its hub message (receipts, replies and statuses find it).
    for (const [i, e] of evs.entries()) expect((await h.connector.bridge.portals.messageOf(String(e.event_id)))?.id).toBe(got[i]?.id);
    await h.connector.handleTransaction({ events: evs });
    expect(calls).toHaveLength(1);
    expect(await arrived('one call', 5)).toHaveLength(5);
  });

  it(`hands over at most ${MAX_BATCH} messages per call, in order`, async () => {
    spy({ batch: true });
    const evs = Array.from({ length: MAX_BATCH + 1 }, (_, i) => text(`long run ${String(i).padStart(3, '0')}`));
    await h.connector.handleTransaction({ events: evs });
    expect(calls).toEqual([{ call: 'submitMany', keys: ids(evs.slice(0, MAX_BATCH)) }, { call: 'submit', keys: ids(evs.slice(MAX_BATCH)) }]);
    expect((await arrived('long run', MAX_BATCH + 1)).map((m) => m.content?.text)).toEqual(evs.map((e) => (e.content as Json).body));
  });

  it('submits the earlier messages first when a later one replies to one of them', async () => {
    spy({ batch: true });
    const a = text('reply run: first');
    const b = event(portal, { msgtype: 'm.text', body: 'reply run: answer', 'm.relates_to': { 'm.in_reply_to': { event_id: a.event_id } } });
    const c = text('reply run: last');
    await h.connector.handleTransaction({ events: [a, b, c] });
    expect(calls).toEqual([{ call: 'submit', keys: ids([a]) }, { call: 'submitMany', keys: ids([b, c]) }]);
    const got = await arrived('reply run', 3);
    expect(got.map((m) => m.content?.text)).toEqual(['reply run: first', 'reply run: answer', 'reply run: last']);
    expect(got[1]?.content?.reply).toEqual({ to: got[0]?.id, sender: 'alice@birdy.interop' });
  });

  it('submits the earlier messages before a bot command: a message after "optout" is refused, the one before is not', async () => {
    spy({ batch: true });
    const before = text('around optout: before');
    const command = text('optout', mgmt);
    const after = text('around optout: after');
    try {
      await h.connector.handleTransaction({ events: [before, command, after] });
    } finally {
      await h.core.setInterop('matrix', 'alice', true);
    }
    expect(calls).toEqual([{ call: 'submit', keys: ids([before]) }, { call: 'submit', keys: ids([after]) }]);
    // The one before was accepted (queued; whether it still reaches the hub depends on whether its
    // lane sent it before the opt-out, after which a queued message fails as sender-opted-out).
    expect((await h.core.statuses('matrix', ids([before])[0] as string))?.[0]?.state).toBe('queued');
    // The one after was refused: nothing stored, a failure status in the portal.
    expect(await h.core.statuses('matrix', ids([after])[0] as string)).toBeUndefined();
    expect(await statusOf(String(after.event_id))).toMatchObject({ status: 'FAIL_PERMANENT', error: 'not-opted-in' });
  });

  for (const batch of [true, false]) {
    it(`reports a refused message among accepted ones as before: a failure status and a notice (${batch ? 'submitMany' : 'a core without submitMany'})`, async () => {
      spy({ batch });
      const tag = `mixed ${batch}`;
      const evs = [text(`${tag} 1`), text(`${tag} ${'x'.repeat(70_000)}`), text(`${tag} 3`)];
      const notices0 = notices().length;
      await h.connector.handleTransaction({ events: evs });
      expect(calls).toEqual(batch ? [{ call: 'submitMany', keys: ids(evs) }] : ids(evs).map((k) => ({ call: 'submit', keys: [k] })));
      expect((await arrived(tag, 2)).map((m) => m.content?.text)).toEqual([`${tag} 1`, `${tag} 3`]);
      expect(await statusOf(String(evs[1]?.event_id))).toMatchObject({ status: 'FAIL_PERMANENT', error: 'bad-request', certain: true, message: 'text is longer than 65536 bytes' });
      expect(notices().length).toBe(notices0 + 1);
      expect(notices().at(-1)).toBe('⚠️ Your message was not delivered: text is longer than 65536 bytes');
      // The refused event is recorded as handled: a replay neither submits it nor reports it again.
      calls = [];
      await h.connector.handleTransaction({ events: evs });
      expect(calls).toEqual([]);
      expect(notices().length).toBe(notices0 + 1);
      expect(failures(String(evs[1]?.event_id))).toBe(1);
    });
  }
});
