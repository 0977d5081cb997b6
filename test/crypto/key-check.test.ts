// Two processes given different key bytes under one key id must not both run: the second is
// refused at start, naming the id (key-check.ts), before it seals anything the first cannot open.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { keyCheckKey, KeyMismatchError, verifyKeyring } from '../../src/crypto/key-check.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { testRedis } from '../support/redis.ts';

const { redis, prefix, cleanup } = testRedis();
afterAll(cleanup);

describe('key check values', () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);

  it('accepts the same keys again and new ids beside them', async () => {
    await verifyKeyring(redis, prefix, new Keyring([{ id: 'k1', key: k1 }], 'k1'));
    await verifyKeyring(redis, prefix, new Keyring([{ id: 'k1', key: k1 }], 'k1'));
    await verifyKeyring(redis, prefix, new Keyring([{ id: 'k1', key: k1 }, { id: 'k2', key: k2 }], 'k2'));
    expect(await redis.hkeys(keyCheckKey(prefix))).toEqual(expect.arrayContaining(['k1', 'k2']));
  });

  it('refuses other bytes under a known id, and stores nothing that could reveal a key', async () => {
    const other = new Keyring([{ id: 'k1', key: randomBytes(32) }, { id: 'k3', key: randomBytes(32) }], 'k3');
    const err = await verifyKeyring(redis, prefix, other).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyMismatchError);
    expect((err as Error).message).toMatch(/id "k1" is not the key/);
    const stored = await redis.hgetall(keyCheckKey(prefix));
    expect(Object.keys(stored)).not.toContain('k3'); // refused: nothing of it recorded
    for (const v of Object.values(stored)) {
      expect(v).not.toContain(k1.toString('base64'));
      expect(v).not.toContain(k1.toString('base64url'));
    }
  });
});
