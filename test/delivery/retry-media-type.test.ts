// A retry answer (spec 6.2) resends the same message to one device: for a media message it must
// keep the message's type and the enc's mediatype (spec 4: `type="media"`, every enc with its
// `mediatype`), as the original send declared them, not go out as text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboundMessage } from '../../adapters/contract.ts';
import type { HubConnection } from '../../src/hub/connection.ts';
import type { MediaService } from '../../src/media/index.ts';
import type { AckStanza, OutgoingMessage, Stanza } from '../../src/protocol/index.ts';
import { harness, QUIET_ADA, until } from './harness.ts';

const ADA = '447700900123@hub';
const ADA0 = '447700900123:0@hub';
const ALICE = 'alice@birdy.interop';
let h: Awaited<ReturnType<typeof harness>>;

// The attachment as the media service would have hosted it (the bytes play no part here).
const media = {
  prepareOutbound: async () => ({
    ref: {
      kind: 'image', mime: 'image/png', size: 68, sha256: new Uint8Array(32).fill(1), encSha256: new Uint8Array(32).fill(2),
      key: new Uint8Array(32).fill(3), nonce: new Uint8Array(12).fill(4), url: 'https://media.example/blob/1', filename: 'dot.png',
    },
  }),
} as unknown as MediaService;

beforeAll(async () => {
  h = await harness({ users: [QUIET_ADA] }, { media: () => media });
  await h.core.setInterop('rec', 'alice', true);
});
afterAll(() => h.close());

/** Alice's real session, with every message it sends recorded on the way to the hub. */
async function recordingSession() {
  const real = await h.sessions.get(ALICE);
  const sent: Stanza[] = [];
  const acks: AckStanza[] = [];
  const conn = {
    user: ALICE,
    get open() {
      return real.open;
    },
    send: (s: Stanza) => (sent.push(s), real.send(s)),
    iq: (q: Parameters<HubConnection['iq']>[0], t: 'get' | 'set') => real.iq(q, t),
    sendMessage: async (m: OutgoingMessage) => {
      sent.push(m);
      const ack = await real.sendMessage(m);
      acks.push(ack);
      return ack;
    },
    sendReceipt: (r: Parameters<HubConnection['sendReceipt']>[0]) => real.sendReceipt(r),
  } as unknown as HubConnection;
  return { conn, sent, acks };
}

/**
 * Submits `m` and waits until it was sent; then Ada's device 0 asks for it again with a retry
 * receipt: the messages alice's session resent, and the hub's acks, once the answer was acked.
 */
async function resentOnRetry(m: OutboundMessage): Promise<{ messageId: string; resent: OutgoingMessage[]; acks: AckStanza[] }> {
  const { messageId } = await h.core.submit('rec', m);
  await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'sent'), 15_000, 'sent');

  const { conn, sent, acks } = await recordingSession();
  h.core.onInbound(conn, { kind: 'receipt', id: messageId, from: ADA, participant: ADA0, type: 'retry', retry: { count: 1, t: 1 }, registration: 1 });
  await until(() => acks.length > 0, 10_000, 'the retry answer acked');
  return { messageId, resent: sent.filter((s): s is OutgoingMessage => s.kind === 'message'), acks };
}

describe('answering a retry receipt for a media message', () => {
  it('resends it as media, with the mediatype on the enc', async () => {
    const { messageId, resent, acks } = await resentOnRetry({ idempotencyKey: 'img-1', from: 'alice', to: ADA, text: 'a dot', media: { kind: 'image', mime: 'image/png', data: new Uint8Array(68) } });
    expect(resent).toHaveLength(1);
    expect(resent[0]).toMatchObject({ id: messageId, to: ADA, type: 'media', participants: [{ jid: ADA0, enc: { count: 1, mediatype: 'image' } }] });
    expect(acks[0]?.error).toBeUndefined();
  });

  it('a text message is still resent as text, with no mediatype', async () => {
    const { messageId, resent } = await resentOnRetry({ idempotencyKey: 'txt-1', from: 'alice', to: ADA, text: 'just words' });
    expect(resent).toHaveLength(1);
    expect(resent[0]).toMatchObject({ id: messageId, type: 'text' });
    expect(resent[0]?.participants[0]?.enc.mediatype).toBeUndefined();
  });
});
