// Causeway end to end, started from YAML as `causeway start` runs it: the provider's API in, the
// hub user's devices out, and back to the provider's signed webhook (issue: one-to-one text both
// ways through the webhook adapter).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../../adapters/webhook/index.ts';
import { API_TOKEN, startStack, WEBHOOK_SECRET, type Stack } from './sidecar-stack.ts';
import { eventually } from '../delivery/harness.ts';

type Inbox = { messages: Array<{ id: string; device: number; decrypted: boolean; content?: { text?: string } }> };
const ADA = '447700900123@hub';
let s: Stack;
const logLines: string[] = [];
const SECRET_TEXT = 'Hello Ada, from BirdyChat';

beforeAll(async () => {
  s = await startStack({ users: [{ phone: '+447700900123', name: 'Ada', devices: [0, 3], script: { echo: true, receipts: true, read: true, delay_ms: 0 } }] }, { logLines });
});
afterAll(() => s.close());

const events = (type: string) => s.receiver.events().filter((e) => e.type === type);

describe('Causeway end to end through the webhook adapter', () => {
  it('serves health, readiness, the JWKS, and metrics only with the token', async () => {
    expect((await fetch(`${s.causeway.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${s.causeway.url}/readyz`);
    expect(await ready.json()).toMatchObject({ ok: true, checks: { redis: 'ok', hub: 'ok', keys: 'ok' } });
    const jwks = (await (await fetch(`${s.causeway.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string; d?: string }> };
    expect(jwks.keys[0]?.kid).toBe('birdy-1');
    expect(jwks.keys[0]?.d).toBeUndefined();
    expect((await fetch(`${s.causeway.url}/metrics`)).status).toBe(401);
    const m = await fetch(`${s.causeway.url}/metrics`, { headers: { authorization: 'Bearer metrics-token' } });
    expect(await m.text()).toContain('causeway_');
  });

  it('a provider user opts in, sends text to both devices, sees sent → delivered → read, and gets the reply', async () => {
    expect((await s.api('PUT', '/v1/users/alice/interop', { enabled: true })).status).toBe(200);
    const dir = await s.api('GET', '/v1/directory?user=alice&phone=%2B447700900123');
    expect(dir.body).toEqual({ jid: ADA });
    const sent = await s.api('POST', '/v1/messages', { from: 'alice', to: '+447700900123', text: 'Hello Ada, from BirdyChat' }, { 'idempotency-key': 'e2e-1' });
    expect(sent.status).toBe(202);
    const id = sent.body.message_id as string;

    const inbox = await eventually(async () => {
      const m = ((await s.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox).messages.filter((x) => x.id === id);
      return m.length === 2 ? m : undefined;
    }, 15_000, 'both devices');
    expect(inbox.every((m) => m.decrypted && m.content?.text === 'Hello Ada, from BirdyChat')).toBe(true);

    await eventually(async () => events('message.status').some((e) => e.data.message_id === id && e.data.state === 'read'), 15_000, 'read status');
    const states = events('message.status').filter((e) => e.data.message_id === id).map((e) => e.data.state);
    expect(states).toEqual(expect.arrayContaining(['sent', 'delivered', 'read']));
    const reply = await eventually(async () => events('message.received').find((e) => e.data.text === 'echo: Hello Ada, from BirdyChat'), 15_000, 'reply');
    expect(reply.data).toMatchObject({ from: ADA, to: 'alice', offline: false });
    for (const r of s.receiver.requests) {
      expect(verifyWebhookSignature(WEBHOOK_SECRET, String(r.headers['x-causeway-signature']), r.body, Math.floor(Date.now() / 1000))).toBe(true);
    }
    const history = await s.api('GET', '/v1/messages/e2e-1');
    expect((history.body.statuses as Array<{ state: string }>).map((x) => x.state)).toEqual(expect.arrayContaining(['queued', 'sent', 'delivered', 'read']));
  });

  it('a read receipt from the provider reaches the hub user', async () => {
    const reply = events('message.received').at(-1) as unknown as { data: { id: string } };
    const r = await s.api('POST', '/v1/receipts', { user: 'alice', peer: ADA, message_ids: [reply.data.id], type: 'read' });
    expect(r.status).toBe(202);
    await eventually(async () => {
      const got = (await s.control('GET', `/users/${ADA}/receipts`)).body as unknown as { receipts: Array<{ id: string; type: string }> };
      return got.receipts.some((x) => x.id === reply.data.id && x.type === 'read');
    }, 10_000, 'read receipt at the hub');
  });

  it('a location through the API is converted per policy and the status says so', async () => {
    const r = await s.api('POST', '/v1/messages', { from: 'alice', to: ADA, feature: { name: 'location', data: { latitude: 48.8584, longitude: 2.2945, name: 'Tour Eiffel' } } }, { 'idempotency-key': 'e2e-loc' });
    expect(r.status).toBe(202);
    const id = r.body.message_id as string;
    const sent = await eventually(async () => events('message.status').find((e) => e.data.message_id === id && e.data.state === 'sent'), 15_000, 'sent');
    expect(sent.data.downgraded).toEqual([{ feature: 'location', to: 'text' }]);
    const at = await eventually(async () => ((await s.control('GET', `/users/${ADA}/inbox`)).body as unknown as Inbox).messages.find((m) => m.id === id && m.decrypted), 15_000, 'at hub');
    expect(at.content?.text).toContain('Tour Eiffel');
  });

  it('counts messages, sessions and queue depths in /metrics', async () => {
    const text = await (await fetch(`${s.causeway.url}/metrics`, { headers: { authorization: 'Bearer metrics-token' } })).text();
    expect(text).toMatch(/causeway_messages_total\{direction="outbound",outcome="sent"\} [1-9]/);
    expect(text).toMatch(/causeway_messages_total\{direction="inbound",outcome="delivered"\} [1-9]/);
    expect(text).toMatch(/causeway_hub_sessions_open [1-9]/);
    expect(text).toMatch(/causeway_queue_depth\{queue="outbound"\} \d+/);
    expect(text).toMatch(/causeway_message_latency_seconds_count\{direction="outbound"\} [1-9]/);
  });

  it('never writes message content, tokens or keys to its logs (logged at trace level)', () => {
    const all = logLines.join('');
    expect(all.length).toBeGreaterThan(0);
    for (const secret of [SECRET_TEXT, 'echo: Hello Ada', API_TOKEN, WEBHOOK_SECRET, 'PRIVATE KEY', 'metrics-token']) expect(all).not.toContain(secret);
  });
});
