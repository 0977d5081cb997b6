// Inbound hand-over to the adapter (inbound.ts stores, with the ratchet step that decrypted the
// message, in the Signal unit's COMMIT, then acks). A stored message is given
// to the adapter in process, in the session's order; its key waits in a pending set scored with
// the time it becomes visible to the sweep (extended while the hand-over runs). The sweep gives
// overdue ones (a crash, a restart) to the inbound BullMQ queue, which also retries hand-overs the
// adapter refused, then gives up after 50 attempts (the message stays stored, sealed, 7 days).
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { InboundMessage } from '../../adapters/contract.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { UnitWrites } from '../crypto/unit-writes.ts';
import type { HubConnection } from '../hub/connection.ts';
import type { SessionManager } from '../hub/sessions.ts';
import type { MediaRef } from '../protocol/index.ts';
import { RedisScript } from '../redis-script.ts';
import { BullConnections } from './bull.ts';
import { loadMediaRef, type StoredMediaRef } from './outbox.ts';

const KEEP_S = 7 * 24 * 3600;
/** A stored message handed over in process is left to the sweep this long (extended while it runs). */
const VISIBLE_AFTER_MS = 10_000;
/** How often the sweep looks for stored messages nobody is handing over (crash, restart). */
const SWEEP_MS = 5_000;
/** Set in the pending set once a message is the inbound queue's (which retries it, then gives up). */
const QUEUED_MS = 3600_000;

// KEYS: record, pending set. The adapter has the message: its record keeps only its state (the
// sealed content goes) and it leaves the pending set. One script rather than a MULTI of three.
const DELIVERED = new RedisScript(`redis.call('hset', KEYS[1], 'state', 'delivered')
redis.call('hdel', KEYS[1], 'data')
redis.call('zrem', KEYS[2], KEYS[1])
return 1`);

interface InboundJob {
  user: string;
  key: string;
}

export interface HandoverOptions {
  redis: Redis;
  keyring: Keyring;
  prefix: string;
  sessions: SessionManager;
  /** Hands a message (with its attachment's MediaRef, spec 11) to the adapter serving `user`. */
  deliver: (user: string, m: InboundMessage, media: MediaRef | undefined) => Promise<void>;
  observe?: (outcome: 'delivered', latencyMs: number | undefined) => void;
  logger: Logger;
}

