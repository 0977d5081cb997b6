// Outbox#claim and Outbox#finishAndClaim on a real Redis: the claim names the lane's next id when it
// claims the head; the finish of a sent message claims that next one in the same script (lease,
// attempt counted, record loaded) only when it is the new head and the lease is the caller's; the
// finish of the last message gives the lease up; the failed path keeps its dead letter.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { MessageStatus } from '../../adapters/contract.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { Outbox, type OutboundRecord } from '../../src/delivery/outbox.ts';
import { StatusLog } from '../../src/delivery/status-log.ts';
import { recordingRedis, testRedis } from '../support/redis.ts';

const r = testRedis();
const { redis, sent } = recordingRedis();
afterAll(async () => {
  await r.cleanup();
  redis.disconnect();
});
const statusLog = new StatusLog(redis, r.prefix);
const outbox = new Outbox(redis, new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1'), r.prefix, statusLog);
const ALICE = 'alice@birdy.interop';
let peerN = 0;
const LEASE = 15_000;

const rec = (key: string, peer: string): Omit<OutboundRecord, 'id' | 't'> => ({
  adapterId: 'app', idempotencyKey: key, user: ALICE, peer, from: 'alice', message: { idempotencyKey: key, from: 'alice', to: peer, text: `text of ${key}` },
});
const status = (id: string, state: MessageStatus['state']): MessageStatus => ({ messageId: id, idempotencyKey: 'k', from: 'alice', to: 'x@hub', state, at: Date.now() });
/** A fresh lane of `n` queued messages. */
async function lane(n: number): Promise<{ peer: string; ids: string[] }> {
  const peer = `44770090${String(++peerN).padStart(4, '0')}@hub`;
  const ids = [];
  for (let i = 0; i < n; i++) ids.push((await outbox.submit(rec(`${peer}-${i}`, peer))).id);
  return { peer, ids };
}

describe('Outbox#claim and #finishAndClaim', () => {
  it('claim names the next id of the lane when it claims the head, and none for a lone message or a non-head', async () => {
    const { peer, ids } = await lane(3);
    const head = await outbox.claim(ALICE, peer, ids[0] as string, 'tok', LEASE);
    expect(head !== 'busy' && head?.next).toBe(ids[1]);
    const second = await outbox.claim(ALICE, peer, ids[1] as string, 'tok', LEASE);
    expect(second !== 'busy' && second?.record.id).toBe(ids[1]);
    expect(second !== 'busy' && second?.next).toBeUndefined();
    const lone = await lane(1);
    const only = await outbox.claim(ALICE, lone.peer, lone.ids[0] as string, 'tok', LEASE);
    expect(only !== 'busy' && only?.next).toBeUndefined();
  });

  it('finishes a sent message and claims the expected next head in one script', async () => {
    const { peer, ids } = await lane(3);
    const [a, b, c] = ids as [string, string, string];
    const first = await outbox.claim(ALICE, peer, a, 'tok', LEASE);
    if (first === 'busy' || !first) throw new Error('not claimed');
    sent.length = 0;
    const done = await outbox.finishAndClaim(ALICE, peer, a, 'sent', status(a, 'sent'), 'tok', { id: first.next as string, leaseMs: LEASE });
    expect(sent).toEqual(['evalsha']);
    expect(done.next).toBe(b);
    expect(done.claimed?.record.id).toBe(b);
    expect(done.claimed?.record.message.text).toBe(`text of ${peer}-1`);
    expect(done.claimed?.state).toBe('queued');
    expect(done.claimed?.attempts).toBe(0);
    expect(done.claimed?.next).toBe(c);
    // What finish wrote for a: state, 24 h retention, the sent status; the lane moved on; b's attempt counted.
    expect(await redis.hget(outbox.recordKey(ALICE, a), 'state')).toBe('sent');
    expect(await redis.ttl(outbox.recordKey(ALICE, a))).toBeLessThanOrEqual(24 * 3600);
    expect((await statusLog.history(a)).map((s) => s.state)).toEqual(['queued', 'sent']);
    expect(await redis.lrange(outbox.laneKey(ALICE, peer), 0, -1)).toEqual([b, c]);
    expect(await redis.hget(outbox.recordKey(ALICE, b), 'attempts')).toBe('1');
    expect(await redis.get(outbox.leaseKey(ALICE, peer))).toBe('tok');
    // The last one: nothing to claim, the lease is given up.
    await outbox.finishAndClaim(ALICE, peer, b, 'sent', status(b, 'sent'), 'tok', { id: c, leaseMs: LEASE });
    const last = await outbox.finishAndClaim(ALICE, peer, c, 'sent', status(c, 'sent'), 'tok');
    expect(last).toEqual({});
    expect(await redis.exists(outbox.leaseKey(ALICE, peer))).toBe(0);
    expect(await redis.llen(outbox.laneKey(ALICE, peer))).toBe(0);
  });

  it('claims nothing when the next head is not the one expected, or another process holds the lane', async () => {
    const { peer, ids } = await lane(3);
    const [a, b, c] = ids as [string, string, string];
    await outbox.claim(ALICE, peer, a, 'tok', LEASE);
    const wrong = await outbox.finishAndClaim(ALICE, peer, a, 'sent', status(a, 'sent'), 'tok', { id: c, leaseMs: LEASE });
    expect(wrong).toEqual({ next: b });
    expect(await redis.hget(outbox.recordKey(ALICE, c), 'attempts')).toBe('0');
    expect(await redis.hget(outbox.recordKey(ALICE, b), 'attempts')).toBe('0');
    await redis.set(outbox.leaseKey(ALICE, peer), 'other', 'PX', LEASE);
    const other = await outbox.finishAndClaim(ALICE, peer, b, 'sent', status(b, 'sent'), 'tok', { id: c, leaseMs: LEASE });
    expect(other).toEqual({ next: c });
    expect(await redis.hget(outbox.recordKey(ALICE, c), 'attempts')).toBe('0');
    expect(await redis.get(outbox.leaseKey(ALICE, peer))).toBe('other');
  });

  it('finish of a failed message records its dead letter and keeps it 7 days', async () => {
    const { peer, ids } = await lane(2);
    const [a, b] = ids as [string, string];
    await outbox.claim(ALICE, peer, a, 'tok', LEASE);
    const next = await outbox.finish(ALICE, peer, a, 'failed', { ...status(a, 'failed'), reason: 'expired' }, 'tok');
    expect(next).toBe(b);
    expect(await redis.hget(outbox.recordKey(ALICE, a), 'state')).toBe('failed');
    expect(await redis.ttl(outbox.recordKey(ALICE, a))).toBeGreaterThan(24 * 3600);
    expect((await outbox.deadLetters(1000)).some((d) => d.id === a && d.peer === peer)).toBe(true);
    expect((await statusLog.history(a)).at(-1)?.reason).toBe('expired');
  });
});

describe('Outbox#laneHeads', () => {
  it('names each non-empty lane’s head and whether it is leased, and forgets emptied lanes', async () => {
    const own = new Outbox(redis, new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1'), `${r.prefix}-heads`, statusLog);
    const ids: Record<string, string> = {};
    for (const peer of ['447700900001@hub', '447700900002@hub', '447700900003@hub']) ids[peer] = (await own.submit(rec(`h-${peer}`, peer))).id;
    await redis.set(own.leaseKey(ALICE, '447700900002@hub'), 'someone', 'PX', LEASE);
    await redis.del(own.laneKey(ALICE, '447700900003@hub')); // emptied by a finish elsewhere
    const heads = await own.laneHeads();
    expect(heads.sort((a, b) => a.peer.localeCompare(b.peer))).toEqual([
      { user: ALICE, peer: '447700900001@hub', id: ids['447700900001@hub'], leased: false },
      { user: ALICE, peer: '447700900002@hub', id: ids['447700900002@hub'], leased: true },
    ]);
    expect((await redis.smembers(own.lanesKey)).sort()).toEqual([`${ALICE}|447700900001@hub`, `${ALICE}|447700900002@hub`]);
    const keys = await redis.keys(`${r.prefix}-heads*`);
    if (keys.length > 0) await redis.del(...keys);
  });
});
