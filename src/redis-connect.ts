// The Redis connection of `causeway start` and of the one-shot commands (keys rotate,
// dead-letters). Connected up front so that an unreachable Redis ends the command with one line
// saying so, instead of ioredis reconnecting in the background (holding the process open) or its
// "Unhandled error event" traces and a "max retries per request" message naming neither.
import { Redis, type RedisOptions } from 'ioredis';
import type { CausewayConfig } from './config/schema.ts';
import { safeUrl } from './logging.ts';

/** The oldest Redis Causeway runs on: BullMQ's own minimum (its scripts need 6.2's commands). */
export const MIN_REDIS_VERSION = '6.2.0';

/** What `INFO` says about a server Causeway would keep its state in. */
export interface RedisServerCheck {
  /** Reasons to refuse the server: it would lose, or refuse, what Causeway writes. */
  problems: string[];
  /** Worth knowing, not a reason to refuse. */
  notes: string[];
}

/** Parses `INFO`'s `field:value` lines. */
function infoFields(info: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

const versionParts = (v: string): number[] => v.split('.').map((n) => Number.parseInt(n, 10) || 0);

function olderThan(v: string, min: string): boolean {
  const [a, b] = [versionParts(v), versionParts(min)];
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
}

/**
 * Judges a server from its `INFO` (default sections): refused when it is a Redis Cluster node (the
 * scripts touch keys of several hash slots), a read-only replica, older than MIN_REDIS_VERSION, or
 * set to evict keys under a memory limit (an evicted outbox record, Signal session or queue entry
 * is a lost message, docs: README "What Redis it needs"); noted when it keeps no append-only file.
 * A field `INFO` leaves out (a managed service may hide some) is not judged.
 */
export function checkRedisServer(info: string): RedisServerCheck {
  const f = infoFields(info);
  const problems: string[] = [];
  const notes: string[] = [];
  const version = f.get('redis_version');
  if (version !== undefined && olderThan(version, MIN_REDIS_VERSION)) problems.push(`Redis ${version} is older than ${MIN_REDIS_VERSION}, the oldest Causeway runs on`);
  if (f.get('cluster_enabled') === '1') problems.push('it is a Redis Cluster node, which Causeway does not support (its scripts use keys of several hash slots): use a standalone primary');
  if (f.get('role') === 'slave') problems.push('it is a read-only replica: point redis.url at the primary');
  const maxmemory = Number(f.get('maxmemory') ?? '0');
  const policy = f.get('maxmemory_policy');
  if (maxmemory > 0 && policy !== undefined && policy !== 'noeviction') {
    problems.push(`it evicts keys when full (maxmemory ${maxmemory} bytes, maxmemory-policy ${policy}), which would lose queued messages and keys: set maxmemory-policy noeviction`);
  }
  if (f.get('aof_enabled') === '0') notes.push('Redis keeps no append-only file (appendonly no): a restart of Redis loses what it has not saved; production wants appendonly yes, appendfsync everysec');
  return { problems, notes };
}

/**
 * Connects and checks the server (checkRedisServer): a server to refuse ends with an error saying
 * why. `options` add to (or override) the config's; `onError` hears every connection error after
 * the first connect too; `onNote` hears the check's notes.
 */
export async function connectRedis(config: CausewayConfig, options: RedisOptions = {}, onError?: (err: Error) => void, onNote?: (note: string) => void): Promise<Redis> {
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
  let info: string | undefined;
  try {
    info = await redis.info();
  } catch (err) {
    // A service that forbids INFO (ACL, a renamed command) is used unchecked, and says so.
    onNote?.(`the Redis server could not be checked (INFO: ${(err as Error).message})`);
  }
  const check = info === undefined ? { problems: [], notes: [] } : checkRedisServer(info);
  if (check.problems.length > 0) {
    redis.disconnect();
    throw new Error(`refusing the Redis server at ${safeUrl(config.redis.url)}: ${check.problems.join('; ')}`);
  }
  for (const note of check.notes) onNote?.(note);
  return redis;
}
