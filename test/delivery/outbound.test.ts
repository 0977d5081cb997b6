import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { harness, until } from './harness.ts';

type Inbox = { messages: Array<{ id: string; device: number; decrypted: boolean; content?: { text?: string } }> };
const ADA = '447700900123@hub';
let h: Awaited<ReturnType<typeof harness>>;

beforeAll(async () => {
  h = await harness({
    users: [
      { phone: '+447700900123', name: 'Ada', devices: [0, 3], script: { echo: true, receipts: true, read: true, delay_ms: 0 } },
      { phone: '+447700900456', name: 'Bob', devices: [0], third_party: { enabled: false, providers: [] } },
    ],
  });
  await h.core.setInterop('rec', 'alice', true);
});
afterAll(() => h.close());

const inbox = async (jid: string) => (await h.control('GET', `/users/${jid}/inbox`)).body as unknown as Inbox;

describe('outbound delivery through the core', () => {
  it('delivers text to every device, reports sent → delivered → read, and brings the reply back', async () => {
    const { messageId, duplicate } = await h.core.submit('rec', { idempotencyKey: 'k-1', from: 'alice', to: ADA, text: 'Hello Ada 👋 <&>' });
    expect(duplicate).toBe(false);
    await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'sent'), 15_000, 'sent');
    const entries = (await inbox(ADA)).messages.filter((m) => m.id === messageId);
    expect(entries.map((m) => m.device).sort()).toEqual([0, 3]);
    expect(entries.every((m) => m.decrypted && m.content?.text === 'Hello Ada 👋 <&>')).toBe(true);
    await until(() => h.connector.statuses.filter((s) => s.messageId === messageId && s.state === 'delivered').length === 2, 15_000, 'delivered x2');
    await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'read'), 15_000, 'read');
    const echo = await until(() => h.connector.delivered.find((m) => m.text === 'echo: Hello Ada 👋 <&>'), 15_000, 'echo');
    expect(echo).toMatchObject({ from: ADA, to: 'alice', offline: false });
    const history = await h.core.statuses('rec', 'k-1');
    expect(history?.map((s) => s.state).slice(0, 2)).toEqual(['queued', 'sent']);
  });

  it('answers a repeated idempotency key with the same id and sends nothing twice', async () => {
    const a = await h.core.submit('rec', { idempotencyKey: 'k-dup', from: 'alice', to: ADA, text: 'only once' });
    const b = await h.core.submit('rec', { idempotencyKey: 'k-dup', from: 'alice', to: ADA, text: 'only once' });
    expect(b).toEqual({ messageId: a.messageId, duplicate: true });
    await until(() => h.connector.statuses.find((s) => s.messageId === a.messageId && s.state === 'sent'), 15_000, 'sent');
    await new Promise((r) => setTimeout(r, 300));
    expect((await inbox(ADA)).messages.filter((m) => m.id === a.messageId)).toHaveLength(2); // two devices, once each
  });

  it('keeps a conversation in order', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 15; i++) ids.push((await h.core.submit('rec', { idempotencyKey: `ord-${i}`, from: 'alice', to: ADA, text: `n${i}` })).messageId);
    await until(() => ids.every((id) => h.connector.statuses.some((s) => s.messageId === id && s.state === 'sent')), 30_000, 'all sent');
    const got = (await inbox(ADA)).messages.filter((m) => m.device === 0 && ids.includes(m.id)).map((m) => m.content?.text);
    expect(got).toEqual(ids.map((_, i) => `n${i}`));
  });

  it('a conversation with messages waiting: each finish claims the next one (one claim for the whole batch), in order', async () => {
    const claim = vi.spyOn(h.core.outbox, 'claim');
    const batch = Array.from({ length: 8 }, (_, i) => ({ idempotencyKey: `waiting-${i}`, from: 'alice', to: ADA, text: `w${i}` }));
    const ids = (await h.core.submitMany('rec', batch)).map((o) => ('messageId' in o ? o.messageId : ''));
    await until(() => ids.every((id) => h.connector.statuses.some((s) => s.messageId === id && s.state === 'sent')), 30_000, 'all sent');
    const claims = claim.mock.calls.filter(([, , id]) => ids.includes(id)).length;
    claim.mockRestore();
    expect(claims).toBe(1);
    const got = (await inbox(ADA)).messages.filter((m) => ids.includes(m.id));
    expect(got.filter((m) => m.device === 0).map((m) => m.content?.text)).toEqual(batch.map((b) => b.text));
    expect(got.filter((m) => m.device === 3).map((m) => m.content?.text)).toEqual(batch.map((b) => b.text));
  });

  it('fails permanently, with the reason, for a hub user who has not opted in', async () => {
    const { messageId } = await h.core.submit('rec', { idempotencyKey: 'k-bob', from: 'alice', to: '447700900456@hub', text: 'hi bob' });
    const failed = await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'failed'), 15_000, 'failed');
    expect(failed).toMatchObject({ reason: 'not-opted-in', certain: true });
    expect(failed.message).toMatch(/cannot be reached/);
  });

  it('does not send, and does not enlist again, a message queued before its sender opted out', async () => {
    await h.core.setInterop('rec', 'dora', true);
    const { messageId } = await h.core.submit('rec', { idempotencyKey: 'k-dora', from: 'dora', to: ADA, text: 'too late' });
    const optOut = h.core.setInterop('rec', 'dora', false); // takes effect in this process at once
    const failed = await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'failed'), 15_000, 'failed');
    await optOut;
    expect(failed).toMatchObject({ reason: 'sender-opted-out', certain: true });
    expect((await inbox(ADA)).messages.filter((m) => m.id === messageId)).toEqual([]);
    const dora = await h.control('GET', `/provider-users/${encodeURIComponent('dora@birdy.interop')}`);
    expect(dora.body).toMatchObject({ enlisted: false });
  });

  it('refuses bad input before queueing anything', async () => {
    await expect(h.core.submit('rec', { idempotencyKey: 'x1', from: 'Alice!', to: ADA, text: 'x' })).rejects.toMatchObject({ field: 'from' });
    await expect(h.core.submit('rec', { idempotencyKey: 'x2', from: 'alice', to: '+447700900123', text: 'x' })).rejects.toMatchObject({ field: 'to' });
    await expect(h.core.submit('rec', { idempotencyKey: 'x3', from: 'alice', to: ADA, text: '' })).rejects.toMatchObject({ field: 'text' });
    await expect(h.core.submit('rec', { idempotencyKey: 'x4', from: 'zed', to: ADA, text: 'x' })).rejects.toMatchObject({ field: 'from' });
    expect(await h.core.statuses('rec', 'x1')).toBeUndefined();
  });
});
