// limits.outbound_rate_per_user in the core's submit path, on the real Redis: a user over the limit
// is refused (RateLimitError, nothing stored), other users are not affected, a repeat of an accepted
// key is still answered as a duplicate, replicas share one count, and a batch keeps a user's first
// messages within the limit. No limit configured: no count at all.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { MessageStatus, OutboundMessage } from '../../adapters/contract.ts';
import { CoreSubmit, OutboundRateLimit } from '../../src/core-submit.ts';
import { policySchema } from '../../src/config/policy-schema.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { Outbox } from '../../src/delivery/outbox.ts';
import { StatusLog } from '../../src/delivery/status-log.ts';
import { RateLimitError, SubmitError } from '../../src/submit-error.ts';
import { deleteKeys, testRedis } from '../support/redis.ts';

const r = testRedis();
const other = testRedis(); // a second replica's connection (same Redis, its own client)
afterAll(async () => {
  await other.cleanup();
  await r.cleanup();
});
const keyring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
const ADA = '447700900123@hub';

/** A CoreSubmit as the core builds it, on its own key prefix; `limit` as in the config. */
function submitter(prefix: string, limit?: { max_messages: number; per_seconds: number }, redis = r.redis) {
  const statusLog = new StatusLog(redis, prefix);
  const outbox = new Outbox(redis, keyring, prefix, statusLog);
  const statuses = async (adapterId: string, keyOrId: string): Promise<MessageStatus[] | undefined> => {
    const mapped = await redis.get(outbox.idemKey(adapterId, keyOrId));
    const h = await statusLog.history(mapped ? (mapped.split('|')[1] as string) : keyOrId);
    return h.length > 0 ? h : undefined;
  };
  const rate = limit ? new OutboundRateLimit(redis, prefix, limit) : undefined;
  const core = new CoreSubmit({
    outbox, maxTextBytes: 65_536, policy: policySchema.parse({}),
    userAddress: (local) => `${local}@birdy.interop`,
    isEnabled: async () => true,
    statuses,
    prepareMedia: () => Promise.reject(new Error('no media in these tests')),
    kick: () => undefined,
    onStatus: () => undefined,
    ...(rate ? { rateLimit: rate } : {}),
  });
  return { core, outbox, statuses, rate };
}

const msg = (key: string, from = 'alice'): OutboundMessage => ({ idempotencyKey: key, from, to: ADA, text: `text of ${key}` });
let n = 0;
const fresh = (): string => `${r.prefix}-${++n}`;

describe('limits.outbound_rate_per_user (core submit)', () => {
  it('refuses a user over the limit, stores nothing of it, and leaves other users alone', async () => {
    const prefix = fresh();
    const { core, statuses, rate } = submitter(prefix, { max_messages: 3, per_seconds: 60 });
    for (const k of ['a1', 'a2', 'a3']) expect((await core.submit('app', msg(k))).duplicate).toBe(false);
    const err = await core.submit('app', msg('a4')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err).toBeInstanceOf(SubmitError); // every adapter treats it as the sender's refusal
    const e = err as RateLimitError;
    expect(e.name).toBe('SubmitError');
    expect(e.field).toBe('from');
    expect(e.message).toBe(`is over limits.outbound_rate_per_user (at most 3 messages per 60 s per user); retry in ${e.retryAfterS} s`);
    expect(e.retryAfterS).toBeGreaterThanOrEqual(1);
    expect(e.retryAfterS).toBeLessThanOrEqual(60);
    expect(await statuses('app', 'a4')).toBeUndefined(); // nothing queued, the key stays free
    expect((await core.submit('app', msg('b1', 'bob'))).duplicate).toBe(false);
    // One key per user, under the user's hash tag, expiring with the window.
    const key = rate?.key('alice@birdy.interop') as string;
    expect(key).toBe(`${prefix}:rate:{alice@birdy.interop}`);
    const ttl = await r.redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('answers a repeat of an accepted key as a duplicate, even over the limit, without counting it', async () => {
    const { core } = submitter(fresh(), { max_messages: 2, per_seconds: 60 });
    const first = await core.submit('app', msg('k1'));
    expect(await core.submit('app', msg('k1'))).toEqual({ messageId: first.messageId, duplicate: true }); // not counted…
    await core.submit('app', msg('k2')); // …so this one is still within 2
    await expect(core.submit('app', msg('k3'))).rejects.toBeInstanceOf(RateLimitError);
    expect(await core.submit('app', msg('k1'))).toEqual({ messageId: first.messageId, duplicate: true });
    const many = await core.submitMany('app', [msg('k2'), msg('k4')]);
    expect(many[0]).toEqual({ messageId: expect.any(String), duplicate: true });
    expect(many[1]).toEqual({ refused: { field: 'from', message: expect.stringContaining('limits.outbound_rate_per_user') } });
  });

  it('is one count for all replicas', async () => {
    const prefix = fresh();
    const a = submitter(prefix, { max_messages: 2, per_seconds: 60 });
    const b = submitter(prefix, { max_messages: 2, per_seconds: 60 }, other.redis);
    await a.core.submit('app', msg('r1'));
    await b.core.submit('app', msg('r2'));
    await expect(a.core.submit('app', msg('r3'))).rejects.toBeInstanceOf(RateLimitError);
    await expect(b.core.submit('app', msg('r4'))).rejects.toBeInstanceOf(RateLimitError);
    await deleteKeys(other.redis, prefix);
  });

  it('keeps a batch\'s first messages of each user within the limit, in request order, and refuses the rest', async () => {
    const { core, statuses } = submitter(fresh(), { max_messages: 3, per_seconds: 60 });
    await core.submit('app', msg('pre'));
    const out = await core.submitMany('app', [msg('m1'), msg('m2', 'bob'), msg('m3'), msg('m4'), msg('m5'), msg('m6', 'bob')]);
    expect(out.map((o) => ('refused' in o ? o.refused.field : o.duplicate))).toEqual([false, false, false, 'from', 'from', false]);
    expect(await statuses('app', 'm4')).toBeUndefined();
    expect(await statuses('app', 'm5')).toBeUndefined();
    // A refusal for the sender's own error does not count.
    const bad = await core.submitMany('app', [{ ...msg('x1', 'carol'), text: '' }, msg('x2', 'carol'), msg('x3', 'carol'), msg('x4', 'carol')]);
    expect(bad.map((o) => ('refused' in o ? o.refused.message : o.duplicate))).toEqual(['is required', false, false, false]);
  });

  it('gives a window left without an expiry one (never a user blocked for good)', async () => {
    const prefix = fresh();
    const { core, rate } = submitter(prefix, { max_messages: 1, per_seconds: 30 });
    const key = rate?.key('alice@birdy.interop') as string;
    await r.redis.set(key, '5');
    await expect(core.submit('app', msg('t1'))).rejects.toBeInstanceOf(RateLimitError);
    const ttl = await r.redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it('counts nothing when no limit is configured', async () => {
    const prefix = fresh();
    const { core } = submitter(prefix);
    for (let i = 0; i < 5; i++) await core.submit('app', msg(`u${i}`));
    expect(await r.redis.keys(`${prefix}:rate:*`)).toEqual([]);
  });
});
