// Outbox#submitMany: several messages in one script, each written exactly as Outbox#submit writes
// it (record, statuses, lane, lanes set), in order; repeats, keys repeated within the call and an
// interrupted claim (key without record) are answered as submit answers them.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Keyring } from '../../src/crypto/keyring.ts';
import { Outbox, type OutboundRecord } from '../../src/delivery/outbox.ts';
import { StatusLog } from '../../src/delivery/status-log.ts';
import { testRedis } from '../support/redis.ts';

const r = testRedis();
afterAll(() => r.cleanup());
const outbox = new Outbox(r.redis, new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1'), r.prefix, new StatusLog(r.redis, r.prefix));
const ALICE = 'alice@birdy.interop';
const ADA = '447700900123@hub';
const BEN = '447700900124@hub';

const rec = (key: string, peer = ADA, text = `text of ${key}`): Omit<OutboundRecord, 'id' | 't'> => ({
  adapterId: 'app', idempotencyKey: key, user: ALICE, peer, from: 'alice', message: { idempotencyKey: key, from: 'alice', to: peer, text },
});
/** What Redis holds for a message, without ids and times. */
async function stored(id: string) {
  const h = await r.redis.hgetall(outbox.recordKey(ALICE, id));
  const statuses = (await r.redis.lrange(`${r.prefix}:status:${id}`, 0, -1)).map((j) => {
    const { messageId: _id, at: _at, ...s } = JSON.parse(j) as Record<string, unknown>;
    return s;
  });
  const loaded = await outbox.load(ALICE, id);
  const { id: _i, t: _t, submittedAt: _s, ...record } = loaded?.record ?? ({} as OutboundRecord);
  return { state: h.state, attempts: h.attempts, ttl: (await r.redis.ttl(outbox.recordKey(ALICE, id))) > 0, statuses, record };
}
const strip = (x: Awaited<ReturnType<typeof stored>>, key: string) => JSON.parse(JSON.stringify(x).replaceAll(key, 'KEY')) as unknown;

describe('Outbox#submitMany', () => {
  it('writes what submit writes, in one script, in order per lane; the first of an empty lane is its head', async () => {
    const single = await outbox.submit(rec('one-0'));
    const final = await outbox.submit(rec('one-f'), { reason: 'unsupported-in-interop', message: 'no calls' });
    const spy = vi.spyOn(r.redis as unknown as { evalshaBuffer: () => Promise<unknown> }, 'evalshaBuffer');
    const many = await outbox.submitMany([
      { record: rec('many-0', BEN) }, { record: rec('many-1', BEN) },
      { record: rec('many-f'), final: { reason: 'unsupported-in-interop', message: 'no calls' } },
      { record: rec('many-2', BEN) },
    ]);
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    expect(many.map((m) => [m.duplicate, m.head])).toEqual([[false, true], [false, false], [false, false], [false, false]]);
    expect(await r.redis.lrange(outbox.laneKey(ALICE, BEN), 0, -1)).toEqual([many[0]?.id, many[1]?.id, many[3]?.id]);
    expect(await r.redis.lrange(outbox.laneKey(ALICE, ADA), 0, -1)).toEqual([single.id]); // a final outcome joins no lane
    expect(await r.redis.smembers(outbox.lanesKey)).toEqual(expect.arrayContaining([`${ALICE}|${ADA}`, `${ALICE}|${BEN}`]));
    const one = await stored(single.id);
    expect(one.state).toBe('queued');
    expect(strip(await stored(many[0]?.id as string), 'many-0')).toEqual(strip({ ...one, record: { ...one.record, peer: BEN, message: { ...one.record.message, to: BEN } }, statuses: one.statuses.map((s) => ({ ...s, to: BEN })) }, 'one-0'));
    const f = await stored(final.id);
    expect(f.statuses.map((s) => s.state)).toEqual(['queued', 'failed']);
    expect(strip(await stored(many[2]?.id as string), 'many-f')).toEqual(strip(f, 'one-f'));
  });

  it('answers a key claimed before, or twice in the call, with the first id; writes an interrupted claim under its id', async () => {
    const first = await outbox.submit(rec('again-0'));
    await r.redis.set(outbox.idemKey('app', 'claimed'), `${ALICE}|CLAIMED0001`, 'EX', 60); // a claim whose record was never written
    const res = await outbox.submitMany([{ record: rec('again-0') }, { record: rec('twice') }, { record: rec('twice', ADA, 'other text') }, { record: rec('claimed') }]);
    expect(res[0]).toEqual({ id: first.id, duplicate: true, head: false });
    expect(res[1]?.duplicate).toBe(false);
    expect(res[2]).toEqual({ id: res[1]?.id, duplicate: true, head: false });
    expect(res[3]).toMatchObject({ id: 'CLAIMED0001', duplicate: false });
    expect((await outbox.load(ALICE, 'CLAIMED0001'))?.record.message.text).toBe('text of claimed');
    expect((await outbox.load(ALICE, res[1]?.id as string))?.record.message.text).toBe('text of twice');
    const lane = await r.redis.lrange(outbox.laneKey(ALICE, ADA), 0, -1);
    expect(lane.filter((id) => id === first.id || id === res[1]?.id || id === 'CLAIMED0001')).toEqual([first.id, res[1]?.id, 'CLAIMED0001']);
    expect(await outbox.submitMany([])).toEqual([]);
  });
});
