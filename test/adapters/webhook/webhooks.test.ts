// Outgoing webhooks against a local HTTP receiver: signed POSTs, retries after 500s and timeouts
// with a stable event id, dead letters and their replay, per-user ordering.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InboundMessage, MessageStatus } from '../../../adapters/contract.ts';
import { createWebhookConnector, verifyWebhookSignature, webhookEvent, type WebhookConnector } from '../../../adapters/webhook/index.ts';
import { testRedis } from '../../support/redis.ts';
import { FakeCore, newKeyring, Receiver, silentLogger, waitFor, WEBHOOK_SECRET, webhookConfig } from './support.ts';

const r = testRedis();
afterAll(() => r.cleanup());

let receiver: Receiver;
let connector: WebhookConnector;
let adapterId: string;
let n = 0;
beforeEach(async () => {
  receiver = await new Receiver().start();
  adapterId = `hooks-${++n}`;
  connector = createWebhookConnector({
    id: adapterId,
    config: webhookConfig({ webhook_url: receiver.url, timeout_ms: 300, max_attempts: 4, retry_backoff_ms: { base: 40, max: 200 }, concurrency: 4 }),
    redis: r.redis,
    keyring: newKeyring(),
    prefix: r.prefix,
    logger: silentLogger,
    tuning: { sweepIntervalMs: 500 },
  });
  connector.init(new FakeCore());
  await connector.start();
});
afterEach(async () => {
  await connector.stop();
  await receiver.stop();
});

const message = (id: string, to = 'alice', text = `text of ${id}`): InboundMessage => ({
  id, from: '447700900123@hub', fromDevice: '447700900123:3@hub', to, t: 1_763_800_100, text, offline: false,
});
const status = (messageId: string, state: MessageStatus['state'], from = 'alice'): MessageStatus => ({
  messageId, idempotencyKey: `key-${messageId}`, from, to: '447700900123@hub', state, at: 1_763_800_000_000,
});
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
const pending = () => r.redis.hlen(`${r.prefix}:webhook-events:${adapterId}:ev`);

