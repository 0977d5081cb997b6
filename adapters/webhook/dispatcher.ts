// The sender loop of the webhook adapter: a BullMQ queue `${prefix}:webhook:${adapterId}` whose
// jobs are lane heads (store.ts). Job id = event id, attempts = max_attempts, custom exponential
// backoff with jitter. A job POSTs its event only while it is still the head of its user's lane;
// on success (or when dead-lettered) the lane advances and the next head gets its job. So events
// of one provider user go one at a time, in order; different users go in parallel.
//
// Crash windows are closed by `reconcile()` (at start and periodically): every lane head without
// a job gets one, and a head whose job ended up failed (stalled too often) is dead-lettered. A
// spurious job (an event that is no longer, or not yet, a head) does nothing, so reconciling
// concurrently with the worker, or on several replicas, is harmless.
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { KeyringError } from '../../src/crypto/keyring.ts';
import { postEvent, type PostTarget } from './sender.ts';
import type { EventStore } from './store.ts';

export interface JobData {
  eventId: string;
  user: string;
}

export interface DispatcherOptions {
  adapterId: string;
  prefix: string;
  redis: Redis;
  store: EventStore;
  target: PostTarget;
  maxAttempts: number;
  backoff: { base: number; max: number };
  concurrency: number;
  logger: Logger;
  /** Period of `reconcile()`; default 30 s. */
  reconcileIntervalMs?: number;
  /** BullMQ lock and stall detection (tests shorten them). */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

const BACKOFF_TYPE = 'causeway-exponential-jitter';

/** BullMQ key prefix: with the adapter id as queue name, keys are `${prefix}:webhook:${id}:…`. */
export const queuePrefix = (prefix: string): string => `${prefix}:webhook`;

/** Adds the job of a lane head (a repeat of a live job id is ignored by BullMQ). */
export async function addEventJob(queue: Queue<JobData>, eventId: string, user: string, maxAttempts: number): Promise<void> {
  await queue.add('event', { eventId, user }, {
    jobId: eventId,
    attempts: maxAttempts,
    backoff: { type: BACKOFF_TYPE },
    removeOnComplete: true,
    removeOnFail: false,
  });
}

/** Delay before retry number `failures` (≥ 1): base·2^(failures−1) capped at max, half of it jittered. */
export function backoffDelay(failures: number, base: number, max: number, random: () => number = Math.random): number {
  const full = Math.min(max, base * 2 ** Math.min(Math.max(failures - 1, 0), 40));
  return Math.round(full / 2 + random() * (full / 2));
}

export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #log: Logger;
  #queue: Queue<JobData> | undefined;
  #worker: Worker<JobData> | undefined;
  #workerRedis: Redis | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: DispatcherOptions) {
    this.#o = o;
    this.#log = o.logger;
  }

  async start(): Promise<void> {
    if (this.#queue) return;
    const o = this.#o;
    const prefix = queuePrefix(o.prefix);
    const queue = new Queue<JobData>(o.adapterId, { connection: o.redis, prefix });
    queue.on('error', (err) => this.#log.warn({ err: err.message }, 'webhook queue error'));
    // A worker needs its own connection that retries forever (BullMQ's blocking commands).
    const workerRedis = o.redis.duplicate({ maxRetriesPerRequest: null });
    workerRedis.on('error', (err) => this.#log.warn({ err: err.message }, 'webhook worker redis error'));
    const worker = new Worker<JobData>(o.adapterId, (job) => this.#process(job), {
      connection: workerRedis,
      prefix,
      concurrency: o.concurrency,
      maxStalledCount: 5,
      lockDuration: o.lockDurationMs ?? 10_000,
      stalledInterval: o.stalledIntervalMs ?? 5_000,
      settings: { backoffStrategy: (failures: number) => backoffDelay(failures, o.backoff.base, o.backoff.max) },
    });
    worker.on('error', (err) => this.#log.warn({ err: err.message }, 'webhook worker error'));
    this.#queue = queue;
    this.#worker = worker;
    this.#workerRedis = workerRedis;
    await queue.waitUntilReady();
    await this.reconcile();
    this.#timer = setInterval(() => {
      this.reconcile().catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'webhook reconcile failed'));
    }, o.reconcileIntervalMs ?? 30_000);
    this.#timer.unref();
  }

  /** Stops taking jobs; waits for POSTs in flight (each bounded by timeout_ms). Events stay stored. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const { worker, queue, redis } = { worker: this.#worker, queue: this.#queue, redis: this.#workerRedis };
    this.#worker = this.#queue = this.#workerRedis = undefined;
    await worker?.close();
    await queue?.close();
    redis?.disconnect();
  }

  /** Gives a lane head its job. Without a running queue it does nothing: start() reconciles. */
  async schedule(eventId: string, user: string): Promise<void> {
    const queue = this.#queue;
    if (!queue) return;
    await addEventJob(queue, eventId, user, this.#o.maxAttempts);
  }

  /** Makes sure every lane head has a live job; returns how many were (re)scheduled. */
  async reconcile(): Promise<number> {
    const queue = this.#queue;
    if (!queue) return 0;
    let fixed = 0;
    for await (const user of this.#o.store.users()) {
      const head = await this.#o.store.head(user);
      if (head === undefined) continue;
      const state = await queue.getJobState(head);
      if (state === 'unknown') {
        await this.schedule(head, user);
        fixed++;
      } else if (state === 'failed') {
        const job = await queue.getJob(head);
        await queue.remove(head);
        await this.#deadLetter(user, head, job?.attemptsMade ?? 0, job?.failedReason || 'job failed');
        fixed++;
      }
    }
    return fixed;
  }

  async #process(job: Job<JobData>): Promise<string> {
    const { eventId, user } = job.data;
    const store = this.#o.store;
    if ((await store.head(user)) !== eventId) return 'not-head';
    let body: string | undefined;
    try {
      body = await store.body(eventId);
    } catch (err) {
      if (!(err instanceof KeyringError)) throw err;
      await this.#deadLetter(user, eventId, job.attemptsMade, `cannot open the sealed event: ${err.message}`);
      return 'dead';
    }
    if (body === undefined) {
      // A head without a body cannot be sent: drop it so the lane is not blocked.
      this.#log.error({ eventId, user }, 'webhook event body missing; skipped');
      await this.#advance(user, await store.complete(user, eventId));
      return 'missing';
    }
    const attempt = job.attemptsMade + 1;
    const type = (JSON.parse(body) as { type: string }).type;
    const r = await postEvent(this.#o.target, { eventId, type, body, attempt });
    if (r.ok) {
      this.#log.debug({ eventId, user, attempt, status: r.status }, 'webhook event acknowledged');
      await this.#advance(user, await store.complete(user, eventId));
      return 'delivered';
    }
    this.#log.warn({ eventId, user, attempt, error: r.error }, 'webhook POST failed');
    if (attempt >= this.#o.maxAttempts) {
      await this.#deadLetter(user, eventId, attempt, r.error);
      return 'dead';
    }
    throw new Error(r.error); // BullMQ retries after backoffDelay(attempt)
  }

  async #deadLetter(user: string, eventId: string, attempts: number, error: string): Promise<void> {
    const r = await this.#o.store.deadLetter(user, eventId, { attempts, last_error: error, dead_at: new Date().toISOString() });
    if (r.removed) this.#log.error({ eventId, user, attempts, error }, 'webhook event dead-lettered');
    await this.#advance(user, r);
  }

  async #advance(user: string, r: { removed: boolean; next?: string }): Promise<void> {
    if (r.next !== undefined) await this.schedule(r.next, user);
  }
}
