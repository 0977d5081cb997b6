// StatusLog#appendReceipt on a real Redis: a hub receipt becomes a status that takes the message's
// id, idempotency key and sender from its first status, in one script and without the sealed
// record; a receipt for a message whose record is gone appends nothing.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Keyring } from '../../src/crypto/keyring.ts';
import { Outbox } from '../../src/delivery/outbox.ts';
import { StatusLog, STATUS_RETENTION_S } from '../../src/delivery/status-log.ts';
import { recordingRedis, testRedis } from '../support/redis.ts';

const r = testRedis();
const { redis, sent } = recordingRedis();
afterAll(async () => {
  await r.cleanup();
  redis.disconnect();
});
const log = new StatusLog(redis, r.prefix);
const outbox = new Outbox(redis, new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1'), r.prefix, log);
const ALICE = 'alice@birdy.interop';
const ADA = '447700900123@hub';

describe('StatusLog#appendReceipt', () => {
  it('appends the receipt’s status with the message’s own fields, in one command, and returns it', async () => {
    const { id } = await outbox.submit({ adapterId: 'app', idempotencyKey: 'key "ü" 1', user: ALICE, peer: ADA, from: 'alice', message: { idempotencyKey: 'key "ü" 1', from: 'alice', to: ADA, text: 'hi' } });
    sent.length = 0;
    const at = Date.now();
    const s = await log.appendReceipt(id, outbox.recordKey(ALICE, id), { state: 'delivered', at, to: ADA, device: '447700900123:3@hub' });
    expect(sent).toEqual(['evalsha']);
    expect(s).toEqual({ messageId: id, idempotencyKey: 'key "ü" 1', from: 'alice', to: ADA, state: 'delivered', at, device: '447700900123:3@hub' });
    const read = await log.appendReceipt(id, outbox.recordKey(ALICE, id), { state: 'read', at: at + 1, to: ADA });
    expect(read).toEqual({ messageId: id, idempotencyKey: 'key "ü" 1', from: 'alice', to: ADA, state: 'read', at: at + 1 });
    expect(await log.history(id)).toEqual([expect.objectContaining({ state: 'queued' }), s, read]);
    const ttl = await redis.ttl(log.key(id));
    expect(ttl).toBeGreaterThan(STATUS_RETENTION_S - 10);
  });

  it('appends nothing for a message whose record is gone, or that has no status', async () => {
    const { id } = await outbox.submit({ adapterId: 'app', idempotencyKey: 'gone', user: ALICE, peer: ADA, from: 'alice', message: { idempotencyKey: 'gone', from: 'alice', to: ADA, text: 'x' } });
    await redis.del(outbox.recordKey(ALICE, id));
    expect(await log.appendReceipt(id, outbox.recordKey(ALICE, id), { state: 'delivered', at: Date.now(), to: ADA })).toBeUndefined();
    expect((await log.history(id)).map((x) => x.state)).toEqual(['queued']);
    expect(await log.appendReceipt('never-seen', outbox.recordKey(ALICE, 'never-seen'), { state: 'read', at: Date.now(), to: ADA })).toBeUndefined();
    expect(await redis.exists(log.key('never-seen'))).toBe(0);
  });
});
