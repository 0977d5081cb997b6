// Key-encryption-key rotation over real records: Signal stores and a sealed outbox record written
// under k1 are re-sealed under k2; after that a keyring with only k2 reads everything.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { rewrapAll } from '../../src/crypto/rewrap.ts';
import { Outbox } from '../../src/delivery/outbox.ts';
import { StatusLog } from '../../src/delivery/status-log.ts';
import { testRedis } from '../support/redis.ts';

const { redis, prefix, cleanup } = testRedis();
afterAll(cleanup);
const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'k2', key: randomBytes(32) };

describe('rewrapAll', () => {
  it('re-seals every record under the new key without losing any', async () => {
    const old = new Keyring([k1], 'k1');
    const store = new RedisSignalStore(redis, old, prefix, 'alice@birdy.interop');
    await createAccount(store, { preKeys: 3, kyberPreKeys: 3 });
    const outbox = new Outbox(redis, old, prefix, new StatusLog(redis, prefix));
    const { id } = await outbox.submit({ adapterId: 'a', idempotencyKey: 'k', user: 'alice@birdy.interop', peer: '447700900123@hub', from: 'alice', message: { idempotencyKey: 'k', from: 'alice', to: '447700900123@hub', text: 'sealed text' } });
    await redis.hset(`${prefix}:plain`, 'counter', '12');

    const both = new Keyring([k1, k2], 'k2');
    const dry = await rewrapAll(redis, both, prefix, { dryRun: true });
    expect(dry.rewrapped).toBeGreaterThan(10);
    expect((await rewrapAll(redis, new Keyring([k1, k2], 'k2'), prefix, { dryRun: true })).rewrapped).toBe(dry.rewrapped); // dry run changed nothing

    const r = await rewrapAll(redis, both, prefix);
    expect(r).toMatchObject({ rewrapped: dry.rewrapped, unknownKey: [] });
    expect((await rewrapAll(redis, both, prefix)).rewrapped).toBe(0);

    const onlyNew = new Keyring([k2], 'k2');
    const reopened = new RedisSignalStore(redis, onlyNew, prefix, 'alice@birdy.interop');
    expect(await reopened.preKeys.count()).toBe(3);
    expect((await reopened.identities.getIdentityKey()).serialize().length).toBe(32);
    const loaded = await new Outbox(redis, onlyNew, prefix, new StatusLog(redis, prefix)).load('alice@birdy.interop', id);
    expect(loaded?.record.message.text).toBe('sealed text');
    expect(await redis.hget(`${prefix}:plain`, 'counter')).toBe('12');
  });

  it('reports records sealed with a key that is no longer configured', async () => {
    const k3 = { id: 'k3', key: randomBytes(32) };
    const store = new RedisSignalStore(redis, new Keyring([k3], 'k3'), `${prefix}-x`, 'bob@birdy.interop');
    await createAccount(store, { preKeys: 1, kyberPreKeys: 1 });
    const r = await rewrapAll(redis, new Keyring([k2], 'k2'), `${prefix}-x`);
    expect(r.rewrapped).toBe(0);
    expect(r.unknownKey.length).toBeGreaterThan(0);
    expect(r.unknownKey[0]?.kid).toBe('k3');
  });
});
