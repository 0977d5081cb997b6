// The downgrade policy in the delivery path (spec 11): converted features reach the hub as text
// with a `<fallback for>`, rejected and dropped ones fail with the reason, and hub media an adapter
// cannot show arrives as the policy's text line. (The 406 path needs media kinds the hub refuses:
// it is covered by test/policy/after-406.test.ts until media is wired to delivery.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, harness, until } from './harness.ts';

type Inbox = { messages: Array<{ id: string; decrypted: boolean; content?: { text?: string; fallbacks?: Array<{ for: string; text: string }> } }> };
const ADA = '447700900123@hub';
let h: Awaited<ReturnType<typeof harness>>;
let n = 0;

beforeAll(async () => {
  h = await harness({ users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }] });
  await h.core.setInterop('rec', 'alice', true);
});
afterAll(() => h.close());

const submit = async (feature: { name: string; data: Record<string, unknown> }, text?: string) =>
  (await h.core.submit('rec', { idempotencyKey: `pol-${n++}`, from: 'alice', to: ADA, feature, ...(text ? { text } : {}) })).messageId;
const finalStatus = (id: string) => until(() => h.connector.statuses.find((s) => s.messageId === id && (s.state === 'sent' || s.state === 'failed')), 15_000, `final status of ${id}`);

describe('downgrade policy in delivery', () => {
  it('converts a location to text with a map link and a fallback, and says so in the sent status', async () => {
    const id = await submit({ name: 'location', data: { latitude: 51.5007, longitude: -0.1246, name: 'Big Ben' } });
    const s = await finalStatus(id);
    expect(s).toMatchObject({ state: 'sent', downgraded: [{ feature: 'location', to: 'text' }] });
    const got = await eventually(async () => ((await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox).messages.find((m) => m.id === id), 10_000, 'at hub');
    expect(got.decrypted).toBe(true);
    expect(got.content?.text).toContain('Big Ben');
    expect(got.content?.text).toContain('openstreetmap.org');
    expect(got.content?.fallbacks?.[0]?.for).toBe('location');
  });

  it('rejects view-once and drops statuses by default, with the reason, sending nothing', async () => {
    const before = ((await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox).messages.length;
    const v = await submit({ name: 'view-once', data: { media: { kind: 'image', mime: 'image/jpeg', url: 'https://example.com/x.jpg' } } });
    expect(await finalStatus(v)).toMatchObject({ state: 'failed', reason: 'view-once', certain: true });
    const st = await submit({ name: 'status', data: { text: 'at the beach' } });
    expect(await finalStatus(st)).toMatchObject({ state: 'failed', reason: 'dropped-by-policy' });
    expect((await h.core.statuses('rec', `pol-${n - 1}`))?.map((x) => x.state)).toEqual(['queued', 'failed']);
    await new Promise((r) => setTimeout(r, 300));
    expect(((await h.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox).messages.length).toBe(before);
  });

  it('a malformed feature fails with its reason and changes nothing at the hub', async () => {
    const id = await submit({ name: 'poll', data: { question: 'lunch?', options: ['only one'] } });
    expect(await finalStatus(id)).toMatchObject({ state: 'failed', reason: 'invalid-feature' });
  });

  it('hub media the adapter cannot show arrives as the policy text line', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4f10000000049454e44ae426082', 'hex');
    const { id } = (await h.control('POST', `/users/${ADA}/send`, { to: 'alice@birdy.interop', media: { kind: 'image', mime: 'image/png', data: png.toString('base64'), filename: 'dot.png' } })).body as { id: string };
    const m = await until(() => h.connector.delivered.find((x) => x.id === id), 15_000, 'delivered');
    expect(m.media).toBeUndefined();
    expect(m.text).toMatch(/dot\.png/);
    expect(m.fallbacks?.some((f) => f.feature === 'image')).toBe(true);
  });
});
