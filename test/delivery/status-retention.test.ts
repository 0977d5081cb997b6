// Config `limits.sent_retention_h` (at least 24, spec 6.2) is how long a sent message's record is
// kept to answer retry receipts: the Outbox's finish uses it (Core option `sentRetentionS`), and
// the 24 h default stays when it is not given.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { MessageStatus } from '../../adapters/contract.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { Outbox } from '../../src/delivery/outbox.ts';
import { StatusLog } from '../../src/delivery/status-log.ts';
import { eventually, harness, QUIET_ADA } from './harness.ts';
import { testRedis } from '../support/redis.ts';

const ALICE = 'alice@birdy.interop';
const ADA = '447700900123@hub';
const r = testRedis();
afterAll(() => r.cleanup());
const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
const log = new StatusLog(r.redis, r.prefix);
const sent = (id: string): MessageStatus => ({ messageId: id, idempotencyKey: id, from: 'alice', to: ADA, state: 'sent', at: Date.now() });

async function sentTtl(outbox: Outbox, key: string): Promise<number> {
  const { id } = await outbox.submit({ adapterId: 'app', idempotencyKey: key, user: ALICE, peer: ADA, from: 'alice', message: { idempotencyKey: key, from: 'alice', to: ADA, text: 'x' } });
  await outbox.finish(ALICE, ADA, id, 'sent', sent(id));
  return r.redis.ttl(outbox.recordKey(ALICE, id));
}

describe('the sent record’s retention', () => {
  it('is the configured one', async () => {
    const ttl = await sentTtl(new Outbox(r.redis, ring, r.prefix, log, { sentRetentionS: 72 * 3600 }), 'ret-72');
    expect(ttl).toBeGreaterThan(71 * 3600);
    expect(ttl).toBeLessThanOrEqual(72 * 3600);
  });

  it('is 24 h by default', async () => {
    const ttl = await sentTtl(new Outbox(r.redis, ring, r.prefix, log), 'ret-default');
    expect(ttl).toBeGreaterThan(23 * 3600);
    expect(ttl).toBeLessThanOrEqual(24 * 3600);
  });

  it('reaches the outbox from the Core’s options', async () => {
    const h = await harness({ users: [QUIET_ADA] }, { sentRetentionS: 48 * 3600 });
    try {
      await h.core.setInterop('rec', 'alice', true);
      const { messageId: id } = await h.core.submit('rec', { idempotencyKey: 'core-48', from: 'alice', to: ADA, text: 'kept 48 h' });
      await eventually(async () => (await h.redis.hget(h.core.outbox.recordKey(ALICE, id), 'state')) === 'sent', 15_000, 'sent');
      const ttl = await h.redis.ttl(h.core.outbox.recordKey(ALICE, id));
      expect(ttl).toBeGreaterThan(47 * 3600);
      expect(ttl).toBeLessThanOrEqual(48 * 3600);
    } finally {
      await h.close();
    }
  });
});
