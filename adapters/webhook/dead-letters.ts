// Dead letters of a webhook adapter, for operators (the CLI) and for the connector itself: events
// that were not acknowledged within max_attempts. Listing reads only metadata (no keyring needed,
// nothing sealed is opened); a replay puts the event back at the end of its user's lane with a
// fresh attempt count, so it arrives after whatever that user received meanwhile.
import type { Redis } from 'ioredis';
import type { EventType } from './events.ts';
import { EventStore } from './store.ts';

export interface DeadLetterTarget {
  redis: Redis;
  /** The sidecar's Redis key prefix (`redis.key_prefix`). */
  prefix: string;
  /** The adapter's id (`adapters[].id`). */
  adapterId: string;
}

export interface DeadLetter {
  eventId: string;
  type?: EventType;
  /** The provider user the event is for. */
  user?: string;
  createdAt?: string;
  deadAt?: string;
  attempts?: number;
  lastError?: string;
}

/** The event store's keys (apart from `${prefix}:webhook:${adapterId}:*`, the BullMQ queue of earlier versions). */
export const storeBase = (prefix: string, adapterId: string): string => `${prefix}:webhook-events:${adapterId}`;

/** Dead letters, oldest first. */
export async function listDeadLetters(t: DeadLetterTarget, opts: { offset?: number; limit?: number } = {}): Promise<DeadLetter[]> {
  const store = new EventStore(t.redis, undefined, storeBase(t.prefix, t.adapterId));
  const rows = await store.deadLetters(opts.offset ?? 0, opts.limit ?? 100);
  return rows.map((r) => ({
    eventId: r.eventId,
    ...(r.meta ? { type: r.meta.type, user: r.meta.user, createdAt: r.meta.created_at } : {}),
    ...(r.info ? { deadAt: r.info.dead_at, attempts: r.info.attempts, lastError: r.info.last_error } : {}),
  }));
}

/**
 * Sends a dead letter again (same event id, same body). Returns undefined if `eventId` is not a
 * dead letter, else the user whose lane it joined. A running sidecar's lane sweep (every 5 s)
 * POSTs it; if none runs, the next start does.
 */
export async function replayDeadLetter(t: DeadLetterTarget, eventId: string): Promise<{ user: string } | undefined> {
  const store = new EventStore(t.redis, undefined, storeBase(t.prefix, t.adapterId));
  return store.replay(eventId);
}
