// Several replicas on one Redis and one hub: the hub keeps one session per user (spec 2, 4409 for
// the older one), so a replica hands a conversation to the replica holding its sender's session
// instead of taking the session; when the holder is gone, another takes over.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, until } from './harness.ts';

type Inbox = { messages: Array<{ id: string; decrypted: boolean; content?: { text?: string } }> };
const ADA = '447700900123@hub';
const closes: Array<{ replica: string; user: string; code: number }> = [];
let h: Awaited<ReturnType<typeof harness>>;
let b: Awaited<ReturnType<typeof h.replica>>;

beforeAll(async () => {
  h = await harness(
    { users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }] },
    {},
    { ownership: true, onClosed: (user, code) => closes.push({ replica: 'a', user, code }) },
  );
  b = await h.replica(true, (user, code) => closes.push({ replica: 'b', user, code }));
});
afterAll(async () => {
  await b.close();
  await h.close();
});

const inbox = async () => ((await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox).messages;
const sentOn = (id: string) => [...h.connector.statuses, ...b.connector.statuses].some((s) => s.messageId === id && s.state === 'sent');

describe('several replicas sharing Redis', () => {
  it('hands conversations to the replica holding the sender’s hub session: in order, once each, no session taken', async () => {
    await h.core.setInterop('rec', 'alice', true);
    const first = await h.core.submit('rec', { idempotencyKey: 'r-0', from: 'alice', to: ADA, text: 'from a' });
    await until(() => sentOn(first.messageId), 15_000, 'first sent');
    expect(h.sessions.isOpen('alice@birdy.interop')).toBe(true);

    const ids = [first.messageId];
    for (let i = 1; i <= 30; i++) {
      const via = i % 2 === 0 ? h.core : b.core;
      ids.push((await via.submit('rec', { idempotencyKey: `r-${i}`, from: 'alice', to: ADA, text: `m${i}` })).messageId);
    }
    await until(() => ids.every(sentOn), 20_000, 'all sent');
    const got = (await inbox()).filter((m) => m.decrypted && ids.includes(m.id));
    expect(got.map((m) => m.id)).toEqual(ids); // each once, in submission order
    expect(b.core.outbound.counters.forwarded).toBeGreaterThan(0);
    expect(b.sessions.isOpen('alice@birdy.interop')).toBe(false);
    expect(closes.filter((c) => c.code === 4409)).toEqual([]);
  });

  it('takes the session over when its holder has stopped', async () => {
    const c = await h.replica(true, (user, code) => closes.push({ replica: 'c', user, code }));
    await c.core.setInterop('rec', 'carol', true);
    expect(c.sessions.isOpen('carol@birdy.interop')).toBe(true);
    const before = h.core.outbound.counters.forwarded;
    const one = await h.core.submit('rec', { idempotencyKey: 'c-1', from: 'carol', to: ADA, text: 'via the holder' });
    await until(() => c.connector.statuses.some((s) => s.messageId === one.messageId && s.state === 'sent') || h.connector.statuses.some((s) => s.messageId === one.messageId && s.state === 'sent'), 15_000, 'sent via c');
    expect(h.core.outbound.counters.forwarded).toBe(before + 1);
    expect(h.sessions.isOpen('carol@birdy.interop')).toBe(false);

    await c.close();
    const two = await h.core.submit('rec', { idempotencyKey: 'c-2', from: 'carol', to: ADA, text: 'holder gone' });
    await until(() => sentOn(two.messageId), 15_000, 'sent after take-over');
    expect(h.sessions.isOpen('carol@birdy.interop')).toBe(true);
    const texts = (await inbox()).filter((m) => m.decrypted && [one.messageId, two.messageId].includes(m.id)).map((m) => m.content?.text);
    expect(texts).toEqual(['via the holder', 'holder gone']);
    expect(closes.filter((x) => x.code === 4409)).toEqual([]);
  });
});
