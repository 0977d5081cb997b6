// Each Matrix event type the hub does not carry takes its downgrade-policy path. Where the event
// has a structured form in the adapter contract, the bridge hands it to the core and src/policy
// decides (here: reaction, edit, redaction and sticker converted with `downgraded` in the status,
// location rejected with a status and a notice, poll dropped with a status only); where it has
// none (a reaction to an event the bridge never carried) the bridge converts it itself.
import { MsgType, type MatrixClient } from 'matrix-js-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../delivery/harness.ts';
import { png, sha256 } from '../../media/support/fixtures.ts';
import { uploadEncrypted } from './support/attachments.ts';
import { matrixHarness, openPortal, SERVER, timelineEvent, type Harness } from './support/bridge-harness.ts';

const ADA = '447700900123@hub';
const PUPPET = `@hub_447700900123:${SERVER}`;
type Entry = { id: string; device: number; content?: { text?: string; reply?: { to: string; sender: string }; fallbacks?: Array<{ for: string; text: string }>; media?: { kind: string; size: number; sha256: string } } };
type Inbox = { messages: Entry[] };

let h: Harness;
let alice: MatrixClient;
let portal: string;

beforeAll(async () => {
  h = await matrixHarness({
    hubUsers: { users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }] },
    policy: { downgrade: { location: { outbound: { action: 'reject' } }, poll: { outbound: { action: 'drop' } } } },
    config: { send_statuses: 'all' }, // the conversions' SUCCESS statuses carry `downgraded`
  });
  alice = await h.client('alice');
  await h.core.setInterop('matrix', 'alice', true);
  portal = await openPortal(alice, h.hs, PUPPET);
}, 60_000);
afterAll(() => h?.close());

const texts = async () => (await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox;
const arrives = (pred: (m: Entry) => boolean, what: string) => eventually(async () => (await texts()).messages.find(pred), 20_000, `${what} at the hub`);
const withText = (text: string) => arrives((m) => m.content?.text === text, `"${text}"`);
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

describe('the core downgrade policy for Matrix events the hub does not carry', () => {
  it('converts a reaction, an edit and a redaction of a bridged message, replying to it, and reports the conversion', async () => {
    const { event_id: original } = await alice.sendTextMessage(portal, 'original');
    const hubOriginal = await withText('original');
    const { event_id: reaction } = await alice.sendEvent(portal, 'm.reaction' as never, { 'm.relates_to': { rel_type: 'm.annotation', event_id: original, key: '👍' } } as never);
    const reacted = await withText('reacted 👍');
    expect(reacted.content?.reply).toEqual({ to: hubOriginal.id, sender: 'alice@birdy.interop' });
    expect(reacted.content?.fallbacks).toEqual([{ for: 'reaction', text: 'Reaction 👍' }]);
    expect((await statusOf(reaction, 'SUCCESS')).getContent()['org.causeway.downgraded']).toEqual([{ feature: 'reaction', to: 'text' }]);

    const { event_id: edit } = await alice.sendMessage(portal, { msgtype: MsgType.Text, body: '* corrected', 'm.new_content': { msgtype: MsgType.Text, body: 'corrected' }, 'm.relates_to': { rel_type: 'm.replace', event_id: original } } as never);
    expect((await withText('✏️ Edited: corrected')).content?.reply?.to).toBe(hubOriginal.id);
    expect((await statusOf(edit, 'SUCCESS')).getContent()['org.causeway.downgraded']).toEqual([{ feature: 'edit', to: 'text' }]);
    // What the conversion means for the sender, from the policy, as a notice.
    await timelineEvent(alice, portal, (e) => e.getSender() === PUPPET && /Edits do not work across networks/.test(String(e.getContent().body)));

    await alice.redactEvent(portal, original);
    expect((await withText('🗑️ alice deleted a message')).content?.reply?.to).toBe(hubOriginal.id);
  });

  it('converts a sticker to an image: its (encrypted) file reaches the hub byte-identical', async () => {
    const file = png(48, 48);
    const encFile = await uploadEncrypted(alice, file);
    const { event_id: sticker } = await alice.sendEvent(portal, 'm.sticker' as never, { body: 'cat', info: { mimetype: 'image/png', w: 48, h: 48, size: file.length }, file: encFile } as never);
    const m = await arrives((x) => x.content?.media?.sha256 === sha256(file).toString('hex'), 'the sticker');
    expect(m.content?.media).toMatchObject({ kind: 'image', size: file.length });
    expect(m.content?.fallbacks).toEqual([{ for: 'sticker', text: 'Sticker cat' }]);
    expect((await statusOf(sticker, 'SUCCESS')).getContent()['org.causeway.downgraded']).toEqual([{ feature: 'sticker', to: 'image' }]);
  });

  it('rejects a location by policy: a certain send-status failure and a notice, nothing at the hub', async () => {
    const before = (await texts()).messages.length;
    const { event_id: location } = await alice.sendMessage(portal, { msgtype: MsgType.Location, body: 'Big Ben', geo_uri: 'geo:51.5007,-0.1246' } as never);
    const status = await statusOf(location, 'FAIL_PERMANENT');
    expect(status.getContent()).toMatchObject({ certain: true, error: 'unsupported-in-interop', reason: 'm.event_unsupported' });
    await timelineEvent(alice, portal, (e) => e.getSender() === PUPPET && /was not delivered: Locations cannot be sent/.test(String(e.getContent().body)));
    expect((await texts()).messages.length).toBe(before);
  });

  it('drops a poll by policy: a send-status failure only', async () => {
    const before = (await texts()).messages.length;
    const { event_id: poll } = await alice.sendEvent(portal, 'org.matrix.msc3381.poll.start' as never, {
      'org.matrix.msc3381.poll.start': { question: { 'org.matrix.msc1767.text': 'Lunch?' }, kind: 'org.matrix.msc3381.poll.disclosed', max_selections: 1, answers: [{ id: 'y', 'org.matrix.msc1767.text': 'Yes' }, { id: 'n', 'org.matrix.msc1767.text': 'No' }] },
    } as never);
    const status = await statusOf(poll, 'FAIL_PERMANENT');
    expect(status.getContent()).toMatchObject({ error: 'dropped-by-policy' });
    expect((await texts()).messages.length).toBe(before);
    await new Promise((r) => setTimeout(r, 500));
    expect((alice.getRoom(portal)?.getLiveTimeline().getEvents() ?? []).some((e) => /Polls are not shared/.test(String(e.getContent().body)))).toBe(false);
  });
});

describe('the bridge conversion (no structured form)', () => {
  it('converts a reaction to an event the bridge never carried (a notice) into a plain text', async () => {
    const notice = await timelineEvent(alice, portal, (e) => e.getSender() === PUPPET && e.getContent().msgtype === 'm.notice');
    const { event_id: reaction } = await alice.sendEvent(portal, 'm.reaction' as never, { 'm.relates_to': { rel_type: 'm.annotation', event_id: notice.getId(), key: '🎉' } } as never);
    const m = await withText('Reacted 🎉');
    expect(m.content?.reply).toBeUndefined();
    expect(m.content?.fallbacks ?? []).toEqual([]);
    expect((await statusOf(reaction, 'SUCCESS')).getContent()['org.causeway.downgraded']).toBeUndefined();
  });
});
