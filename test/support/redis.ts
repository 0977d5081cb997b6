// A Redis connection for tests, with a fresh key prefix per test file and cleanup of its keys.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.CAUSEWAY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function testRedis(): { redis: Redis; prefix: string; cleanup(): Promise<void> } {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3, lazyConnect: false });
  const prefix = `cwtest-${randomBytes(6).toString('hex')}`;
  return {
    redis,
    prefix,
    async cleanup() {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    },
  };
}

/** Removes every key under a prefix (a test's own). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/**
 * A connection that records the name of every command it sends (each one a round trip unless
 * pipelined), for tests that count what an operation costs. The caller disconnects it.
 */
export function recordingRedis(): { redis: Redis; sent: string[] } {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  const sent: string[] = [];
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((...a: Parameters<Redis['sendCommand']>) => {
    sent.push(a[0].name);
    return send(...a);
  }) as Redis['sendCommand'];
  return { redis, sent };
}
