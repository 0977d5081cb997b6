// Works the heads of the conversation lanes (outbox.ts) with BullMQ: one job per message, job id =
// message id (so adding it twice is harmless), one lane head at a time so each conversation stays
// in order while different conversations run concurrently. Ack outcomes follow spec 4's table:
// 409 re-encrypt for the new devices under the same id, 401 reopen, 403 not-enlisted enlist,
// 429 wait `retry-after` without spending an attempt, 5xx back off, other 4xx fail permanently.
// A lost ack is answered by resending the stored frame byte for byte (spec 4 idempotence).
import { ErrorCode, LibSignalErrorBase } from '@signalapp/libsignal-client';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { BullConnections } from './bull.ts';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { MessageStatus } from '../../adapters/contract.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { RedisSignalStore } from '../crypto/redis-signal-store.ts';
import type { SignalEdge } from '../crypto/signal-edge.ts';
import { HubSessionError, HubTimeoutError, type HubConnection } from '../hub/connection.ts';
import type { SessionManager } from '../hub/sessions.ts';
import { buildStanza, deviceAddress, type AckStanza } from '../protocol/index.ts';
import type { DeviceDirectory } from './devices.ts';
import { encryptMessage, NoDevicesError } from './encrypt-message.ts';
import type { Outbox, OutboundRecord } from './outbox.ts';

export interface OutboundJob {
  user: string;
  peer: string;
  id: string;
}

export interface OutboundWorkerOptions {
  redis: Redis;
  prefix: string;
  keyring: Keyring;
  outbox: Outbox;
  devices: DeviceDirectory;
  sessions: SessionManager;
  edge: SignalEdge;
  concurrency: number;
  /** A message the hub could not take for this long fails as expired (hub unreachable). */
  maxQueueAgeMs: number;
  /** How long to wait for the hub's server ack before resending the stored frame. */
  ackTimeoutMs: number;
  maxAttempts: number;
  backoff: { base: number; max: number };
  onStatus: (s: MessageStatus) => void;
  /** The downgrade policy answer to a 406 (spec 4): the record to send again, or a final reason. */
  after406: (r: OutboundRecord, feature: string | undefined) => { record: OutboundRecord } | { reason: string; message: string };
  /** A contact's identity changed under our feet (untrusted identity while starting a session). */
  identityChanged: (user: string, peer: string) => Promise<'continue' | 'hold'>;
  /** Whether messages from `user` to `peer` wait for a safety-number acknowledgement. */
  isHeld: (user: string, peer: string) => Promise<boolean>;
  /** Outcome of each message, for metrics. */
  observe?: (outcome: 'sent' | 'failed', latencyMs: number | undefined) => void;
  logger: Logger;
}

/** Spec 4 401: the session is no longer valid; reopen and retry without spending an attempt. */
class SessionGone extends Error {
  override readonly name = 'SessionGone';
}

/** Permanent failure with a reason the sender sees (spec 4: 400/403/404/406/413). */
class PermanentFailure extends Error {
  readonly reason: string;
  /** A sentence for the sender, when it is more precise than the reason's standard one. */
  readonly text: string | undefined;
  constructor(reason: string, message: string, text?: string) {
    super(message);
    this.reason = reason;
    this.text = text;
  }
}

const REASON_TEXT: Record<string, string> = {
  'not-opted-in': 'The recipient cannot be reached from this app (not opted in to third-party chats).',
  blocked: 'The recipient has blocked this sender.',
  'no-such-user': 'The hub does not know this sender; opt in again.',
  'too-large': 'The message is too large for the hub.',
  'unsupported-in-interop': 'The hub does not carry this kind of message.',
  'bad-request': 'The hub refused the message as malformed.',
  'id-reused': 'The hub refused the message id as reused.',
  'no-devices': 'The recipient has no devices to deliver to.',
  expired: 'The hub could not be reached in time; the message may not have been delivered.',
};

export class OutboundDelivery {
  readonly queue: Queue<OutboundJob>;
  /** What happened on the way, for metrics and tests. */
  readonly counters = { staleDevices: 0, storedFrameResends: 0, rateLimited: 0, enlisted: 0, hubUnavailable: 0, reopened: 0 };
  readonly #worker: Worker<OutboundJob>;
  readonly #o: OutboundWorkerOptions;

