// The Redis connection of `causeway start` and of the one-shot commands (keys rotate,
// dead-letters). Connected up front so that an unreachable Redis ends the command with one line
// saying so, instead of ioredis reconnecting in the background (holding the process open) or its
// "Unhandled error event" traces and a "max retries per request" message naming neither.
import { Redis, type RedisOptions } from 'ioredis';
import type { CausewayConfig } from './config/schema.ts';

/** `options` add to (or override) the config's; `onError` hears every connection error after the first connect too. */
export async function connectRedis(config: CausewayConfig, options: RedisOptions = {}, onError?: (err: Error) => void): Promise<Redis> {
  const redis = new Redis(config.redis.url, {
    password: config.redis.password?.reveal(),
    tls: config.redis.tls ? {} : undefined,
    maxRetriesPerRequest: 3,
    ...options,
    lazyConnect: true,
  });
  let lastError: string | undefined;
  redis.on('error', (err: Error) => {
    lastError = err.message;
    onError?.(err);
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`cannot connect to Redis (${lastError ?? (err as Error).message})`, { cause: err });
  }
  return redis;
}
