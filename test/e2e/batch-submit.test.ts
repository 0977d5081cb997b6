// POST /v1/messages/batch end to end (docs/webhook-adapter.md "Send several messages"): Causeway
// started from YAML, a real Redis and the mock hub with libsignal devices. A batch reaches several
// hub users, each message once and in order per conversation; a repeat answers the same ids and
// sends nothing again; a bad item, a repeated key or too many messages queue nothing; per-item
// outcomes when some messages are refused.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/redis.ts';
import { eventually } from './helpers.ts';
import { API_TOKEN, startStack, type Stack } from './sidecar-stack.ts';

const ADA = '447700900123@hub';
const BEN = '447700900124@hub';
const script = { echo: false, receipts: false, read: false, delay_ms: 0 };
let s: Stack;
let redis: Redis;

beforeAll(async () => {
  s = await startStack({ users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script }, { phone: '+447700900124', name: 'Ben', devices: [0, 2], script }] });
  redis = new Redis(REDIS_URL);
  for (const u of ['alice', 'bob']) expect((await s.api('PUT', `/v1/users/${u}/interop`, { enabled: true })).status).toBe(200);
}, 60_000);
afterAll(async () => {
  redis.disconnect();
  await s.close();
});

type Item = { idempotency_key: string; from: string; to: string; text?: string; [k: string]: unknown };
type Result = { idempotency_key: string; status: 'queued' | 'rejected'; message_id?: string; duplicate?: boolean; error?: string; issues?: Array<{ field: string; in: string; message: string }> };
const batch = (messages: unknown, headers?: Record<string, string>) => s.api('POST', '/v1/messages/batch', { messages }, headers);
const results = (body: Record<string, unknown>) => body.results as Result[];

/** Every decrypted message a hub device has, oldest first, as `from: text` (one entry per device). */
async function inbox(jid: string, device = 0): Promise<Array<{ id: string; line: string }>> {
  const got = (await s.control('GET', `/users/${jid}/inbox`)).body as unknown as { messages: Array<{ id: string; from: string; device: number; decrypted: boolean; content?: { text?: string } }> };
  return got.messages.filter((m) => m.device === device && m.decrypted).map((m) => ({ id: m.id, line: `${m.from.split('@')[0]}: ${m.content?.text}` }));
}
const idemKey = (key: string) => `${s.prefix}:idem:app:${createHash('sha256').update(key).digest('base64url')}`;

