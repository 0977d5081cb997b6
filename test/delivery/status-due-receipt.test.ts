// StatusLog's due set with receipts, on a real Redis: APPEND_RECEIPT marks the status it appends
// due under a member naming that one status (`id|state|device`), in the same command; a repeat
// marks nothing; takeDue returns each due status exactly as stored (a final one under the plain
// message id, as stored data already has it, and each receipt's), and drops entries whose
// statuses are gone, so the set stays bounded.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { MessageStatus } from '../../adapters/contract.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { Outbox } from '../../src/delivery/outbox.ts';
import { dueMember, StatusLog } from '../../src/delivery/status-log.ts';
import { testRedis } from '../support/redis.ts';

const { redis, prefix, cleanup } = testRedis();
afterAll(cleanup);
const log = new StatusLog(redis, prefix);
const outbox = new Outbox(redis, new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1'), prefix, log);
const ALICE = 'alice@birdy.interop';
const ADA = '447700900123@hub';
const D3 = '447700900123:3@hub';

async function submitted(key: string): Promise<string> {
  const { id } = await outbox.submit({ adapterId: 'app', idempotencyKey: key, user: ALICE, peer: ADA, from: 'alice', message: { idempotencyKey: key, from: 'alice', to: ADA, text: key } });
  return id;
}
const due = async () => (await redis.zrange(log.dueKey, 0, -1)).sort();

describe('receipt statuses in the due set', () => {
  it('marks each appended receipt status due, a repeat not; takeDue gives each exactly as stored; reported clears it', async () => {
    const id = await submitted('due-1');
    const key = outbox.recordKey(ALICE, id);
    const delivered = (await log.appendReceipt(id, key, 'alice', { state: 'delivered', at: 1_700_000_000_001, to: ADA, device: D3 })) as MessageStatus;
    const read = (await log.appendReceipt(id, key, 'alice', { state: 'read', at: 1_700_000_000_002, to: ADA })) as MessageStatus;
    expect(delivered).toMatchObject({ state: 'delivered', device: D3 });
    expect(read).toMatchObject({ state: 'read' });
    expect(await due()).toEqual([`${id}|delivered|${D3}`, `${id}|read|`].sort());
    expect([dueMember(delivered), dueMember(read)].sort()).toEqual(await due());
    // A repeat (the hub resent the receipt) marks nothing, also once the first was reported.
    await log.reported([dueMember(delivered)]);
    expect(await log.appendReceipt(id, key, 'alice', { state: 'delivered', at: 1_700_000_000_003, to: ADA, device: D3 })).toBeUndefined();
    expect(await due()).toEqual([`${id}|read|`]);
    // A final status marked as before (the plain id) is taken as the last sent/failed status.
    const sent = { messageId: id, idempotencyKey: 'due-1', from: 'alice', to: ADA, state: 'sent' as const, at: 1_700_000_000_000 };
    await redis.multi().rpush(log.key(id), JSON.stringify(sent)).zadd(log.dueKey, 1, id).exec();
    const taken = await log.takeDue(0);
    expect(taken).toHaveLength(2);
    expect(taken).toContainEqual(sent);
    expect(taken).toContainEqual(read);
    expect(taken.find((s) => s.state === 'read')).toEqual((await log.history(id)).find((s) => s.state === 'read'));
    await log.reported(taken.map(dueMember));
    expect(await due()).toEqual([]);
  });

  it('drops entries whose statuses are gone', async () => {
    const id = await submitted('due-gone');
    await log.appendReceipt(id, outbox.recordKey(ALICE, id), 'alice', { state: 'played', at: Date.now(), to: ADA, device: D3 });
    await redis.zadd(log.dueKey, 1, `${id}|read|${D3}`); // names a status that is not there
    await redis.del(log.key(id)); // its 7 days are over
    expect(await due()).toHaveLength(2);
    expect(await log.takeDue(0)).toEqual([]);
    expect(await due()).toEqual([]);
  });
});
