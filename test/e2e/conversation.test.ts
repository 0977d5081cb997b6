// The end-to-end proof: a provider user (reference client, real libsignal) and simulated hub users
// (SimDevices inside the mock hub) exchange messages through HIP/1 over a real WebSocket. The hub
// never sees plaintext; the control API shows what each hub device decrypted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDhash, verifyPushSignature } from '../../src/protocol/index.ts';
import type { ClientEvent } from '../../src/mock-hub/reference-client/index.ts';
import { eventually, PUSH_SECRET, startTestHub } from './helpers.ts';
import type { InboxEntry, TestHub } from './helpers.ts';

const ADA = '447700900123@hub';
const BOB = '447700900456@hub';
const CY = '447700900789@hub';

let t: TestHub;

beforeAll(async () => {
  t = await startTestHub([
    { phone: '+447700900123', name: 'Ada', script: { echo: true } },
    { phone: '+447700900456', name: 'Bob', devices: [0, 1], script: { echo: true } },
  ]);
});

afterAll(async () => {
  await t?.close();
});

/** Inbox entries of `jid` for message `id`, once there are `n` of them. */
async function entriesFor(jid: string, id: string, n: number): Promise<InboxEntry[]> {
  return eventually(async () => {
    const mine = (await t.control.inbox(jid)).filter((m) => m.id === id);
    return mine.length >= n ? mine : undefined;
  }, `${n} inbox entries for ${id} at ${jid}`);
}

describe('provider user → hub user', () => {
  it('opens, uploads keys, enlists, looks up, sends a first pkmsg, and decrypts the echo', async () => {
    const alice = await t.client('alice', { log: true });
    await alice.open();
    await alice.uploadKeys();
    await alice.enlist();
    const jid = await alice.lookup('+447700900123');
    expect(jid).toBe(ADA);

    const { id, ack } = await alice.sendText(jid, 'Hello from BirdyChat');
    expect(ack.error).toBeUndefined();
    expect(ack.t).toBeGreaterThan(1_700_000_000);
    const sent = alice.frameLog().filter((f) => f.dir === 'out' && f.frame.startsWith('<message') && f.frame.includes(id));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.frame).toContain('type="pkmsg"');
    expect(sent[0]!.frame).not.toContain('Hello from BirdyChat');

    const [entry] = await entriesFor(ADA, id, 1);
    expect(entry).toMatchObject({
      id, from: 'alice@birdy.interop', participant: 'alice:1@birdy.interop', device: 0, decrypted: true, offline: false,
      content: { text: 'Hello from BirdyChat' },
    });

    const reply = await alice.nextMessage(10_000);
    expect(reply.stanza.from).toBe(ADA);
    expect(reply.stanza.participant).toMatch(/^447700900123:\d+@hub$/);
    expect(reply.content.text).toBe('echo: Hello from BirdyChat');
    expect(reply.content.id).toBe(reply.stanza.id);

    // The session is established both ways: the next message is a plain SignalMessage.
    const second = await alice.sendText(jid, 'second one');
    expect(second.ack.error).toBeUndefined();
    const frame = alice.frameLog().find((f) => f.dir === 'out' && f.frame.includes(second.id));
    expect(frame?.frame).toContain('type="msg"');
    const [e2] = await entriesFor(ADA, second.id, 1);
    expect(e2).toMatchObject({ decrypted: true, content: { text: 'second one' } });
    expect((await alice.nextMessage(10_000)).content.text).toBe('echo: second one');
    expect(alice.stats.undecryptable).toBe(0);
  });

  it('encrypts for both devices of a two-device hub user', async () => {
    const bella = await t.client('bella');
    await bella.open();
    await bella.uploadKeys();
    await bella.enlist();
    const jid = await bella.lookup('+447700900456');
    expect(jid).toBe(BOB);

    const { id, ack } = await bella.sendText(jid, 'Hi Bob, both of your devices');
    expect(ack.error).toBeUndefined();
    expect(bella.stats.staleDevices).toBe(0);
    const entries = await entriesFor(BOB, id, 2);
    expect(entries.map((e) => e.device).sort()).toEqual([0, 1]);
    for (const e of entries) {
      expect(e).toMatchObject({ from: 'bella@birdy.interop', decrypted: true, content: { text: 'Hi Bob, both of your devices' } });
    }
    expect((await bella.nextMessage(10_000)).content.text).toBe('echo: Hi Bob, both of your devices');
  });

  it('re-encrypts with the same id after 409 stale-devices when a device is added mid-conversation', async () => {
    await t.control.expect(201, 'POST', '/control/users', { phone: '+447700900789', name: 'Cy', devices: [0, 1], script: { echo: true } });
    // This client keeps its cached device list until the hub says 409, as one that missed the notification.
    const carl = await t.client('carl', { followDeviceNotifications: false, log: true });
    const events: ClientEvent[] = [];
    carl.onEvent((e) => events.push(e));
    await carl.open();
    await carl.uploadKeys();
    await carl.enlist();
    const jid = await carl.lookup('+447700900789');
    expect(jid).toBe(CY);

    const first = await carl.sendText(jid, 'before the new device');
    expect(first.ack.error).toBeUndefined();
    await entriesFor(CY, first.id, 2);
    expect((await carl.nextMessage(10_000)).content.text).toBe('echo: before the new device');

    const added = await t.control.expect<{ device: number; dhash: string }>(201, 'POST', `/control/users/${CY}/devices`, {});
    expect(added.device).not.toBe(0);
    expect(added.device).not.toBe(1);
    const devices = [0, 1, added.device].map((n) => `447700900789:${n}@hub`);
    expect(added.dhash).toBe(computeDhash(devices));
    // Carl is a contact, so the hub tells him (spec 8); he does not act on it here.
    const note = await carl.nextNotification((n) => n.type === 'devices', 10_000);
    expect(note).toMatchObject({ type: 'devices', from: CY, dhash: added.dhash });

    const { id, ack } = await carl.sendText(jid, 'after the new device');
    expect(ack.error).toBeUndefined();
    expect(carl.stats.staleDevices).toBe(1);
    const stale = events.find((e) => e.type === 'stale-devices');
    expect(stale).toMatchObject({ type: 'stale-devices', id, to: CY, devices: { jid: CY, dhash: added.dhash } });
    // Both attempts went out under the same id; the second to three devices.
    const attempts = carl.frameLog().filter((f) => f.dir === 'out' && f.frame.startsWith('<message') && f.frame.includes(`id="${id}"`));
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.frame).toContain(`dhash="${added.dhash}"`);

    const entries = await entriesFor(CY, id, 3);
    expect(entries.map((e) => e.device).sort((a, b) => a - b)).toEqual([0, 1, added.device].sort((a, b) => a - b));
    for (const e of entries) expect(e).toMatchObject({ decrypted: true, content: { text: 'after the new device' } });
    expect((await carl.nextMessage(10_000)).content.text).toBe('echo: after the new device');
  });
});