describe('POST /v1/messages/batch through the whole stack', () => {
  const items: Item[] = [];
  for (let i = 0; i < 6; i++) {
    items.push({ idempotency_key: `b1-alice-ada-${i}`, from: 'alice', to: ADA, text: `alice to Ada ${i}` });
    items.push({ idempotency_key: `b1-bob-ada-${i}`, from: 'bob', to: ADA, text: `bob to Ada ${i}` });
    // Ben by phone number: looked up once for the batch, then queued in order like the rest.
    if (i % 2 === 0) items.push({ idempotency_key: `b1-alice-ben-${i}`, from: 'alice', to: '+447700900124', text: `alice to Ben ${i}` });
  }
  let first: Result[] = [];

  it('queues every message, delivers each once to every device, in order per conversation', async () => {
    const r = await batch(items);
    expect(r.status).toBe(200);
    first = results(r.body);
    expect(r.body).toMatchObject({ queued: items.length, rejected: 0 });
    expect(first.map((x) => [x.idempotency_key, x.status, x.duplicate])).toEqual(items.map((m) => [m.idempotency_key, 'queued', false]));
    expect(new Set(first.map((x) => x.message_id)).size).toBe(items.length);

    const want = (jid: string) => items.filter((m) => m.to === jid || m.to === `+${jid.split('@')[0]}`).map((m) => `${m.from}: ${m.text}`);
    for (const [jid, device] of [[ADA, 0], [BEN, 0], [BEN, 2]] as const) {
      const got = await eventually(async () => {
        const x = await inbox(jid, device);
        return x.length >= want(jid).length ? x : undefined;
      }, `every message at ${jid} device ${device}`, 20_000);
      // Per conversation (sender) the order of the batch; across conversations no order is promised.
      for (const from of ['alice', 'bob']) expect(got.map((m) => m.line).filter((l) => l.startsWith(`${from}:`))).toEqual(want(jid).filter((l) => l.startsWith(`${from}:`)));
      expect(got).toHaveLength(want(jid).length);
    }
    const history = await s.api('GET', `/v1/messages/${items[0]?.idempotency_key}`);
    expect(history.body.message_id).toBe(first[0]?.message_id);
  });

  it('answers a repeat of the batch with the same ids, duplicate: true, and sends nothing again', async () => {
    const r = await batch(items);
    expect(r.status).toBe(200);
    expect(results(r.body).map((x) => [x.message_id, x.status, x.duplicate])).toEqual(first.map((x) => [x.message_id, 'queued', true]));
    // A repeat inside a larger batch: the known key is acknowledged, the new one queued.
    const mixed = await batch([items[1], { idempotency_key: 'b1-new', from: 'bob', to: ADA, text: 'bob to Ada, new' }]);
    expect(results(mixed.body).map((x) => [x.message_id === first[1]?.message_id, x.duplicate])).toEqual([[true, true], [false, false]]);
    await eventually(async () => ((await inbox(ADA)).some((m) => m.line === 'bob: bob to Ada, new') ? true : undefined), 'the new message', 20_000);
    await new Promise((r) => setTimeout(r, 500));
    for (const [jid, device] of [[ADA, 0], [BEN, 0], [BEN, 2]] as const) {
      const ids = (await inbox(jid, device)).map((m) => m.id);
      expect(new Set(ids).size, `${jid}:${device} has each message once`).toBe(ids.length);
    }
    expect((await inbox(ADA)).length).toBe(12 + 1);
  });

  it('refuses the whole batch with 400 naming messages[i].field when one item is invalid, and queues nothing', async () => {
    const bad = [
      { idempotency_key: 'b2-0', from: 'alice', to: ADA, text: 'never sent 0' },
      { idempotency_key: 'b2-1', from: 'alice', to: ADA, text: 'never sent 1' },
      { idempotency_key: 'b2-2', from: 'alice', to: ADA, text: 'never sent 2' },
      { idempotency_key: 'b2-3', from: 'alice', to: 'not-an-address', text: 'never sent 3' },
      { idempotency_key: 'b2-4', from: 'alice', to: ADA, text: 'x', colour: 'red' },
      { from: 'alice', to: ADA, text: 'no key' },
    ];
    const r = await batch(bad);
    expect(r.status).toBe(400);
    const fields = (r.body.issues as Array<{ field: string }>).map((i) => i.field);
    expect(fields).toEqual(expect.arrayContaining(['messages[3].to', 'messages[4].colour', 'messages[5].idempotency_key']));
    expect(fields).toHaveLength(3);
    // A key given twice in one batch is refused too (one of them would silently not be sent).
    const twice = await batch([bad[0], bad[1], { ...bad[2], idempotency_key: 'b2-0' }]);
    expect(twice.status).toBe(400);
    expect(twice.body.issues).toEqual([{ field: 'messages[2].idempotency_key', in: 'body', message: expect.stringContaining('messages[0]') }]);
    await new Promise((r) => setTimeout(r, 500));
    for (const k of ['b2-0', 'b2-1', 'b2-2']) {
      expect(await redis.exists(idemKey(k)), k).toBe(0);
      expect((await s.api('GET', `/v1/messages/${k}`)).status).toBe(404);
    }
    expect((await inbox(ADA)).filter((m) => m.line.includes('never sent'))).toEqual([]);
  });

  it('refuses more than max_messages_per_batch (100 by default) with 413, and an empty batch with 400', async () => {
    const many = Array.from({ length: 101 }, (_, i) => ({ idempotency_key: `b3-${i}`, from: 'alice', to: ADA, text: `too many ${i}` }));
    const r = await batch(many);
    expect(r.status).toBe(413);
    expect(r.body.issues).toEqual([{ field: 'messages', in: 'body', message: expect.stringContaining('at most 100') }]);
    expect(await redis.exists(idemKey('b3-0'))).toBe(0);
    expect((await batch([])).status).toBe(400);
    expect((await s.api('POST', '/v1/messages/batch', {})).body.issues).toEqual([{ field: 'messages', in: 'body', message: 'required' }]);
  });

  it('requires a valid bearer token', async () => {
    const body = JSON.stringify({ messages: [{ idempotency_key: 'b4-0', from: 'alice', to: ADA, text: 'no token' }] });
    for (const authorization of [undefined, 'Bearer wrong-token', `Basic ${API_TOKEN}`]) {
      const r = await fetch(`${s.causeway.url}/v1/messages/batch`, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body });
      expect(r.status).toBe(401);
    }
    expect(await redis.exists(idemKey('b4-0'))).toBe(0);
  });

  it('gives per-item outcomes: refused items are stored nowhere, the others are queued and sent in order', async () => {
    const r = await batch([
      { idempotency_key: 'b5-0', from: 'alice', to: BEN, text: 'mixed 0' },
      { idempotency_key: 'b5-1', from: 'carol', to: BEN, text: 'carol has not opted in' },
      { idempotency_key: 'b5-2', from: 'alice', to: '+447700900999', text: 'nobody has this number' },
      { idempotency_key: 'b5-3', from: 'alice', to: BEN, feature: { name: 'call', data: { video: true } } },
      { idempotency_key: 'b5-4', from: 'alice', to: BEN, text: 'mixed 4' },
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ queued: 3, rejected: 2 });
    const [a, carol, unknown, call, b] = results(r.body) as [Result, Result, Result, Result, Result];
    expect([a.status, b.status, call.status]).toEqual(['queued', 'queued', 'queued']);
    expect(carol).toEqual({ idempotency_key: 'b5-1', status: 'rejected', error: 'message refused', issues: [{ field: 'messages[1].from', in: 'body', message: 'has not opted in to third-party chats' }] });
    expect(unknown).toEqual({ idempotency_key: 'b5-2', status: 'rejected', error: 'recipient not reachable', issues: [{ field: 'messages[2].to', in: 'body', message: 'no hub user reachable at this number' }] });
    for (const k of ['b5-1', 'b5-2']) {
      expect(await redis.exists(idemKey(k)), k).toBe(0);
      expect((await s.api('GET', `/v1/messages/${k}`)).status).toBe(404);
    }
    // The policy rejects calls (docs/downgrade-policy.md): accepted as by POST /messages, then failed.
    const callHistory = await s.api('GET', '/v1/messages/b5-3');
    expect((callHistory.body.statuses as Array<{ state: string }>).map((x) => x.state)).toEqual(['queued', 'failed']);
    await eventually(async () => (s.receiver.events().some((e) => e.type === 'message.status' && e.data.message_id === call.message_id && e.data.state === 'failed') ? true : undefined), 'the failed status event');
    const got = await eventually(async () => {
      const x = (await inbox(BEN)).filter((m) => m.line.includes('mixed'));
      return x.length >= 2 ? x : undefined;
    }, 'the two accepted messages', 20_000);
    expect(got.map((m) => [m.id, m.line])).toEqual([[a.message_id, 'alice: mixed 0'], [b.message_id, 'alice: mixed 4']]);
  });
});