export class InboundHandover {
  readonly queue: Queue<InboundJob>;
  readonly #o: HandoverOptions;
  readonly #worker: Worker<InboundJob>;
  readonly #bull: BullConnections;
  /** Records being handed to the adapter in process (their pending entries are kept fresh). */
  readonly #handing = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(o: HandoverOptions) {
    this.#o = o;
    this.#bull = new BullConnections(o.redis);
    this.queue = new Queue<InboundJob>('inbound', {
      connection: this.#bull.next(),
      prefix: `${o.prefix}:bull`,
      defaultJobOptions: { attempts: 50, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: true, removeOnFail: { age: KEEP_S } },
    });
    this.#worker = new Worker<InboundJob>('inbound', (job) => this.#toAdapter(job), {
      connection: this.#bull.next(),
      prefix: `${o.prefix}:bull`,
      concurrency: 16,
      autorun: false,
      // A killed replica's job is taken over after about lockDuration + stalledInterval.
      lockDuration: 10_000,
      stalledInterval: 5_000,
    });
    this.#worker.on('error', (err) => o.logger.warn({ err: err.message }, 'inbound worker error'));
    this.#worker.on('failed', (job, err) => {
      if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
      o.logger.error({ user: job.data.user, err: err.message }, 'the adapter never took an inbound message; it stays stored (sealed) for 7 days');
      void o.redis.zrem(this.#pendingKey, job.data.key).catch(() => undefined);
    });
  }

  get #pendingKey(): string {
    return `${this.#o.prefix}:in-pending`;
  }

  /** Messages being handed to the adapter in process (for the queue-depth metric). */
  get pending(): number {
    return this.#handing.size;
  }

  /** Starts the queue's worker and the sweep (which runs once at once: a restart picks up). */
  async start(): Promise<void> {
    void this.#worker.run();
    await this.sweep();
    this.#timer = setInterval(() => {
      void this.#renew()
        .then(() => this.sweep())
        .catch((err: unknown) => this.#o.logger.warn({ err: (err as Error).message }, 'inbound sweep failed'));
    }, SWEEP_MS);
    this.#timer.unref();
  }

  /**
   * Gives the inbound queue every stored message whose hand-over is overdue; returns how many it
   * gave (those whose entry it moved out of the sweep's sight after adding their job).
   */
  async sweep(): Promise<number> {
    const due = await this.#o.redis.zrangebyscore(this.#pendingKey, '-inf', Date.now(), 'LIMIT', 0, 500);
    let n = 0;
    for (const key of due) {
      if (this.#handing.has(key)) continue;
      const user = /:in:\{(.+)\}:[^:]+$/.exec(key)?.[1];
      if (user === undefined) {
        await this.#o.redis.zadd(this.#pendingKey, 'XX', 'GT', Date.now() + QUEUED_MS, key);
        continue;
      }
      // The job first: if adding it fails (or the process dies now) the entry stays in sight for
      // the next sweep. Its id keeps two sweepers, or a sweep and a refused hand-over, from doubling
      // it (BullMQ ignores an add whose job id exists). Then out of sight, if still pending (XX: a
      // job that already delivered it removed the entry).
      await this.#addJob(user, key);
      if ((await this.#o.redis.zadd(this.#pendingKey, 'XX', 'GT', 'CH', Date.now() + QUEUED_MS, key)) > 0) n++;
    }
    return n;
  }

  #addJob(user: string, key: string, delay?: number): Promise<unknown> {
    return this.queue.add('deliver', { user, key }, { jobId: key.replace(/:/g, '_'), ...(delay === undefined ? {} : { delay }) });
  }

  async #renew(): Promise<void> {
    if (this.#handing.size === 0) return;
    const p = this.#o.redis.pipeline();
    for (const key of this.#handing) p.zadd(this.#pendingKey, 'XX', Date.now() + VISIBLE_AFTER_MS, key);
    await p.exec();
  }

  /** Stops taking jobs; active ones may finish within `graceMs` (bull.ts). */
  async close(graceMs = 10_000): Promise<void> {
    clearInterval(this.#timer);
    await this.#bull.close(this.#worker, this.queue, graceMs);
  }

  /**
   * The writes that store a sealed message (state `stored`) and its pending entry, for the caller
   * to apply atomically with the ratchet step that decrypted it (SignalEdge.decryptWith).
   */
  storeWrites(key: string, at: number, sealed: Buffer, keepS: number): UnitWrites {
    return {
      hashes: [{ key, fields: { state: 'stored', at: String(at), data: sealed }, ttlS: keepS }],
      zadds: [{ key: this.#pendingKey, score: at + VISIBLE_AFTER_MS, member: key }],
    };
  }

  /** Runs `then` (ack, hand-over) for a just stored message while its pending entry is kept fresh. */
  async afterStored(key: string, then: () => Promise<void>): Promise<void> {
    this.#handing.add(key);
    try {
      await then();
    } finally {
      this.#handing.delete(key);
    }
  }

  /** Gives a stored message to the adapter in process; the inbound queue retries a refusal. */
  async handOver(conn: HubConnection, key: string, m: InboundMessage, media: MediaRef | undefined, at: number): Promise<void> {
    const user = conn.user;
    try {
      await this.#o.deliver(user, m, media);
    } catch (err) {
      this.#o.logger.warn({ user, id: m.id, err: (err as Error).message }, 'the adapter did not take an inbound message; queued for retries');
      // The retry job first (as in sweep): without it, the entry stays in the sweep's sight.
      await this.#addJob(user, key, 500);
      await this.#o.redis.zadd(this.#pendingKey, 'XX', Date.now() + QUEUED_MS, key);
      return;
    }
    await this.#delivered(key, at);
    conn.sendReceipt({ kind: 'receipt', id: m.id, to: m.from, type: 'delivery', t: Math.floor(Date.now() / 1000) }).catch((err: unknown) => {
      this.#o.logger.debug({ user, id: m.id, err: (err as Error).message }, 'delivery receipt not sent');
    });
  }

  async #delivered(key: string, at: number | undefined): Promise<void> {
    await DELIVERED.run(this.#o.redis, [key, this.#pendingKey], []);
    this.#o.observe?.('delivered', at === undefined ? undefined : Date.now() - at);
  }

  async #toAdapter(job: Job<InboundJob>): Promise<void> {
    const { user, key } = job.data;
    const [state, data, at] = await this.#o.redis.hmgetBuffer(key, 'state', 'data', 'at');
    if (!data || state?.toString() !== 'stored') {
      await this.#o.redis.zrem(this.#pendingKey, key);
      return;
    }
    const { message: m, mediaRef } = JSON.parse(this.#o.keyring.open(data, `${key}|data`).toString('utf8')) as { message: InboundMessage; mediaRef?: StoredMediaRef };
    await this.#o.deliver(user, m, mediaRef ? loadMediaRef(mediaRef) : undefined);
    await this.#delivered(key, at ? Number(at.toString()) : undefined);
    try {
      const conn = await this.#o.sessions.get(user);
      await conn.sendReceipt({ kind: 'receipt', id: m.id, to: m.from, type: 'delivery', t: Math.floor(Date.now() / 1000) });
    } catch (err) {
      this.#o.logger.debug({ user, id: m.id, err: (err as Error).message }, 'delivery receipt not sent');
    }
  }
}