describe('many messages at once', () => {
  it('sends 10 texts concurrently from a fresh client: one session, all decrypted, all echoed', async () => {
    const ed = await t.client('ed', { log: true });
    await ed.open();
    await ed.uploadKeys();
    await ed.enlist();
    const texts = Array.from({ length: 10 }, (_, i) => `burst ${i}`);
    const sent = await Promise.all(texts.map((text) => ed.sendText(ADA, text)));
    expect(sent.map((s) => s.ack.error)).toEqual(texts.map(() => undefined));
    // Sent in call order, and only one bundle fetch for Ada's single device.
    const order = ed.frameLog().filter((f) => f.dir === 'out' && f.frame.startsWith('<message')).map((f) => /id="([^"]+)"/.exec(f.frame)?.[1]);
    expect(order).toEqual(sent.map((s) => s.id));
    expect(ed.frameLog().filter((f) => f.dir === 'out' && f.frame.includes('<key><user')).length).toBe(1);
    for (const [i, s] of sent.entries()) {
      const [e] = await entriesFor(ADA, s.id, 1);
      expect(e).toMatchObject({ decrypted: true, content: { text: texts[i] } });
    }
    const echoes = new Set<string>();
    for (let i = 0; i < texts.length; i++) echoes.add((await ed.nextMessage(10_000)).content.text ?? '');
    expect(echoes).toEqual(new Set(texts.map((x) => `echo: ${x}`)));
  });
});

describe('hub user → offline provider user', () => {
  it('stores the message, pushes a signed notice, and delivers it with offline="1" on open', async () => {
    const dora = await t.client('dora');
    await dora.open();
    await dora.uploadKeys();
    await dora.enlist();
    await dora.close();
    await eventually(async () => {
      const s = await t.control.expect<{ session_open: boolean }>(200, 'GET', '/control/provider-users/dora@birdy.interop');
      return s.session_open ? undefined : s;
    }, 'dora offline');

    const { id } = await t.control.expect<{ id: string }>(201, 'POST', `/control/users/${ADA}/send`, { to: 'dora@birdy.interop', text: 'Hi Dora, Ada here' });
    expect(id).toMatch(/^[A-Za-z0-9_-]{8,64}$/);

    const push = await eventually(async () => t.push.pushes.find((p) => p.body.includes('dora@birdy.interop')), 'a push for dora');
    expect(push.headers['content-type']).toMatch(/^application\/json/);
    const signature = push.headers['x-hub-signature'];
    expect(typeof signature).toBe('string');
    expect(verifyPushSignature(PUSH_SECRET, signature as string, push.body, Math.floor(Date.now() / 1000))).toBe(true);
    expect(verifyPushSignature('some other secret', signature as string, push.body, Math.floor(Date.now() / 1000))).toBe(false);
    const body = JSON.parse(push.body) as { user: string; pending: number };
    expect(body.user).toBe('dora@birdy.interop');
    expect(body.pending).toBeGreaterThanOrEqual(1);
    const state = await t.control.expect<{ offline: number; session_open: boolean; enlisted: boolean }>(200, 'GET', '/control/provider-users/dora@birdy.interop');
    expect(state).toMatchObject({ session_open: false, enlisted: true });
    expect(state.offline).toBeGreaterThanOrEqual(1);

    await dora.open();
    const m = await dora.nextMessage(10_000);
    expect(m.stanza).toMatchObject({ id, from: ADA, offline: true });
    expect(m.stanza.enc.type).toBe('pkmsg');
    expect(m.content.text).toBe('Hi Dora, Ada here');
    expect(dora.stats.undecryptable).toBe(0);

    // Dora answers in the session Ada started; Ada (echo) decrypts it.
    const answer = await dora.sendText(ADA, 'Hi Ada!');
    expect(answer.ack.error).toBeUndefined();
    const [entry] = await entriesFor(ADA, answer.id, 1);
    expect(entry).toMatchObject({ from: 'dora@birdy.interop', decrypted: true, content: { text: 'Hi Ada!' } });
    expect((await dora.nextMessage(10_000)).content.text).toBe('echo: Hi Ada!');
  });
});
