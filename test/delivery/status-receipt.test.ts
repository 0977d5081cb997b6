// StatusLog#appendReceipt on a real Redis: a hub receipt becomes a status that takes the message's
// id, idempotency key and sender from its first status, in one script and without the sealed
// record. A receipt is taken only from the message's recipient, and for a message of this user:
// its record (kept 24 h) is under the user's key, or, once the record is gone, its first (queued)
// status names this user as sender (statuses are kept 7 days: a hub user may read a message days
// later). A repeat of the same receipt (state and device: the hub resends one whose ack was lost)
// appends nothing.
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
const EVE = '447700900999@hub';

describe('StatusLog#appendReceipt', () => {
  it('appends the receipt’s status with the message’s own fields, in one command, and returns it', async () => {
    const { id } = await outbox.submit({ adapterId: 'app', idempotencyKey: 'key "ü" 1', user: ALICE, peer: ADA, from: 'alice', message: { idempotencyKey: 'key "ü" 1', from: 'alice', to: ADA, text: 'hi' } });
    // A Redis that has not run the script yet answers NOSCRIPT and is sent it once (redis-script.ts).
    await log.appendReceipt('warm-up', outbox.recordKey(ALICE, 'warm-up'), 'alice', { state: 'read', at: 1, to: ADA });
    sent.length = 0;
    const at = Date.now();
    const s = await log.appendReceipt(id, outbox.recordKey(ALICE, id), 'alice', { state: 'delivered', at, to: ADA, device: '447700900123:3@hub' });
    expect(sent).toEqual(['evalsha']);
    expect(s).toEqual({ messageId: id, idempotencyKey: 'key "ü" 1', from: 'alice', to: ADA, state: 'delivered', at, device: '447700900123:3@hub' });
    const read = await log.appendReceipt(id, outbox.recordKey(ALICE, id), 'alice', { state: 'read', at: at + 1, to: ADA });
    expect(read).toEqual({ messageId: id, idempotencyKey: 'key "ü" 1', from: 'alice', to: ADA, state: 'read', at: at + 1 });
    expect(await log.history(id)).toEqual([expect.objectContaining({ state: 'queued' }), s, read]);
    const ttl = await redis.ttl(log.key(id));
    expect(ttl).toBeGreaterThan(STATUS_RETENTION_S - 10);
  });

  it('appends a receipt for a message whose record is gone, from its statuses, when it is this user’s message to that hub user', async () => {
    const { id } = await outbox.submit({ adapterId: 'app', idempotencyKey: 'gone', user: ALICE, peer: ADA, from: 'alice', message: { idempotencyKey: 'gone', from: 'alice', to: ADA, text: 'x' } });
    await redis.del(outbox.recordKey(ALICE, id)); // the sent record's 24 h are over; its statuses remain
    const at = Date.now();
    expect(await log.appendReceipt(id, outbox.recordKey(ALICE, id), 'alice', { state: 'read', at, to: ADA })).toEqual({ messageId: id, idempotencyKey: 'gone', from: 'alice', to: ADA, state: 'read', at });
    // Not this user's message (the receipt came on Bob's session), or not sent to that hub user.
    expect(await log.appendReceipt(id, outbox.recordKey('bob@birdy.interop', id), 'bob', { state: 'delivered', at, to: ADA })).toBeUndefined();
    expect(await log.appendReceipt(id, outbox.recordKey(ALICE, id), 'alice', { state: 'delivered', at, to: EVE })).toBeUndefined();
    expect((await log.history(id)).map((x) => x.state)).toEqual(['queued', 'read']);
  });

  it('appends nothing for a message that has no status', async () => {
    expect(await log.appendReceipt('never-seen', outbox.recordKey(ALICE, 'never-seen'), 'alice', { state: 'read', at: Date.now(), to: ADA })).toBeUndefined();
    expect(await redis.exists(log.key('never-seen'))).toBe(0);
  });

  it('ignores a receipt from a hub user who was not the message’s recipient', async () => {
    const { id } = await outbox.submit({ adapterId: 'app', idempotencyKey: 'other', user: ALICE, peer: ADA, from: 'alice', message: { idempotencyKey: 'other', from: 'alice', to: ADA, text: 'x' } });
    expect(await log.appendReceipt(id, outbox.recordKey(ALICE, id), 'alice', { state: 'read', at: Date.now(), to: EVE, device: '447700900999:0@hub' })).toBeUndefined();
    expect((await log.history(id)).map((x) => x.state)).toEqual(['queued']);
  });

  it('appends a repeated receipt (same state, same device) once, in the same one command', async () => {
    const { id } = await outbox.submit({ adapterId: 'app', idempotencyKey: 'again', user: ALICE, peer: ADA, from: 'alice', message: { idempotencyKey: 'again', from: 'alice', to: ADA, text: 'x' } });
    const key = outbox.recordKey(ALICE, id);
    const d3 = '447700900123:3@hub';
    expect(await log.appendReceipt(id, key, 'alice', { state: 'delivered', at: 1, to: ADA, device: d3 })).toMatchObject({ state: 'delivered', device: d3 });
    sent.length = 0;
    expect(await log.appendReceipt(id, key, 'alice', { state: 'delivered', at: 2, to: ADA, device: d3 })).toBeUndefined();
    expect(sent).toEqual(['evalsha']);
    // Another device, or another state of the same device, is news.
    expect(await log.appendReceipt(id, key, 'alice', { state: 'delivered', at: 3, to: ADA, device: '447700900123:0@hub' })).toMatchObject({ device: '447700900123:0@hub' });
    expect(await log.appendReceipt(id, key, 'alice', { state: 'read', at: 4, to: ADA, device: d3 })).toMatchObject({ state: 'read', device: d3 });
    // A receipt without a device is repeated the same way.
    expect(await log.appendReceipt(id, key, 'alice', { state: 'read', at: 5, to: ADA })).toMatchObject({ state: 'read', at: 5 });
    expect(await log.appendReceipt(id, key, 'alice', { state: 'read', at: 6, to: ADA })).toBeUndefined();
    expect((await log.history(id)).map((x) => [x.state, x.device ?? '', x.at])).toEqual([
      ['queued', '', expect.any(Number)],
      ['delivered', d3, 1],
      ['delivered', '447700900123:0@hub', 3],
      ['read', d3, 4],
      ['read', '', 5],
    ]);
  });
});
