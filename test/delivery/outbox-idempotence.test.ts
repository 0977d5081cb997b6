// A repeated idempotency key is answered as a duplicate for the whole idempotence window (7 days,
// docs/webhook-adapter.md), also after the sent message's record is gone: it is kept only 24 h
// (retry receipts, spec 6.2). Only a key whose message left nothing at all (a claim interrupted
// before its record and statuses were written) is written again.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { MessageStatus } from '../../adapters/contract.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { Outbox, type OutboundRecord } from '../../src/delivery/outbox.ts';
import { StatusLog } from '../../src/delivery/status-log.ts';
import { testRedis } from '../support/redis.ts';

const r = testRedis();
afterAll(() => r.cleanup());
const outbox = new Outbox(r.redis, new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1'), r.prefix, new StatusLog(r.redis, r.prefix));
const ALICE = 'alice@birdy.interop';
const ADA = '447700900123@hub';

const rec = (key: string): Omit<OutboundRecord, 'id' | 't'> => ({
  adapterId: 'app', idempotencyKey: key, user: ALICE, peer: ADA, from: 'alice', message: { idempotencyKey: key, from: 'alice', to: ADA, text: `text of ${key}` },
});
const sentStatus = (id: string): MessageStatus => ({ messageId: id, idempotencyKey: 'k', from: 'alice', to: ADA, state: 'sent', at: Date.now() });

/** Submits and sends a message, then lets its record expire as it does 24 h after the send. */
async function sentAndExpired(key: string): Promise<string> {
  const { id } = await outbox.submit(rec(key));
  expect(await outbox.claim(ALICE, ADA, id, 'tok', 15_000)).toMatchObject({ state: 'queued' });
  await outbox.finish(ALICE, ADA, id, 'sent', sentStatus(id), 'tok');
  expect(await r.redis.ttl(outbox.recordKey(ALICE, id))).toBeLessThanOrEqual(24 * 3600);
  await r.redis.del(outbox.recordKey(ALICE, id)); // what the 24 h TTL does
  return id;
}

describe('idempotency key after the sent record expired (24 h < 7 days)', () => {
  it('submit answers the first id as a duplicate and queues nothing', async () => {
    const id = await sentAndExpired('late-repeat');
    const again = await outbox.submit(rec('late-repeat'));
    expect(again).toEqual({ id, duplicate: true, head: false });
    expect(await r.redis.lrange(outbox.laneKey(ALICE, ADA), 0, -1)).not.toContain(id);
    expect(await r.redis.exists(outbox.recordKey(ALICE, id))).toBe(0);
  });

  it('submitMany does the same', async () => {
    const id = await sentAndExpired('late-repeat-batch');
    const [again] = await outbox.submitMany([{ record: rec('late-repeat-batch') }]);
    expect(again).toEqual({ id, duplicate: true, head: false });
    expect(await r.redis.lrange(outbox.laneKey(ALICE, ADA), 0, -1)).not.toContain(id);
  });
});

describe('a message finished twice (two holders of its lane, e.g. one that outlived its lease)', () => {
  it('keeps the first outcome: no second status, no dead letter for a sent message; the lane still moves on', async () => {
    const { id } = await outbox.submit(rec('finished-twice'));
    expect(await outbox.claim(ALICE, ADA, id, 'tok', 15_000)).toMatchObject({ state: 'queued' });
    expect(await outbox.finishAndClaim(ALICE, ADA, id, 'sent', sentStatus(id), 'tok')).not.toHaveProperty('stale');
    const late = await outbox.finishAndClaim(ALICE, ADA, id, 'failed', { ...sentStatus(id), state: 'failed', reason: 'id-reused', certain: false }, 'other');
    expect(late.stale).toBe(true);
    expect(await r.redis.hget(outbox.recordKey(ALICE, id), 'state')).toBe('sent');
    expect((await new StatusLog(r.redis, r.prefix).history(id)).map((s) => s.state)).toEqual(['queued', 'sent']);
    expect((await outbox.deadLetters(1000)).some((d) => d.id === id)).toBe(false);
    expect(await r.redis.lrange(outbox.laneKey(ALICE, ADA), 0, -1)).not.toContain(id);
  });
});

describe('dead letters', () => {
  it('are forgotten with their records (7 days), so the list does not fill with replays of nothing', async () => {
    const dead = `${r.prefix}:dead`;
    const old = Date.now() - 8 * 24 * 3600 * 1000;
    await r.redis.zadd(dead, old, `${ALICE}|${ADA}|GONE0000001`); // its record expired a day ago
    const { id } = await outbox.submit(rec('dead-now'));
    await outbox.claim(ALICE, ADA, id, 'tok', 15_000);
    await outbox.finish(ALICE, ADA, id, 'failed', { ...sentStatus(id), state: 'failed', reason: 'blocked', certain: true }, 'tok');
    expect((await outbox.deadLetters(1000)).map((d) => d.id)).toEqual([id]);
  });
});
