// POST /v1/messages/batch against a core without `submitMany` (optional in the adapter
// contract): the adapter submits one message at a time, in request order, with the same answers;
// the configured max_messages_per_batch; 503 before the core is attached; non-JSON bodies.
import { afterAll, describe, expect, it } from 'vitest';
import type { OutboundMessage } from '../../../adapters/contract.ts';
import { createWebhookConnector } from '../../../adapters/webhook/index.ts';
import { SubmitError } from '../../../src/submit-error.ts';
import { testRedis } from '../../support/redis.ts';
import { AUTH, FakeCore, newKeyring, silentLogger, webhookConfig } from './support.ts';

const r = testRedis();
afterAll(() => r.cleanup());

/** Refuses messages from `mallory` as the real core refuses a user who has not opted in. */
class RefusingCore extends FakeCore {
  override async submit(adapterId: string, m: OutboundMessage): Promise<{ messageId: string; duplicate: boolean }> {
    if (m.from === 'mallory') throw new SubmitError('from', 'has not opted in to third-party chats');
    return super.submit(adapterId, m);
  }
}

function app(core?: FakeCore) {
  const c = createWebhookConnector({ id: 'birdy-api', config: webhookConfig({ max_messages_per_batch: 3 }), redis: r.redis, keyring: newKeyring(), prefix: r.prefix, logger: silentLogger });
  if (core) c.init(core);
  const routes = c.routes?.();
  if (!routes) throw new Error('no routes');
  return (body: unknown, type = 'application/json') =>
    routes.request('/v1/messages/batch', { method: 'POST', headers: { ...AUTH, 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

describe('POST /v1/messages/batch (adapter, one submit per message)', () => {
  it('submits in request order and answers per item, a refused one as rejected', async () => {
    const core = new RefusingCore();
    const post = app(core);
    const res = await post({ messages: [
      { idempotency_key: 'k1', from: 'alice', to: '447700900123@hub', text: 'one' },
      { idempotency_key: 'k2', from: 'mallory', to: '447700900123@hub', text: 'two' },
      { idempotency_key: 'k3', from: 'alice', to: '+447700900123', text: 'three', reply_to: { id: 'ABCDEF0123', sender: '447700900123@hub' } },
    ] });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      results: [
        { idempotency_key: 'k1', status: 'queued', message_id: 'MSG00000001', duplicate: false },
        { idempotency_key: 'k2', status: 'rejected', error: 'message refused', issues: [{ field: 'messages[1].from', in: 'body', message: 'has not opted in to third-party chats' }] },
        { idempotency_key: 'k3', status: 'queued', message_id: 'MSG00000002', duplicate: false },
      ],
      queued: 2, rejected: 1,
    });
    // The refused one was tried between them (RefusingCore throws before recording it).
    expect(core.called('submit').map((c) => (c as { m: OutboundMessage }).m)).toEqual([
      { idempotencyKey: 'k1', from: 'alice', to: '447700900123@hub', text: 'one' },
      { idempotencyKey: 'k3', from: 'alice', to: '447700900123@hub', text: 'three', replyTo: { id: 'ABCDEF0123', sender: '447700900123@hub' } },
    ]);
    const again = await post({ messages: [{ idempotency_key: 'k3', from: 'alice', to: '+447700900123', text: 'three' }] });
    expect(((await again.json()) as { results: unknown }).results).toEqual([{ idempotency_key: 'k3', status: 'queued', message_id: 'MSG00000002', duplicate: true }]);
    expect(core.called('lookup')).toHaveLength(1); // the repeat by phone was answered from the record
  });

  it('honours max_messages_per_batch (413), and refuses bodies that are not a batch', async () => {
    const core = new FakeCore();
    const post = app(core);
    const item = (i: number) => ({ idempotency_key: `m${i}`, from: 'alice', to: '447700900123@hub', text: `${i}` });
    const over = await post({ messages: [item(0), item(1), item(2), item(3)] });
    expect(over.status).toBe(413);
    expect(((await over.json()) as { issues: unknown }).issues).toEqual([{ field: 'messages', in: 'body', message: 'at most 3 messages per request; split the batch' }]);
    expect((await post({ messages: [item(0), item(1), item(2)] })).status).toBe(200);
    expect((await post('{"messages":[', 'application/json')).status).toBe(400);
    expect((await post({ messages: [item(9)] }, 'text/plain')).status).toBe(415);
    const extra = await post({ messages: [item(8)], priority: 'high' });
    expect(((await extra.json()) as { issues: unknown }).issues).toEqual([{ field: 'priority', in: 'body', message: 'unknown field' }]);
    expect(core.called('submit')).toHaveLength(3);
  });

  it('answers 503 before the core is attached', async () => {
    const res = await app()({ messages: [{ idempotency_key: 'x', from: 'alice', to: '447700900123@hub', text: 'hi' }] });
    expect(res.status).toBe(503);
  });
});
