// The reference client's receive rules (spec 5, 6.2, 11) without a hub: a fake connection records
// what the inbox sends back for messages built by a real SimDevice on the "hub" side.
import { describe, expect, it } from 'vitest';
import { encodeContent } from '../../src/protocol/index.ts';
import type { IncomingMessage, Stanza } from '../../src/protocol/index.ts';
import { SimDevice } from '../../src/mock-hub/sim-device.ts';
import type { HipConnection } from '../../src/mock-hub/reference-client/connection.ts';
import { newStats } from '../../src/mock-hub/reference-client/context.ts';
import type { ClientContext, ClientEvent } from '../../src/mock-hub/reference-client/context.ts';
import { Inbox } from '../../src/mock-hub/reference-client/inbox.ts';
import { Outbox } from '../../src/mock-hub/reference-client/outbox.ts';

const ALICE = 'alice:1@birdy.interop';
const ADA = '447700900123@hub';
const ADA0 = '447700900123:0@hub';

async function setup() {
  const alice = await SimDevice.create(ALICE);
  const ada = await SimDevice.create(ADA0);
  await ada.startSession(ALICE, alice.takeBundle());
  const sent: Stanza[] = [];
  const events: ClientEvent[] = [];
  const conn = {
    isOpen: true,
    send: (s: Stanza) => sent.push(s),
    next: () => Promise.reject(new Error('no acks in this test')),
  } as unknown as HipConnection;
  const ctx: ClientContext = {
    device: alice, followDeviceNotifications: true, stats: newStats(), peers: new Map(),
    conn: () => conn, emit: (e) => events.push(e),
  };
  const inbox = new Inbox(ctx, new Outbox(ctx));
  let t = 1_763_800_000;
  const message = async (id: string, text: string, contentId = id): Promise<IncomingMessage> => {
    const { type, ciphertext } = await ada.encrypt(ALICE, encodeContent({ id: contentId, t, text }));
    return { kind: 'message', id, from: ADA, participant: ADA0, type: 'text', t: t++, enc: { v: 1, type, ciphertext } };
  };
  return { alice, ada, sent, events, ctx, inbox, message };
}

const acks = (sent: Stanza[]) => sent.filter((s) => s.kind === 'ack');
const receipts = (sent: Stanza[]) => sent.filter((s) => s.kind === 'receipt');

describe('reference client inbox', () => {
  it('queues a decrypted message and acks it to the sender', async () => {
    const { sent, inbox, message } = await setup();
    await inbox.onMessage(await message('MSG0000001', 'hello alice'));
    const got = await inbox.messages.next(undefined, 100);
    expect(got.content).toMatchObject({ id: 'MSG0000001', text: 'hello alice' });
    expect(acks(sent)).toEqual([{ kind: 'ack', class: 'message', id: 'MSG0000001', to: ADA }]);
  });

  it('acks a redelivery again but surfaces it once (dedupe by from + id)', async () => {
    const { sent, ctx, inbox, message } = await setup();
    const m = await message('MSG0000002', 'once');
    await inbox.onMessage(m);
    await inbox.onMessage(m);
    expect(acks(sent)).toHaveLength(2);
    expect(inbox.messages.pending()).toHaveLength(1);
    expect(ctx.stats.duplicates).toBe(1);
    expect(receipts(sent)).toEqual([]);
  });

  it('acks and drops content whose id differs from the stanza: no receipt of any kind', async () => {
    const { sent, ctx, events, inbox, message } = await setup();
    await inbox.onMessage(await message('MSG0000003', 'relabelled', 'OTHERID0001'));
    expect(inbox.messages.pending()).toEqual([]);
    expect(acks(sent)).toEqual([{ kind: 'ack', class: 'message', id: 'MSG0000003', to: ADA }]);
    expect(receipts(sent)).toEqual([]);
    expect(ctx.stats.droppedMismatchedId).toBe(1);
    expect(events).toContainEqual({ type: 'dropped', id: 'MSG0000003', from: ADA, why: 'mismatched-id' });
  });

  it('acks an undecryptable message and asks for a retry: count 1 without keys, count 2 with fresh keys', async () => {
    const { alice, sent, ctx, inbox, message } = await setup();
    const m = await message('MSG0000004', 'lost');
    const broken: IncomingMessage = { ...m, enc: { ...m.enc, ciphertext: m.enc.ciphertext.slice(0, -3) } };
    await inbox.onMessage(broken);
    await inbox.onMessage(broken);
    expect(acks(sent)).toHaveLength(2);
    const [r1, r2] = receipts(sent);
    expect(r1).toMatchObject({ kind: 'receipt', id: 'MSG0000004', to: ADA, participant: ADA0, type: 'retry', retry: { count: 1, t: m.t }, registration: alice.registrationId });
    expect(r1).not.toHaveProperty('keys');
    expect(r2).toMatchObject({ type: 'retry', retry: { count: 2, t: m.t } });
    expect(r2).toHaveProperty('keys.identity', alice.identityKey());
    expect(ctx.stats).toMatchObject({ retriesSent: 2, undecryptable: 2 });
    expect(inbox.messages.pending()).toEqual([]);

    // The intact message still decrypts afterwards.
    await inbox.onMessage(m);
    expect((await inbox.messages.next(undefined, 100)).content.text).toBe('lost');
  });

  it('stops asking after count 5 (spec 6.2)', async () => {
    const { sent, inbox, message } = await setup();
    const m = await message('MSG0000005', 'never');
    const broken: IncomingMessage = { ...m, enc: { ...m.enc, ciphertext: new Uint8Array([1, 2, 3]) } };
    for (let i = 0; i < 7; i++) await inbox.onMessage(broken);
    expect(acks(sent)).toHaveLength(7);
    expect(receipts(sent).map((r) => (r.kind === 'receipt' ? r.retry?.count : 0))).toEqual([1, 2, 3, 4, 5]);
  });
});
