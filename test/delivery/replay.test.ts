// Replaying an outbound dead letter (`causeway dead-letters replay`, Outbox#replay) gives the
// message a real new start: a frame that may have reached the hub is resent byte-identical (spec 4:
// a re-encryption under an accepted id is refused as `id-reused`), the message's age starts again
// (an expired one is not failed again at once), and an attempt that must wait after the replay
// gets its retry job although the dead letter's failed job is still kept.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { harness, until } from './harness.ts';

type Inbox = { messages: Array<{ id: string; device: number; decrypted: boolean; content?: { text?: string } }> };
const ADA = '447700900123@hub';
const ALICE = 'alice@birdy.interop';
const ada = { phone: '+447700900123', name: 'Ada', devices: [0, 3], script: { echo: false, receipts: false, read: false, delay_ms: 0 } };

async function setup(core: Parameters<typeof harness>[1]) {
  const h = await harness({ users: [ada] }, core);
  await h.core.setInterop('rec', 'alice', true);
  let n = 0;
  return {
    h,
    send: async (text: string) => (await h.core.submit('rec', { idempotencyKey: `replay-${n++}`, from: 'alice', to: ADA, text })).messageId,
    inbox: async (id: string) => ((await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox).messages.filter((m) => m.id === id),
    statuses: (id: string, state: string) => h.connector.statuses.filter((s) => s.messageId === id && s.state === state),
  };
}

describe('replay of a message that failed uncertain (its frame reached the hub, the acks were lost)', () => {
  let t: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => (t = await setup({ maxAttempts: 1 })));
  afterAll(() => t.h.close());

  it('resends the stored frame: the hub acks it as the same stanza, nothing is delivered twice', async () => {
    const { h } = t;
    await h.control('PUT', '/faults', { drop_acks_rate: 1 });
    const id = await t.send('acked but the ack was lost');
    const failed = await until(() => t.statuses(id, 'failed')[0], 15_000, 'the first failure');
    expect(failed).toMatchObject({ reason: 'expired', certain: false });
    expect((await t.inbox(id)).map((m) => m.device).sort()).toEqual([0, 3]);
    await h.control('DELETE', '/faults');

    await h.core.outbox.replay(ALICE, ADA, id);
    await h.core.outbound.sweep();
    await until(() => t.statuses(id, 'sent')[0] ?? t.statuses(id, 'failed')[1], 15_000, 'the replay’s outcome');
    expect(t.statuses(id, 'failed')).toHaveLength(1); // not `id-reused`
    expect(t.statuses(id, 'sent')).toHaveLength(1);
    expect((await t.inbox(id)).map((m) => m.device).sort()).toEqual([0, 3]);
  });
});

describe('a 400 id-reused ack', () => {
  let t: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => (t = await setup({ maxAttempts: 1 })));
  afterAll(() => t.h.close());

  it('fails the message as uncertain: the hub holds another stanza of ours under its id', async () => {
    const { h } = t;
    const id = await t.send('sent once');
    await until(() => t.statuses(id, 'sent')[0], 15_000, 'sent');
    // The state a second sender of the same message is in (e.g. a drain that outlived its lease
    // and re-encrypted): queued again, no stored frame.
    await h.redis.hset(h.core.outbox.recordKey(ALICE, id), 'state', 'queued');
    await h.core.outbox.dropFrame(ALICE, id);
    await h.redis.rpush(h.core.outbox.laneKey(ALICE, ADA), id);
    h.core.outbound.kick({ user: ALICE, peer: ADA, id });
    expect(await until(() => t.statuses(id, 'failed')[0], 15_000, 'failed')).toMatchObject({ reason: 'id-reused', certain: false });
  });
});

describe('replay of an exhausted message whose attempt after the replay must wait', () => {
  let t: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => (t = await setup({ maxAttempts: 2 })));
  afterAll(() => t.h.close());
  afterEach(() => t.h.control('DELETE', '/faults'));

  it('gets a retry job (the old failed one is not in the way) and is delivered once', async () => {
    const { h } = t;
    await h.control('PUT', '/faults', { error: { rate: 1, code: 503 } });
    const id = await t.send('exhausted, then replayed');
    await until(() => t.statuses(id, 'failed')[0], 15_000, 'the first failure');
    expect(await (await h.core.outbound.queue.getJob(id))?.getState()).toBe('failed');

    // The drain of the lane reaches the replayed message (as when it was behind newer messages);
    // the hub rate-limits this attempt.
    await h.control('PUT', '/faults', { error: { rate: 1, code: 429, retry_after: 3 } });
    await h.core.outbox.replay(ALICE, ADA, id);
    const limited = h.core.outbound.counters.rateLimited;
    h.core.outbound.kick({ user: ALICE, peer: ADA, id });
    await until(() => h.core.outbound.counters.rateLimited > limited && h.core.outbound.pending === 0, 15_000, 'the rate-limited attempt');
    expect(await (await h.core.outbound.queue.getJob(id))?.getState()).toBe('delayed'); // retry-after is waited for
    await h.control('DELETE', '/faults');

    await h.core.outbound.sweep(); // what the periodic sweep does meanwhile
    await until(() => t.statuses(id, 'sent')[0] ?? t.statuses(id, 'failed')[1], 15_000, 'the replay’s outcome');
    expect(t.statuses(id, 'failed')).toHaveLength(1);
    expect(t.statuses(id, 'sent')).toHaveLength(1);
  });
});

describe('replay of a message that expired by age', () => {
  let t: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => (t = await setup({ maxAttempts: 100, maxQueueAgeMs: 1500 })));
  afterAll(() => t.h.close());

  it('is attempted again rather than expired again at once', async () => {
    const { h } = t;
    await h.control('PUT', '/faults', { error: { rate: 1, code: 503 } });
    const id = await t.send('too old, then replayed');
    expect(await until(() => t.statuses(id, 'failed')[0], 15_000, 'the first failure')).toMatchObject({ reason: 'expired' });
    await h.control('DELETE', '/faults');

    await h.core.outbox.replay(ALICE, ADA, id);
    await h.core.outbound.sweep();
    await until(() => t.statuses(id, 'sent')[0] ?? t.statuses(id, 'failed')[1], 15_000, 'the replay’s outcome');
    expect(t.statuses(id, 'failed')).toHaveLength(1);
    expect((await t.inbox(id)).filter((m) => m.decrypted && m.content?.text === 'too old, then replayed').map((m) => m.device).sort()).toEqual([0, 3]);
  });
});