describe('webhook delivery', () => {
  it('POSTs a signed, well-formed event and forgets it once acknowledged', async () => {
    await connector.deliver(message('8F2A11C0'));
    await waitFor(() => receiver.requests.length === 1, 5000, 'the POST');
    const req = receiver.requests[0];
    if (!req) throw new Error('no request');
    expect(req.headers['content-type']).toBe('application/json');
    expect(verifyWebhookSignature(WEBHOOK_SECRET, req.headers['x-causeway-signature'] as string, req.body)).toBe(true);
    expect(verifyWebhookSignature('another-secret', req.headers['x-causeway-signature'] as string, req.body)).toBe(false);
    const event = webhookEvent.parse(JSON.parse(req.body));
    expect(req.headers['x-causeway-event-id']).toBe(event.event_id);
    expect(req.headers['x-causeway-event-type']).toBe('message.received');
    expect(req.headers['x-causeway-attempt']).toBe('1');
    expect(event).toMatchObject({ type: 'message.received', data: { id: '8F2A11C0', to: 'alice', text: 'text of 8F2A11C0' } });
    await waitFor(async () => (await pending()) === 0, 5000, 'the event to be dropped');
    expect(await r.redis.exists(`${r.prefix}:webhook-events:${adapterId}:lanes`, `${r.prefix}:webhook-events:${adapterId}:lane:alice`)).toBe(0);
  });

  it('retries after a 500 and a timeout until acknowledged, with the same event id and body', async () => {
    receiver.behaviour = (i) => (i === 0 ? 500 : i === 1 ? 'hang' : 200);
    await connector.status(status('3EB0C4F1A2', 'delivered'));
    await waitFor(() => receiver.requests.length === 3, 8000, 'three attempts');
    await sleep(300);
    expect(receiver.requests).toHaveLength(3);
    const [a, b, c] = receiver.requests;
    expect(new Set(receiver.requests.map((q) => q.body)).size).toBe(1);
    expect(new Set(receiver.requests.map((q) => q.headers['x-causeway-event-id'])).size).toBe(1);
    expect(receiver.requests.map((q) => q.headers['x-causeway-attempt'])).toEqual(['1', '2', '3']);
    for (const q of receiver.requests) expect(verifyWebhookSignature(WEBHOOK_SECRET, q.headers['x-causeway-signature'] as string, q.body)).toBe(true);
    // Backoff: the second attempt waits at least base/2 after the first; the third waits out the timeout.
    expect((b?.at ?? 0) - (a?.at ?? 0)).toBeGreaterThanOrEqual(20);
    expect((c?.at ?? 0) - (b?.at ?? 0)).toBeGreaterThanOrEqual(300);
    await waitFor(async () => (await pending()) === 0, 5000, 'the event to be dropped');
  });

  it('dead-letters after max_attempts, moves on to the next event of that user, and replays on demand', async () => {
    let failing = true;
    receiver.behaviour = (_i, q) => (failing && q.body.includes('"POISON01"') ? 503 : 200);
    await connector.deliver(message('POISON01'));
    await connector.deliver(message('AFTER001'));
    await waitFor(() => receiver.events().some((e) => e.data.id === 'AFTER001'), 8000, 'the next event');
    const poison = receiver.events().filter((e) => e.data.id === 'POISON01');
    expect(poison).toHaveLength(4);
    const eventId = poison[0]?.event_id as string;
    expect(receiver.requests.map((q) => q.headers['x-causeway-attempt'])).toEqual(['1', '2', '3', '4', '1']);

    const dead = await connector.listDeadLetters();
    expect(dead).toEqual([{ eventId, type: 'message.received', user: 'alice', createdAt: expect.any(String), deadAt: expect.any(String), attempts: 4, lastError: 'HTTP 503' }]);

    failing = false;
    expect(await connector.replayDeadLetter(eventId)).toBe(true);
    await waitFor(() => receiver.events().filter((e) => e.event_id === eventId).length === 5, 5000, 'the replay');
    expect(receiver.requests.at(-1)?.headers['x-causeway-attempt']).toBe('1');
    expect(await connector.listDeadLetters()).toEqual([]);
    expect(await connector.replayDeadLetter(eventId)).toBe(false);
    await waitFor(async () => (await pending()) === 0, 5000, 'the event to be dropped');
  });

  it("keeps each user's events in order while other users' events go on", async () => {
    let aliceFailures = 2;
    receiver.behaviour = (_i, q) => (q.body.includes('"to":"alice"') && q.body.includes('ALICE001') && aliceFailures-- > 0 ? 500 : 200);
    await connector.deliver(message('ALICE001', 'alice'));
    await connector.status(status('ALICEOUT1', 'read', 'alice'));
    await connector.notice({ kind: 'interop-changed', user: 'alice', peer: '447700900123@hub', enabled: false });
    await connector.deliver(message('BOB00001', 'bob'));
    await waitFor(() => receiver.requests.length === 6, 8000, 'all events');
    const seq = receiver.events().map((e) => `${e.type}:${String(e.data.id ?? e.data.message_id ?? e.data.kind)}`);
    const alice = seq.filter((s) => !s.includes('BOB'));
    expect(alice).toEqual(['message.received:ALICE001', 'message.received:ALICE001', 'message.received:ALICE001', 'message.status:ALICEOUT1', 'notice:interop-changed']);
    // Bob's event did not wait for Alice's retries.
    expect(seq.indexOf('message.received:BOB00001')).toBeLessThan(seq.lastIndexOf('message.received:ALICE001'));
  });

  it('POSTs in process as soon as an event is stored (no sweep needed) and frees the lane when it is empty', async () => {
    await connector.stop();
    adapterId = `hooks-${++n}`;
    connector = createWebhookConnector({
      id: adapterId,
      config: webhookConfig({ webhook_url: receiver.url }),
      redis: r.redis, keyring: newKeyring(), prefix: r.prefix, logger: silentLogger,
      tuning: { sweepIntervalMs: 600_000 },
    });
    connector.init(new FakeCore());
    await connector.start();
    const lease = `${r.prefix}:webhook-events:${adapterId}:lease:alice`;
    for (let i = 0; i < 20; i++) await connector.deliver(message(`FAST${String(i).padStart(4, '0')}`));
    await waitFor(() => receiver.requests.length === 20, 3000, 'twenty POSTs');
    expect(receiver.events().map((e) => e.data.id)).toEqual(Array.from({ length: 20 }, (_, i) => `FAST${String(i).padStart(4, '0')}`));
    await waitFor(async () => (await r.redis.exists(lease)) === 0, 3000, 'the lease to be released');
    // The lane is free again: the next event takes it at once.
    await connector.deliver(message('FAST0020'));
    await waitFor(() => receiver.requests.length === 21, 3000, 'the next POST');
    await waitFor(async () => (await pending()) === 0 && (await r.redis.exists(lease)) === 0, 3000, 'an empty store');
  });

  it('stores an event handed over twice while pending only once', async () => {
    await connector.stop();
    await connector.deliver(message('TWICE001'));
    await connector.deliver(message('TWICE001'));
    expect(await pending()).toBe(1);
    expect(await r.redis.llen(`${r.prefix}:webhook-events:${adapterId}:lane:alice`)).toBe(1);
    await connector.start();
    await waitFor(() => receiver.requests.length === 1, 5000, 'the POST');
    await sleep(200);
    expect(receiver.requests).toHaveLength(1);
  });

  it('refuses an event for something that is not a provider user id', async () => {
    await expect(connector.deliver(message('BADUSER1', 'Not A User'))).rejects.toThrow(/provider user id/);
    expect(await pending()).toBe(0);
  });
});
