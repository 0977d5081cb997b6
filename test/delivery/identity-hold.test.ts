// Policy identity_change: hold — after a hub contact's safety number changes, messages to it wait
// until the provider user acknowledges the change; then they go out to the new identity.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, harness, until } from './harness.ts';

type Inbox = { messages: Array<{ id: string; decrypted: boolean; content?: { text?: string } }> };
const ADA = '447700900123@hub';
let h: Awaited<ReturnType<typeof harness>>;

beforeAll(async () => {
  h = await harness({ users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }] }, { identityChange: 'hold' });
  await h.core.setInterop('rec', 'alice', true);
  const { messageId } = await h.core.submit('rec', { idempotencyKey: 'before', from: 'alice', to: ADA, text: 'before' });
  await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'sent'), 15_000, 'sent');
});
afterAll(() => h.close());

describe('identity change with policy hold', () => {
  it('holds messages until the safety number is acknowledged', async () => {
    await h.control('POST', `/users/${ADA}/identity`, {});
    const notice = await until(() => h.connector.notices.find((n) => n.kind === 'safety-number-changed'), 10_000, 'notice');
    expect(notice).toMatchObject({ peer: ADA, held: true });
    const { messageId } = await h.core.submit('rec', { idempotencyKey: 'held', from: 'alice', to: ADA, text: 'after the change' });
    await new Promise((r) => setTimeout(r, 2500));
    expect(h.connector.statuses.some((s) => s.messageId === messageId && s.state === 'sent')).toBe(false);
    expect(await h.core.acknowledgeIdentity('alice', ADA)).toBe(true);
    expect(await h.core.acknowledgeIdentity('alice', ADA)).toBe(false);
    await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'sent'), 15_000, 'sent after ack');
    const got = await eventually(async () => ((await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox).messages.find((m) => m.id === messageId && m.decrypted), 10_000, 'decrypted');
    expect(got.content?.text).toBe('after the change');
  });
});
