// Pure parts of the webhook adapter: the signature helper providers use, the event JSON mapped
// from the adapter contract (checked against the published event schemas), event ids, backoff.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { InboundMessage, MessageStatus } from '../../../adapters/contract.ts';
import { backoffDelay } from '../../../adapters/webhook/dispatcher.ts';
import { inboundEvent, noticeEvent, statusEvent, webhookEvent } from '../../../adapters/webhook/events.ts';
import { signWebhook, verifyWebhookSignature, webhookConfigSchema } from '../../../adapters/webhook/index.ts';

describe('verifyWebhookSignature', () => {
  const body = '{"event_id":"evt_1","type":"notice"}';
  const now = 1_763_800_000;

  it('accepts the header Causeway sends: t=T,v1=hex(HMAC-SHA256(secret, T.body))', () => {
    const v1 = createHmac('sha256', 'sekret').update(`${now}.${body}`).digest('hex');
    expect(signWebhook('sekret', body, now)).toBe(`t=${now},v1=${v1}`);
    expect(verifyWebhookSignature('sekret', `t=${now},v1=${v1}`, body, now + 10)).toBe(true);
  });

  it('refuses another body, another secret, a stale or future t, and malformed headers', () => {
    const h = signWebhook('sekret', body, now);
    expect(verifyWebhookSignature('sekret', h, `${body} `, now)).toBe(false);
    expect(verifyWebhookSignature('other', h, body, now)).toBe(false);
    expect(verifyWebhookSignature('sekret', h, body, now + 301)).toBe(false);
    expect(verifyWebhookSignature('sekret', h, body, now - 301)).toBe(false);
    expect(verifyWebhookSignature('sekret', h, body, now + 3000, 3600)).toBe(true);
    for (const bad of [undefined, null, '', 'v1=abc', `t=${now}`, 'garbage', h.replace('v1=', 'v2=')]) {
      expect(verifyWebhookSignature('sekret', bad, body, now), String(bad)).toBe(false);
    }
    expect(verifyWebhookSignature('', h, body, now)).toBe(false);
  });
});

describe('events', () => {
  const inbound: InboundMessage = {
    id: '8F2A11C0', from: '447700900123@hub', fromDevice: '447700900123:3@hub', to: 'alice', t: 1_763_800_100,
    text: 'Hi there', replyTo: { id: '3EB0C4F1A2', sender: 'alice@birdy.interop' },
    fallbacks: [{ feature: 'poll', text: 'Poll: lunch?' }], offline: true,
  };
  const status: MessageStatus = {
    messageId: '3EB0C4F1A2', idempotencyKey: 'order-1', from: 'alice', to: '447700900123@hub', state: 'failed',
    at: 1_763_800_000_500, reason: 'not-opted-in', message: 'They have not turned on chats with other apps.', certain: true,
  };

  it('maps an inbound message to message.received, valid under the published schema', () => {
    const e = inboundEvent('api', inbound, 1_763_800_200_000);
    expect(e.user).toBe('alice');
    const body = webhookEvent.parse(JSON.parse(e.body));
    expect(body).toEqual({
      event_id: e.eventId, type: 'message.received', created_at: '2025-11-22T08:30:00.000Z',
      data: {
        id: '8F2A11C0', from: '447700900123@hub', from_device: '447700900123:3@hub', to: 'alice', sent_at: '2025-11-22T08:28:20.000Z',
        text: 'Hi there', reply_to: { id: '3EB0C4F1A2', sender: 'alice@birdy.interop' }, fallbacks: [{ feature: 'poll', text: 'Poll: lunch?' }], offline: true,
      },
    });
  });

  it('maps statuses and every notice kind, valid under the published schemas', () => {
    const s = statusEvent('api', status, 0);
    expect(s.user).toBe('alice');
    expect(webhookEvent.parse(JSON.parse(s.body))).toMatchObject({ type: 'message.status', data: { message_id: '3EB0C4F1A2', state: 'failed', reason: 'not-opted-in', certain: true, at: '2025-11-22T08:26:40.500Z' } });
    const notices = [
      noticeEvent({ kind: 'safety-number-changed', user: 'alice', peer: '447700900123@hub', held: false }, 0),
      noticeEvent({ kind: 'interop-changed', user: 'alice', peer: '447700900123@hub', enabled: false }, 0),
      noticeEvent({ kind: 'undecryptable', user: 'alice', peer: '447700900123@hub', messageId: '8F2A11C0' }, 0),
      noticeEvent({ kind: 'provider-enrolled', user: 'alice', provider: { id: 'haiket', name: 'Haiket' } }, 0),
    ];
    const parsed = notices.map((n) => webhookEvent.parse(JSON.parse(n.body)));
    expect(parsed.map((p) => p.type === 'notice' && p.data.kind)).toEqual(['safety-number-changed', 'interop-changed', 'undecryptable', 'provider-enrolled']);
    expect(parsed[2]).toMatchObject({ data: { message_id: '8F2A11C0' } });
  });

  it('derives message and status event ids from their identity; notices get fresh ids', () => {
    expect(inboundEvent('api', inbound, 1).eventId).toBe(inboundEvent('api', { ...inbound, text: 'changed' }, 2).eventId);
    expect(inboundEvent('api', inbound, 1).eventId).not.toBe(inboundEvent('api', { ...inbound, id: '8F2A11C1' }, 1).eventId);
    expect(statusEvent('api', status, 1).eventId).toBe(statusEvent('api', status, 2).eventId);
    expect(statusEvent('api', status, 1).eventId).not.toBe(statusEvent('api', { ...status, state: 'read' }, 1).eventId);
    const n = { kind: 'interop-changed', user: 'alice', peer: '447700900123@hub', enabled: true } as const;
    expect(noticeEvent(n, 1).eventId).not.toBe(noticeEvent(n, 1).eventId);
    for (const id of [inboundEvent('api', inbound, 1).eventId, noticeEvent(n, 1).eventId]) expect(id).toMatch(/^evt_[A-Za-z0-9_-]{22}$/);
  });
});

describe('backoffDelay', () => {
  it('doubles from base, is capped at max, and jitters within the upper half', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, 1000, 300_000, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect([1, 2].map((n) => backoffDelay(n, 1000, 300_000, () => 0))).toEqual([500, 1000]);
    expect(backoffDelay(30, 1000, 300_000, () => 1)).toBe(300_000);
    expect(backoffDelay(10_000, 1000, 300_000, () => 0.5)).toBe(225_000);
  });
});

describe('webhook config', () => {
  const base = { api_tokens: ['t'], webhook_url: 'https://p.example/hooks', webhook_secret: 's' };

  it('defaults the retry schedule and concurrency', () => {
    const c = webhookConfigSchema.parse(base);
    expect(c).toMatchObject({ path_prefix: '/v1', timeout_ms: 5000, max_attempts: 20, retry_backoff_ms: { base: 1000, max: 300_000 }, concurrency: 16 });
    expect(webhookConfigSchema.parse({ ...base, retry_backoff_ms: { base: 50 } }).retry_backoff_ms).toEqual({ base: 50, max: 300_000 });
  });

  it('refuses a backoff max below its base, and unknown keys', () => {
    const bad = webhookConfigSchema.safeParse({ ...base, retry_backoff_ms: { base: 2000, max: 1000 } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(['retry_backoff_ms.max']);
    expect(webhookConfigSchema.safeParse({ ...base, retry_backoff_ms: { base: 1, jitter: true } }).success).toBe(false);
    expect(webhookConfigSchema.safeParse({ ...base, concurrency: 0 }).success).toBe(false);
  });
});
