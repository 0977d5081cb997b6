// A drain that was kicked while it sent, and then found its lane empty, must not swallow a kick
// that arrives after it looked: a message submitted into the emptied lane right then (its head,
// so its only kick is that one) is sent at once, not left to the next sweep (30 s).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, until } from './harness.ts';

const ADA = '447700900123@hub';
const ALICE = 'alice@birdy.interop';
let h: Awaited<ReturnType<typeof harness>>;

beforeAll(async () => {
  h = await harness({ users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }] });
  await h.core.setInterop('rec', 'alice', true);
});
afterAll(() => h.close());

const sent = (id: string, ms: number) => until(() => h.connector.statuses.find((s) => s.messageId === id && s.state === 'sent'), ms, `sent ${id}`);

describe('a kick arriving as a drain ends', () => {
  it('starts a new drain (or is taken by the ending one): the new head is sent without waiting for a sweep', async () => {
    await h.control('PUT', '/faults', { ack_delay_ms: 300 });
    const outbox = h.core.outbox;
    const head = outbox.head.bind(outbox);
    let reached!: () => void;
    const inHead = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let paused = false;
    // The drain reads the emptied lane; the next submit lands just after that read.
    outbox.head = async (user, peer) => {
      const v = await head(user, peer);
      if (!paused && v === undefined) {
        paused = true;
        reached();
        await released;
      }
      return v;
    };
    try {
      const first = (await h.core.submit('rec', { idempotencyKey: 'kick-1', from: 'alice', to: ADA, text: 'one' })).messageId;
      h.core.outbound.kick({ user: ALICE, peer: ADA, id: first }); // e.g. a hand-over while it is sent
      await inHead;
      const second = (await h.core.submit('rec', { idempotencyKey: 'kick-2', from: 'alice', to: ADA, text: 'two' })).messageId;
      release();
      await h.control('DELETE', '/faults');
      await sent(first, 10_000);
      await sent(second, 10_000);
      expect(await h.redis.llen(outbox.laneKey(ALICE, ADA))).toBe(0);
    } finally {
      release();
      outbox.head = head;
    }
  });
});
