// The webhook adapter over limits.outbound_rate_per_user, with the core's real submit path on the
// real Redis: POST /v1/messages over the limit is a 429 with Retry-After and a JSON error naming the
// limit (nothing queued); a repeat of an accepted Idempotency-Key is still 202 duplicate; batch
// items over the limit are `rejected` with the reason.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { MessageStatus, OutboundMessage, SubmitOutcome } from '../../../adapters/contract.ts';
import { createWebhookConnector } from '../../../adapters/webhook/index.ts';
import { CoreSubmit, OutboundRateLimit } from '../../../src/core-submit.ts';
import { policySchema } from '../../../src/config/policy-schema.ts';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { Outbox } from '../../../src/delivery/outbox.ts';
import { StatusLog } from '../../../src/delivery/status-log.ts';
import { testRedis } from '../../support/redis.ts';
import { AUTH, FakeCore, newKeyring, silentLogger, webhookConfig } from './support.ts';

const r = testRedis();
afterAll(() => r.cleanup());

/** The fake core with the real core's submit path (checks, rate limit, outbox) behind it. */
class LimitedCore extends FakeCore {
  readonly #statusLog = new StatusLog(r.redis, r.prefix);
  readonly #outbox = new Outbox(r.redis, new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1'), r.prefix, this.#statusLog);
  readonly #submit = new CoreSubmit({
    outbox: this.#outbox, maxTextBytes: 65_536, policy: policySchema.parse({}),
    userAddress: (local) => `${local}@birdy.interop`,
    isEnabled: async () => true,
    statuses: (a, k) => this.statuses(a, k),
    prepareMedia: () => Promise.reject(new Error('no media here')),
    kick: () => undefined,
    onStatus: () => undefined,
    rateLimit: new OutboundRateLimit(r.redis, r.prefix, { max_messages: 2, per_seconds: 60 }),
  });

  override submit(adapterId: string, m: OutboundMessage): Promise<{ messageId: string; duplicate: boolean }> {
    return this.#submit.submit(adapterId, m);
  }

  submitMany(adapterId: string, ms: ReadonlyArray<OutboundMessage>): Promise<SubmitOutcome[]> {
    return this.#submit.submitMany(adapterId, ms);
  }

  override async statuses(adapterId: string, keyOrId: string): Promise<MessageStatus[] | undefined> {
    const mapped = await r.redis.get(this.#outbox.idemKey(adapterId, keyOrId));
    const h = await this.#statusLog.history(mapped ? (mapped.split('|')[1] as string) : keyOrId);
    return h.length > 0 ? h : undefined;
  }
}

function routes() {
  const c = createWebhookConnector({ id: 'birdy-api', config: webhookConfig(), redis: r.redis, keyring: newKeyring(), prefix: r.prefix, logger: silentLogger });
  c.init(new LimitedCore());
  const app = c.routes?.();
  if (!app) throw new Error('no routes');
  const send = (key: string, from = 'alice') => app.request('/v1/messages', {
    method: 'POST', headers: { ...AUTH, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ from, to: '447700900123@hub', text: `text of ${key}` }),
  });
  const batch = (messages: unknown[]) => app.request('/v1/messages/batch', { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ messages }) });
  return { send, batch };
}

describe('webhook API over limits.outbound_rate_per_user', () => {
  it('answers 429 with Retry-After naming the limit, and still 202 duplicate for an accepted key', async () => {
    const { send } = routes();
    const first = await send('w1');
    expect(first.status).toBe(202);
    const { message_id: id } = (await first.json()) as { message_id: string };
    expect((await send('w2')).status).toBe(202);
    const over = await send('w3');
    expect(over.status).toBe(429);
    const retry = Number(over.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(await over.json()).toEqual({
      error: 'rate limited', limit: 'limits.outbound_rate_per_user', retry_after_s: retry,
      issues: [{ field: 'from', in: 'body', message: `is over limits.outbound_rate_per_user (at most 2 messages per 60 s per user); retry in ${retry} s` }],
    });
    const again = await send('w1');
    expect(again.status).toBe(202);
    expect(await again.json()).toEqual({ message_id: id, status: 'queued', duplicate: true });
    expect((await send('w4', 'bob')).status).toBe(202); // another user has their own count
  });

  it('answers batch items over the limit as rejected with the reason; the others are queued', async () => {
    const { batch } = routes();
    const res = await batch([
      { idempotency_key: 'b1', from: 'carol', to: '447700900123@hub', text: 'one' },
      { idempotency_key: 'b2', from: 'carol', to: '447700900123@hub', text: 'two' },
      { idempotency_key: 'b3', from: 'carol', to: '447700900123@hub', text: 'three' },
      { idempotency_key: 'b4', from: 'dave', to: '447700900123@hub', text: 'four' },
    ]);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: Array<Record<string, unknown>>; queued: number; rejected: number };
    expect(body.results.map((x) => x.status)).toEqual(['queued', 'queued', 'rejected', 'queued']);
    expect(body.results[2]).toEqual({
      idempotency_key: 'b3', status: 'rejected', error: 'message refused',
      issues: [{ field: 'messages[2].from', in: 'body', message: expect.stringMatching(/^is over limits\.outbound_rate_per_user \(at most 2 messages per 60 s per user\); retry in \d+ s$/) }],
    });
    expect([body.queued, body.rejected]).toEqual([3, 1]);
    // A batch of one goes through the single submit: the same answer.
    const one = await batch([{ idempotency_key: 'b5', from: 'carol', to: '447700900123@hub', text: 'five' }]);
    expect(((await one.json()) as { results: Array<{ status: string }> }).results[0]?.status).toBe('rejected');
  });
});
