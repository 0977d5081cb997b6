// `keys rotate` while another replica still seals with the old key (a rolling config change): a
// record rewritten between the walk's read and its compare-and-set must not be left under the old
// key, or removing that key from the config afterwards loses it.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Keyring } from '../../src/crypto/keyring.ts';
import { rewrapAll } from '../../src/crypto/rewrap.ts';
import { testRedis } from '../support/redis.ts';

const { redis, prefix, cleanup } = testRedis();
afterAll(cleanup);
const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'k2', key: randomBytes(32) };

describe('rewrapAll against a writer on the old key', () => {
  it('re-seals a record that was rewritten under the old key during the walk', async () => {
    const old = new Keyring([k1], 'k1');
    const key = `${prefix}:rec`;
    await redis.hset(key, 'data', old.seal(Buffer.from('v1'), `${key}|data`));

    // The old replica rewrites the record just before the walk's compare-and-set, once.
    let raced = false;
    const racing = new Proxy(redis, {
      get(target, prop, receiver) {
        // The compare-and-set is a script (src/redis-script.ts: EVALSHA, EVAL when not loaded).
        if (prop === 'evalshaBuffer' || prop === 'evalBuffer') {
          const run = Reflect.get(target, prop, receiver) as (...x: unknown[]) => Promise<unknown>;
          return async (...a: unknown[]) => {
            if (!raced) {
              raced = true;
              await target.hset(key, 'data', old.seal(Buffer.from('v2'), `${key}|data`));
            }
            return run.apply(target, a);
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
      },
    }) as Redis;

    const both = new Keyring([k1, k2], 'k2');
    await rewrapAll(racing, both, prefix);
    expect(raced).toBe(true);

    // Nothing is left under k1: a keyring without it reads the newest value.
    const blob = (await redis.hgetBuffer(key, 'data')) as Buffer;
    expect(both.keyIdOf(blob)).toBe('k2');
    expect(new Keyring([k2], 'k2').open(blob, `${key}|data`).toString()).toBe('v2');
  });
});