  constructor(o: OutboundWorkerOptions) {
    this.#o = o;
    this.#bull = new BullConnections(o.redis);
    this.queue = new Queue<OutboundJob>('outbound', {
      connection: this.#bull.next(),
      prefix: `${o.prefix}:bull`,
      defaultJobOptions: {
        attempts: o.maxAttempts,
        backoff: { type: 'jittered' },
        removeOnComplete: true,
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    });
    this.#worker = new Worker<OutboundJob>('outbound', (job, token) => this.#process(job, token), {
      connection: this.#bull.next(),
      prefix: `${o.prefix}:bull`,
      concurrency: o.concurrency,
      autorun: false,
      // A killed replica's job is taken over after about lockDuration + stalledInterval.
      lockDuration: 10_000,
      stalledInterval: 5_000,
      settings: {
        backoffStrategy: (attemptsMade: number) => Math.round(Math.random() * Math.min(o.backoff.max, o.backoff.base * 2 ** Math.max(0, attemptsMade - 1))),
      },
    });
    this.#worker.on('failed', (job, err) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) void this.#exhausted(job.data, err);
    });
    this.#worker.on('error', (err) => o.logger.warn({ err: err.message }, 'outbound worker error'));
  }

  /** Starts working, after re-queueing the head of every lane (a restart picks up where it was). */
  #sweeper: NodeJS.Timeout | undefined;

  /**
   * Starts working, after re-queueing the head of every lane (a restart picks up where it was),
   * and re-checks the lanes every `sweepMs` (a replayed dead letter, a lost kick).
   */
  async start(sweepMs = 30_000): Promise<void> {
    await this.sweep();
    void this.#worker.run();
    this.#sweeper = setInterval(() => void this.sweep().catch((err: unknown) => this.#o.logger.warn({ err: (err as Error).message }, 'lane sweep failed')), sweepMs);
    this.#sweeper.unref();
  }

  /** Makes sure every non-empty lane's head has a job; finalizes heads whose job has failed. */
  async sweep(): Promise<void> {
    for (const h of await this.#o.outbox.laneHeads()) {
      const job = await this.queue.getJob(h.id);
      if (job && (await job.getState()) === 'failed') await this.#exhausted(h, new Error(job.failedReason));
      else await this.kick(h);
    }
  }

  kick(j: OutboundJob): Promise<unknown> {
    return this.queue.add('send', j, { jobId: j.id });
  }

  readonly #bull: BullConnections;

  /** Stops taking jobs; active ones may finish within `graceMs` (bull.ts). */
  async close(graceMs = 10_000): Promise<void> {
    clearInterval(this.#sweeper);
    await this.#bull.close(this.#worker, this.queue, graceMs);
  }


  async #process(job: Job<OutboundJob>, token: string | undefined): Promise<void> {
    const { user, peer, id } = job.data;
    const loaded = await this.#o.outbox.claim(user, id);
    if (!loaded || loaded.state !== 'queued') {
      const next = await this.#o.outbox.advance(user, peer, id);
      if (next) await this.kick({ user, peer, id: next });
      return;
    }
    if (Date.now() - loaded.record.t * 1000 > this.#o.maxQueueAgeMs) {
      await this.#fail(job.data, loaded.record, 'expired', loaded.frame === undefined);
      return;
    }
    if (await this.#o.isHeld(user, peer)) {
      // Policy hold: the peer's safety number changed and the sender has not acknowledged it yet.
      await job.moveToDelayed(Date.now() + 2000, token);
      throw new DelayedError();
    }
    try {
      let conn: HubConnection;
      try {
        conn = await this.#o.sessions.get(user);
      } catch (err) {
        if (!(err instanceof HubSessionError || err instanceof HubTimeoutError)) throw err;
        // The hub is unreachable or refusing sessions: wait (the session manager backs off)
        // without spending one of the message's attempts.
        this.counters.hubUnavailable++;
        await job.moveToDelayed(Date.now() + Math.min(this.#o.backoff.max, this.#o.backoff.base * 2), token);
        throw new DelayedError();
      }
      const { ack, record: sentRecord } = await this.#attempt(conn, user, loaded.record, loaded.frame);
      if (ack.error === 429) {
        this.counters.rateLimited++;
        await job.moveToDelayed(Date.now() + Math.max(1, ack.retryAfter ?? 1) * 1000, token);
        throw new DelayedError();
      }
      const status: MessageStatus = {
        ...this.#status(sentRecord, id, 'sent'),
        ...(sentRecord.downgraded && sentRecord.downgraded.length > 0 ? { downgraded: sentRecord.downgraded } : {}),
        ...(sentRecord.notice ? { message: sentRecord.notice } : {}),
      };
      const next = await this.#o.outbox.finish(user, peer, id, 'sent', status);
      this.#o.onStatus(status);
      this.#o.observe?.('sent', loaded.record.submittedAt === undefined ? undefined : Date.now() - loaded.record.submittedAt);
      if (next) await this.kick({ user, peer, id: next });
    } catch (err) {
      if (err instanceof SessionGone) {
        await job.moveToDelayed(Date.now() + this.#o.backoff.base, token);
        throw new DelayedError();
      }
      if (!(err instanceof PermanentFailure)) throw err;
      await this.#fail(job.data, loaded.record, err.reason, true, err.text);
    }
  }

  /** One delivery attempt; resolves with a positive ack (or a 429 to wait on), throws otherwise. */
  /** The ack, and the record as finally sent (a 406 may have rewritten it). */
  async #attempt(conn: HubConnection, user: string, record: OutboundRecord, storedFrame: string | undefined): Promise<{ ack: AckStanza; record: OutboundRecord }> {
    let r = record;
    let frame = storedFrame;
    for (let round = 0; round < 4; round++) {
      if (frame === undefined) frame = await this.#build(conn, user, r);
      else this.counters.storedFrameResends++;
      const ack = await conn.sendMessage({ id: r.id, frame }, this.#o.ackTimeoutMs);
      if (ack.error === undefined || ack.error === 429) return { ack, record: r };
      switch (ack.reason) {
        case 'stale-devices':
          this.counters.staleDevices++;
          if (ack.devices) await this.#o.devices.set(ack.devices);
          else await this.#o.devices.invalidate(r.peer);
          await this.#o.outbox.dropFrame(user, r.id);
          frame = undefined;
          continue;
        case 'not-enlisted':
          this.counters.enlisted++;
          await conn.iq({ xmlns: 'interop', op: 'enlist' }, 'set');
          continue;
        case 'unsupported-in-interop': {
          const next = this.#o.after406(r, ack.unsupported);
          if (!('record' in next)) throw new PermanentFailure(next.reason, `hub refused ${ack.unsupported ?? 'the message'} (406)`, next.message);
          r = next.record;
          await this.#o.outbox.rewrite(r);
          frame = undefined;
          continue;
        }
        case 'not-authorized':
          this.counters.reopened++;
          this.#o.sessions.close(user);
          throw new SessionGone();
        default:
          if (ack.error >= 500) throw new Error(`hub answered ${ack.error} ${ack.reason ?? ''}`);
          throw new PermanentFailure(ack.reason ?? String(ack.error), `hub refused the message: ${ack.error} ${ack.reason ?? ''}`);
      }
    }
    throw new Error('device list kept changing; will retry');
  }

  async #build(conn: HubConnection, user: string, r: OutboundRecord): Promise<string> {
    const store = new RedisSignalStore(this.#o.redis, this.#o.keyring, this.#o.prefix, user);
    const local = deviceAddress(user, 1);
    try {
      const msg = await encryptMessage(conn, this.#o.edge, store, local, r, await this.#o.devices.get(conn, r.peer));
      const frame = buildStanza(msg);
      await this.#o.outbox.saveFrame(user, r.id, frame);
      return frame;
    } catch (err) {
      if (err instanceof NoDevicesError) throw new PermanentFailure('no-devices', err.message);
      if (LibSignalErrorBase.is(err, ErrorCode.UntrustedIdentity)) {
        // The bundle carries an identity other than the one we trusted: the same as the hub's
        // `identity` notification. Continue: retry at once with the new identity; hold: wait.
        const policy = await this.#o.identityChanged(user, r.peer);
        throw new Error(`contact identity changed (${policy}); retrying`, { cause: err });
      }
      const iqErr = err as { code?: number; reason?: string };
      if (iqErr.code === 404) throw new PermanentFailure('not-opted-in', `recipient not reachable: ${iqErr.reason ?? ''}`);
      throw err;
    }
  }

  async #exhausted(j: OutboundJob, err: Error): Promise<void> {
    const loaded = await this.#o.outbox.load(j.user, j.id);
    if (!loaded || loaded.state !== 'queued') return;
    this.#o.logger.warn({ id: j.id, err: err.message }, 'outbound message failed after its last attempt');
    // An attempt may have reached the hub with its ack lost: the failure is not certain.
    await this.#fail(j, loaded.record, 'expired', loaded.frame === undefined);
  }

  async #fail(j: OutboundJob, r: OutboundRecord, reason: string, certain: boolean, text?: string): Promise<void> {
    const s = { ...this.#status(r, j.id, 'failed'), reason, message: text ?? REASON_TEXT[reason] ?? reason, certain };
    const next = await this.#o.outbox.finish(j.user, j.peer, j.id, 'failed', s);
    this.#o.onStatus(s);
    this.#o.observe?.('failed', undefined);
    if (next) await this.kick({ user: j.user, peer: j.peer, id: next });
  }

  #status(r: OutboundRecord | undefined, id: string, state: MessageStatus['state']): MessageStatus {
    return { messageId: id, idempotencyKey: r?.idempotencyKey ?? '', from: r?.from ?? '', to: r?.peer ?? '', state, at: Date.now() };
  }
}
