// The Redis connection of the one-shot commands (keys rotate, dead-letters). Connected up front so
// that an unreachable Redis ends the command with one line saying so, instead of ioredis's
// "Unhandled error event" traces and a "max retries per request" message naming neither.
import { Redis } from 'ioredis';
import type { CausewayConfig } from '../config/schema.ts';

export async function connectRedis(config: CausewayConfig): Promise<Redis> {
  const redis = new Redis(config.redis.url, {
    password: config.redis.password?.reveal(),
    tls: config.redis.tls ? {} : undefined,
    maxRetriesPerRequest: 3,
    lazyConnect: true,
  });
  let lastError: string | undefined;
  redis.on('error', (err: Error) => {
    lastError = err.message;
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`cannot connect to Redis (${lastError ?? (err as Error).message})`, { cause: err });
  }
  return redis;
}
