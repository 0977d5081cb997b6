// Opt-in batching (`max_events_per_post` above 1): a lane's backlog goes out several events per
// POST, in order, signed; a failed batch is retried through its head alone, with the usual
// backoff and attempt count; a lone event keeps the single-event form.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { InboundMessage } from '../../../adapters/contract.ts';
import { batchEvent, createWebhookConnector, verifyWebhookSignature, webhookConfigSchema, webhookEvent, type WebhookConnector } from '../../../adapters/webhook/index.ts';
import { testRedis } from '../../support/redis.ts';
import { FakeCore, newKeyring, Receiver, silentLogger, waitFor, WEBHOOK_SECRET, webhookConfig, type Received } from './support.ts';

const r = testRedis();
afterAll(() => r.cleanup());

const open: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.stop();
});

let n = 0;
async function setup(over: Record<string, unknown> = {}): Promise<{ c: WebhookConnector; receiver: Receiver; adapterId: string }> {
  const receiver = await new Receiver().start();
  const adapterId = `batch-${++n}`;
  const c = createWebhookConnector({
    id: adapterId,
    config: webhookConfig({ webhook_url: receiver.url, timeout_ms: 500, retry_backoff_ms: { base: 40, max: 200 }, max_events_per_post: 10, ...over }),
    redis: r.redis, keyring: newKeyring(), prefix: r.prefix, logger: silentLogger,
    tuning: { sweepIntervalMs: 300, leaseMs: 1000 },
  });
  c.init(new FakeCore());
  open.push(receiver, c);
  return { c, receiver, adapterId };
}

const message = (id: string, to = 'alice'): InboundMessage => ({
  id, from: '447700900123@hub', fromDevice: '447700900123:1@hub', to, t: 1_763_800_100, text: `text of ${id}`, offline: false,
});
const ids = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${String(i).padStart(4, '0')}`);

/** Every event a request carried, in order (a batch or a single event). */
function eventsOf(q: Received): Array<{ event_id: string; data: Record<string, unknown> }> {
  const body = JSON.parse(q.body) as unknown;
  if (q.headers['x-causeway-event-type'] === 'batch') return batchEvent.parse(body).events as Array<{ event_id: string; data: Record<string, unknown> }>;
  return [webhookEvent.parse(body) as { event_id: string; data: Record<string, unknown> }];
}

describe('batches of events (max_events_per_post)', () => {
  it("sends a lane's backlog up to N events per signed POST, in order per user; a lone event goes on its own", async () => {
    const { c, receiver } = await setup();
    for (const id of ids(25, 'ALICE')) await c.deliver(message(id)); // stored while no sender runs: a backlog
    for (const id of ids(3, 'BOB')) await c.deliver(message(id, 'bob'));
    await c.start();
    await waitFor(() => receiver.requests.flatMap(eventsOf).length === 28, 5000, 'every event');
    for (const q of receiver.requests) expect(verifyWebhookSignature(WEBHOOK_SECRET, q.headers['x-causeway-signature'] as string, q.body)).toBe(true);
    const perUser = (to: string) => receiver.requests.filter((q) => eventsOf(q)[0]?.data.to === to);
    expect(perUser('alice').map((q) => eventsOf(q).length)).toEqual([10, 10, 5]);
    expect(perUser('bob').map((q) => eventsOf(q).length)).toEqual([3]);
    expect(perUser('alice').flatMap(eventsOf).map((e) => e.data.id)).toEqual(ids(25, 'ALICE'));
    expect(perUser('bob').flatMap(eventsOf).map((e) => e.data.id)).toEqual(ids(3, 'BOB'));
    for (const q of receiver.requests) {
      expect(q.headers['x-causeway-event-type']).toBe('batch');
      expect(q.headers['x-causeway-event-count']).toBe(String(eventsOf(q).length));
      expect(q.headers['x-causeway-event-id']).toBeUndefined();
      expect(q.headers['x-causeway-attempt']).toBe('1');
    }
    await c.deliver(message('LONE0001'));
    await waitFor(() => receiver.requests.length === 5, 3000, 'the lone event');
    const lone = receiver.requests[4] as Received;
    expect(lone.headers['x-causeway-event-type']).toBe('message.received');
    expect(lone.headers['x-causeway-event-id']).toBe(eventsOf(lone)[0]?.event_id);
  });

  it('retries a failed batch through its head alone, with backoff, then batches the rest again', async () => {
    const { c, receiver, adapterId } = await setup();
    receiver.behaviour = (i) => (i === 0 ? 500 : 200);
    for (const id of ids(6, 'RETRY')) await c.deliver(message(id));
    await c.start();
    await waitFor(() => receiver.requests.length === 3, 5000, 'three POSTs');
    const [failed, head, rest] = receiver.requests as [Received, Received, Received];
    expect(eventsOf(failed).map((e) => e.data.id)).toEqual(ids(6, 'RETRY'));
    expect(head.headers['x-causeway-event-type']).toBe('message.received');
    expect(head.headers['x-causeway-attempt']).toBe('2');
    expect(eventsOf(head).map((e) => e.data.id)).toEqual(['RETRY0000']);
    expect(head.at - failed.at).toBeGreaterThanOrEqual(20); // backoff: at least base/2
    expect(rest.headers['x-causeway-event-type']).toBe('batch');
    expect(rest.headers['x-causeway-attempt']).toBe('1');
    expect(eventsOf(rest).map((e) => e.data.id)).toEqual(ids(6, 'RETRY').slice(1));
    await waitFor(async () => (await r.redis.hlen(`${r.prefix}:webhook-events:${adapterId}:ev`)) === 0, 3000, 'an empty store');
  });

  it('is off by default and bounded', () => {
    const base = { api_tokens: ['t'], webhook_url: 'https://p.example/hooks', webhook_secret: 's' };
    expect(webhookConfigSchema.parse(base).max_events_per_post).toBe(1);
    expect(webhookConfigSchema.safeParse({ ...base, max_events_per_post: 101 }).success).toBe(false);
    expect(webhookConfigSchema.safeParse({ ...base, max_events_per_post: 0 }).success).toBe(false);
  });
});
