// Each Matrix event type the hub does not carry takes its downgrade-policy path: converted to a
// readable fallback (reaction, location, edit, redaction), rejected with a send-status failure and
// a notice (sticker here), or dropped with a send-status failure only (poll here).
import { MsgType, type MatrixClient } from 'matrix-js-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../delivery/harness.ts';
import { matrixHarness, SERVER, timelineEvent, type Harness } from './support/bridge-harness.ts';

const ADA = '447700900123@hub';
const PUPPET = `@hub_447700900123:${SERVER}`;
type Inbox = { messages: Array<{ id: string; device: number; content?: { text?: string } }> };

let h: Harness;
let alice: MatrixClient;
let portal: string;

beforeAll(async () => {
  h = await matrixHarness({
    hubUsers: { users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }] },
    downgrade: { sticker: 'reject', poll: 'drop' },
  });
  alice = await h.client('alice');
  await h.core.setInterop('matrix', 'alice', true);
  portal = (await alice.createRoom({
    invite: [PUPPET], is_direct: true, preset: 'private_chat' as never,
    initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
  })).room_id;
  await eventually(async () => h.hs.state.membership(portal, PUPPET) === 'join' && alice.getRoom(portal)?.getMember(PUPPET)?.membership === 'join', 15_000, 'puppet joined');
}, 60_000);
afterAll(() => h?.close());

const texts = async () => (await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox;
const arrives = (text: string) => eventually(async () => (await texts()).messages.find((m) => m.content?.text === text), 20_000, `"${text}" at the hub`);
const statusOf = (eventId: string, status: string) =>
  timelineEvent(alice, portal, (e) => e.getType() === 'com.beeper.message_send_status' && e.getContent()['m.relates_to']?.event_id === eventId && e.getContent().status === status);

describe('undecryptable events', () => {
  it('keeps an event whose keys have not arrived, and reports it to the sender when they never do', async () => {
    const forged = {
      event_id: `$utd${Date.now()}`, room_id: portal, sender: `@alice:${SERVER}`, type: 'm.room.encrypted', origin_server_ts: Date.now(),
      content: { algorithm: 'm.megolm.v1.aes-sha2', sender_key: 'x'.repeat(43), session_id: 'y'.repeat(43), device_id: 'NOPE', ciphertext: 'AwgAEhAAAA' },
    };
    const r = await fetch(`${h.bridgeUrl}/_matrix/app/v1/transactions/utd-${Date.now()}`, {
      method: 'PUT', headers: { authorization: 'Bearer hs-token-for-tests', 'content-type': 'application/json' }, body: JSON.stringify({ events: [forged] }),
    });
    expect(r.status).toBe(200);
    expect(await h.connector.undecryptable.count()).toBe(1);
    // The harness sets undecryptable_timeout_s to 2: the sweep reports it after that.
    const status = await statusOf(forged.event_id, 'FAIL_PERMANENT');
    expect(status.getContent()).toMatchObject({ error: 'undecryptable', certain: true });
    await timelineEvent(alice, portal, (e) => e.getSender() === PUPPET && /could not decrypt/.test(String(e.getContent().body)));
    expect(await h.connector.undecryptable.count()).toBe(0);
  });
});

describe('downgrade policy for Matrix events the hub does not carry', () => {
  it('converts a reaction, a location, an edit and a redaction into readable fallbacks', async () => {
    const { event_id: original } = await alice.sendTextMessage(portal, 'original');
    await arrives('original');
    await alice.sendEvent(portal, 'm.reaction' as never, { 'm.relates_to': { rel_type: 'm.annotation', event_id: original, key: '👍' } } as never);
    await arrives('Reacted 👍');
    await alice.sendMessage(portal, { msgtype: MsgType.Location, body: 'Big Ben', geo_uri: 'geo:51.5007,-0.1246' } as never);
    await arrives('Location: Big Ben');
    await alice.sendMessage(portal, { msgtype: MsgType.Text, body: '* corrected', 'm.new_content': { msgtype: MsgType.Text, body: 'corrected' }, 'm.relates_to': { rel_type: 'm.replace', event_id: original } } as never);
    await arrives('Edited: corrected');
    await alice.redactEvent(portal, original);
    await arrives('Deleted a message');
  });

  it('rejects a sticker by policy: a certain send-status failure and a notice, nothing at the hub', async () => {
    const before = (await texts()).messages.length;
    const { event_id: sticker } = await alice.sendEvent(portal, 'm.sticker' as never, { body: 'cat', url: 'mxc://example.org/cat', info: { mimetype: 'image/png' } } as never);
    const status = await statusOf(sticker, 'FAIL_PERMANENT');
    expect(status.getContent()).toMatchObject({ certain: true, error: 'rejected-by-policy' });
    await timelineEvent(alice, portal, (e) => e.getSender() === PUPPET && /was not delivered/.test(String(e.getContent().body)));
    expect((await texts()).messages.length).toBe(before);
  });

  it('drops a poll by policy: a send-status failure only', async () => {
    const before = (await texts()).messages.length;
    const { event_id: poll } = await alice.sendEvent(portal, 'org.matrix.msc3381.poll.start' as never, {
      'org.matrix.msc3381.poll.start': { question: { 'org.matrix.msc1767.text': 'Lunch?' }, kind: 'org.matrix.msc3381.poll.disclosed', max_selections: 1, answers: [{ id: 'y', 'org.matrix.msc1767.text': 'Yes' }] },
    } as never);
    const status = await statusOf(poll, 'FAIL_PERMANENT');
    expect(status.getContent()).toMatchObject({ error: 'unsupported' });
    expect((await texts()).messages.length).toBe(before);
  });
});
