// What the delivery workers share about BullMQ: the Redis connections handed to it (BullMQ leaves
// connections it was given open, so they are ours to close) and a bounded shutdown.
import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';

export class BullConnections {
  readonly #base: Redis;
  readonly #made: Redis[] = [];
  constructor(base: Redis) {
    this.#base = base;
  }

  /** A connection for a Queue or Worker (BullMQ needs maxRetriesPerRequest: null). */
  next(): Redis {
    const c = this.#base.duplicate({ maxRetriesPerRequest: null, enableAutoPipelining: false });
    this.#made.push(c);
    return c;
  }

  /**
   * Stops taking jobs and lets the active ones finish for up to `graceMs`; jobs still running then
   * are abandoned to Redis (another replica, or this one restarted, takes them over: they are
   * idempotent by design). Then closes the queue and the connections.
   */
  async close(worker: Worker, queue: Queue, graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      worker.close().then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) await worker.close(true);
    await queue.close();
    for (const c of this.#made) c.disconnect();
  }
}
