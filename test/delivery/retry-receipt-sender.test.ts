// Retry receipts (spec 6.2) answered by inbound.ts: only the recipient of a message may ask for it
// again, and only for one of its own devices. A retry receipt naming a message sent to someone
// else (its id learnt somehow) must not make Causeway re-encrypt that message's plaintext for the
// asker's device.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubConnection } from '../../src/hub/connection.ts';
import type { ReceiptStanza, Stanza } from '../../src/protocol/index.ts';
import { harness, until } from './harness.ts';

const ADA = '447700900123@hub';
const BEN = '447700900456@hub';
const ALICE = 'alice@birdy.interop';
let h: Awaited<ReturnType<typeof harness>>;
let messageId: string;

beforeAll(async () => {
  const script = { echo: false, receipts: false, read: false, delay_ms: 0 };
  h = await harness({ users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script }, { phone: '+447700900456', name: 'Ben', devices: [0], script }] });
  await h.core.setInterop('rec', 'alice', true);
  ({ messageId } = await h.core.submit('rec', { idempotencyKey: 'to-ada', from: 'alice', to: ADA, text: 'for Ada only' }));
  await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'sent'), 15_000, 'sent');
});
afterAll(() => h.close());

/** Alice's session as the handler sees it: iqs go to the hub, what it sends is recorded. */
async function recordingSession() {
  const real = await h.sessions.get(ALICE);
  const sent: Stanza[] = [];
  const conn = {
    user: ALICE,
    get open() {
      return real.open;
    },
    send: (s: Stanza) => void sent.push(s),
    iq: (q: Parameters<HubConnection['iq']>[0], t: 'get' | 'set') => real.iq(q, t),
    sendMessage: (m: Stanza) => (sent.push(m), Promise.resolve({ kind: 'ack', class: 'message', id: (m as { id: string }).id })),
    sendReceipt: (r: Stanza) => (sent.push(r), Promise.resolve({ kind: 'ack', class: 'receipt' })),
  } as unknown as HubConnection;
  return { conn, sent };
}

/**
 * Hands the receipt to the core, then a marker notification about no one in particular (which
 * waits for every stanza before it, inbound.ts #chain); resolves once the marker is reached.
 */
async function handle(conn: HubConnection, sent: Stanza[], r: ReceiptStanza): Promise<void> {
  h.core.onInbound(conn, r);
  const marker = `mark${Math.random().toString(36).slice(2, 10)}`;
  h.core.onInbound(conn, { kind: 'notification', id: marker, type: 'providers', providers: [] });
  await until(() => sent.some((s) => s.kind === 'ack' && s.id === marker), 10_000, 'receipt handled');
}

describe('retry receipts from someone other than the recipient', () => {
  it('a hub user who was not the recipient gets nothing re-encrypted for its device', async () => {
    const { conn, sent } = await recordingSession();
    await handle(conn, sent, { kind: 'receipt', id: messageId, from: BEN, participant: `${BEN.replace('@', ':0@')}`, type: 'retry', retry: { count: 1, t: 1 }, registration: 1 });
    expect(sent.filter((s) => s.kind === 'message')).toEqual([]);
  });

  it('the recipient naming a device of another user gets nothing either', async () => {
    const { conn, sent } = await recordingSession();
    await handle(conn, sent, { kind: 'receipt', id: messageId, from: ADA, participant: `${BEN.replace('@', ':0@')}`, type: 'retry', retry: { count: 1, t: 1 }, registration: 1 });
    expect(sent.filter((s) => s.kind === 'message')).toEqual([]);
  });

  it('the recipient asking for one of its own devices is answered (count kept)', async () => {
    const { conn, sent } = await recordingSession();
    await handle(conn, sent, { kind: 'receipt', id: messageId, from: ADA, participant: `${ADA.replace('@', ':0@')}`, type: 'retry', retry: { count: 2, t: 1 }, registration: 1 });
    const resent = sent.filter((s) => s.kind === 'message');
    expect(resent).toHaveLength(1);
    expect(resent[0]).toMatchObject({ id: messageId, to: ADA, participants: [{ jid: `${ADA.replace('@', ':0@')}`, enc: { count: 2 } }] });
  });
});
