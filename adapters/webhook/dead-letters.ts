// Dead letters of a webhook adapter, for operators (the CLI) and for the connector itself: events
// that were not acknowledged within max_attempts. Listing reads only metadata (no keyring needed,
// nothing sealed is opened); a replay puts the event back at the end of its user's lane with a
// fresh attempt count, so it arrives after whatever that user received meanwhile.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { addEventJob, queuePrefix, type JobData } from './dispatcher.ts';
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

/** Kept apart from the BullMQ queue of the same adapter (`${prefix}:webhook:${adapterId}:*` is BullMQ's). */
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
 * Sends a dead letter again (same event id, same body). Returns false if `eventId` is not a dead
 * letter. The running sidecar's worker POSTs it; if none runs, the next start does.
 */
export async function replayDeadLetter(t: DeadLetterTarget & { maxAttempts?: number }, eventId: string): Promise<boolean> {
  const store = new EventStore(t.redis, undefined, storeBase(t.prefix, t.adapterId));
  const r = await store.replay(eventId);
  if (!r) return false;
  if (r.head) {
    const queue = new Queue<JobData>(t.adapterId, { connection: t.redis, prefix: queuePrefix(t.prefix) });
    try {
      await addEventJob(queue, eventId, r.user, t.maxAttempts ?? 20);
    } finally {
      await queue.close();
    }
  }
  return true;
}
