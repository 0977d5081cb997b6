// The bot command `start +PHONE` in a management room (a DM with the bridge bot): a directory
// lookup at the hub; a reachable number gets a portal room created by the hub user's puppet with
// the Matrix user invited (third-party markers, encryption), through which the conversation then
// works both ways; a second `start` finds the same portal; unknown and unreachable numbers get the
// same clear reply and create nothing; a malformed number gets the expected format.
import type { MatrixClient } from 'matrix-js-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, until } from '../../delivery/harness.ts';
import { matrixHarness, SERVER, timelineEvent, type Harness } from './support/bridge-harness.ts';

const ADA = '447700900123@hub';
const PUPPET = `@hub_447700900123:${SERVER}`;
const BOT = `@hubbot:${SERVER}`;
type Inbox = { messages: Array<{ decrypted: boolean; content?: { text?: string } }> };

let h: Harness;
let alice: MatrixClient;
let mgmt: string;
let portal: string;

beforeAll(async () => {
  h = await matrixHarness({
    hubUsers: {
      users: [
        { phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: true, receipts: false, read: false, delay_ms: 0 } },
        // On the hub, but with third-party chats switched off: unreachable.
        { phone: '+447700900456', name: 'Bob', devices: [0], third_party: { enabled: false, providers: ['*'] } },
      ],
    },
  });
  alice = await h.client('alice');
  mgmt = (await alice.createRoom({ invite: [BOT], is_direct: true, preset: 'private_chat' as never })).room_id;
  await until(() => h.hs.state.membership(mgmt, BOT) === 'join', 15_000, 'bot joined');
  await alice.sendTextMessage(mgmt, 'optin');
  await botSays(/chats are on/);
}, 60_000);
afterAll(() => h?.close());

const seen = new Set<string>();
/** The bot's first notice in the management room not returned before, matching `re`. */
async function botSays(re: RegExp): Promise<string> {
  const ev = await timelineEvent(alice, mgmt, (e) => e.getSender() === BOT && !seen.has(e.getId() ?? '') && re.test(String(e.getContent().body)));
  seen.add(ev.getId() ?? '');
  return String(ev.getContent().body);
}
const stateOf = (roomId: string, type: string, key = '') => h.hs.state.rooms.get(roomId)?.state.get(`${type}|${key}`);
const roomsWith = (userId: string) => [...h.hs.state.rooms.values()].filter((r) => h.hs.state.membership(r.roomId, userId) !== undefined);

describe('bot command start +PHONE', () => {
  it('looks the number up and creates a portal with the puppet, inviting the Matrix user', async () => {
    await alice.sendTextMessage(mgmt, 'start +44 7700 900123');
    const reply = await botSays(/Chat with \+447700900123 created/);
    portal = (/(![^\s]+) \(you are invited\)/.exec(reply) as RegExpExecArray)[1] as string;
    expect(stateOf(portal, 'm.room.create')?.sender).toBe(PUPPET);
    expect(h.hs.state.membership(portal, PUPPET)).toBe('join');
    expect(h.hs.state.membership(portal, `@alice:${SERVER}`)).toBe('invite');
    expect(stateOf(portal, 'm.room.name')?.content.name).toBe('+447700900123 (via Hub)');
    expect(stateOf(portal, 'm.room.encryption')?.content.algorithm).toBe('m.megolm.v1.aes-sha2');
    expect(stateOf(portal, 'm.bridge', `causeway/hub/${ADA}`)?.content).toMatchObject({ bridgebot: BOT, channel: { id: ADA } });
    // The puppet's device exists (keys uploaded) before the user joins and sends the first message.
    expect(h.hs.state.users.get(PUPPET)?.devices.size).toBe(1);
  });

  it('is a working conversation once the user joins: encrypted both ways', async () => {
    await alice.joinRoom(portal);
    await until(() => alice.getRoom(portal)?.getMember(PUPPET)?.membership === 'join', 15_000, 'client sees the puppet');
    const text = 'hi Ada, started by command';
    await alice.sendTextMessage(portal, text);
    await eventually(async () => ((await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox).messages.find((m) => m.content?.text === text && m.decrypted), 20_000, 'at the hub');
    const echo = await timelineEvent(alice, portal, (e) => e.getSender() === PUPPET && e.getContent().body === `echo: ${text}`);
    expect(echo.isEncrypted()).toBe(true);
  });

  it('finds the same portal on a second start', async () => {
    const rooms = roomsWith(PUPPET).length;
    await alice.sendTextMessage(mgmt, 'start 447700900123');
    const reply = await botSays(/Chat with \+447700900123 created/);
    expect(reply).toContain(portal);
    expect(roomsWith(PUPPET)).toHaveLength(rooms);
  });

  it('answers an unknown and an unreachable number alike, and creates nothing', async () => {
    const rooms = h.hs.state.rooms.size;
    await alice.sendTextMessage(mgmt, 'start +1 555 000 0000');
    expect(await botSays(/\+15550000000 cannot be reached on Hub/)).toMatch(/unknown, or has not turned on third-party chats/);
    await alice.sendTextMessage(mgmt, 'start +447700900456');
    expect(await botSays(/\+447700900456 cannot be reached on Hub/)).toMatch(/unknown, or has not turned on third-party chats/);
    expect(h.hs.state.rooms.size).toBe(rooms);
    expect(h.hs.state.users.has(`@hub_15550000000:${SERVER}`)).toBe(false);
    expect(h.hs.state.users.has(`@hub_447700900456:${SERVER}`)).toBe(false);
  });

  it('asks for the international format when the number is not one', async () => {
    await alice.sendTextMessage(mgmt, 'start Ada');
    expect(await botSays(/international format/)).toContain('start +447700900123');
  });
});
