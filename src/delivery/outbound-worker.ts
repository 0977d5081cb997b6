// Works the heads of the conversation lanes (outbox.ts): each lane is drained in process by the
// holder of its lease (lanes.ts), one message after the other, so each conversation stays in
// order while different conversations run concurrently. A message that must wait (backoff, 429,
// hub unreachable, a hold) becomes a BullMQ job (job id = message id, so adding it twice is
// harmless) and the lane goes on after it; a sweep picks up lanes nobody holds (crash, restart).
// One attempt and spec 4's ack table are in outbound-attempt.ts.
//
// A final status (sent, failed) is reported at least once: the finish script also marks it due
// (StatusLog#dueKey, no round trip of its own; the submit scripts do so for a message the policy
// ended, reported through `reportDue`), the worker clears the marks of the statuses the
// adapter took in batches (one command per batch), and the sweep reports again, from the status
// log, those due for longer than `statusRedoMs` (a process killed between the finish and the
// report, or an adapter that refused it). A hub receipt's status (delivered, read, played) goes the
// same way: the script that appends it marks it due (StatusLog#appendReceipt), inbound.ts reports
// it through `reportDue` (Core wires it so), and the sweep reports it again if need be — the
// hub does not resend a receipt that was acked.
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { MessageStatus } from '../../adapters/contract.ts';
import { HubSessionError, HubTimeoutError, type HubConnection } from '../hub/connection.ts';
import { BullConnections } from './bull.ts';
import { LaneRunner, LEASE_MS, type LaneRun } from './lanes.ts';
import { OutboundAttempt, PermanentFailure, REASON_TEXT, SessionGone, type OutboundJob, type OutboundWorkerOptions } from './outbound-attempt.ts';
import type { Claimed, OutboundRecord } from './outbox.ts';
import { dueMember } from './status-log.ts';

export type { OutboundJob, OutboundWorkerOptions } from './outbound-attempt.ts';

export interface OutboundDeliveryOptions extends OutboundWorkerOptions {
  /** Hands a status to the adapter; a due status (final, or a receipt's) stays due until the promise resolves. */
  onStatus: (s: MessageStatus) => void | Promise<void>;
  /** How long a due status may stay unconfirmed before a sweep reports it again (default 60 s). */
  statusRedoMs?: number;
}

/** A due status unconfirmed this long is reported again by a sweep: twice the default sweep period. */
export const STATUS_REDO_MS = 60_000;
/** Confirmed statuses are cleared in one command per this many, or after this long. */
const REPORTED_BATCH = 100;
const REPORTED_FLUSH_MS = 100;

/** What one step on a lane's head came to. */
type Step =
  /** The lane's next id; `claimed`: already claimed for this drain by the finish (Outbox#finishAndClaim). */
  | { kind: 'next'; next: string | undefined; claimed?: Claimed }
  /** Another process holds the lane. */
  | { kind: 'busy' }
  /** Try again after `delayMs`; `err` when the attempt counts against the message's attempts. */
  | { kind: 'defer'; delayMs: number; err?: Error }
  /** Handed to the replica holding the sender's hub session (the lane is released). */
  | { kind: 'forwarded' };

/** A conversation lane, as kicked: the message to start with (its head then). */
type Lane = Pick<OutboundJob, 'user' | 'peer' | 'id'>;

const laneKey = (l: { user: string; peer: string }): string => `${l.user}|${l.peer}`;

export class OutboundDelivery {
  /** Retries: a message whose attempt must wait (backoff, 429, hub unreachable, hold) becomes a job. */
  readonly queue: Queue<OutboundJob>;
  /** What happened on the way, for metrics and tests. */
  readonly counters = { staleDevices: 0, storedFrameResends: 0, rateLimited: 0, enlisted: 0, hubUnavailable: 0, reopened: 0, forwarded: 0 };
  readonly #worker: Worker<OutboundJob>;
  readonly #o: OutboundDeliveryOptions;
  readonly #runner: LaneRunner<Lane>;
  readonly #bull: BullConnections;
  readonly #attempt: OutboundAttempt;
  #sweeper: NodeJS.Timeout | undefined;
  /** Lanes other replicas hand to this one (it holds their senders' hub sessions). */
  #subscriber: Redis | undefined;
  #resweep: NodeJS.Timeout | undefined;
  /** Due members (StatusLog's dueMember) of the statuses the adapter took, cleared in the next batch. */
  #reported: string[] = [];
  #flushTimer: NodeJS.Timeout | undefined;
  /** Reports handed to the adapter and not yet settled (waited for, bounded, on close). */
  readonly #reporting = new Set<Promise<void>>();

  constructor(o: OutboundDeliveryOptions) {
    this.#o = o;
    this.#bull = new BullConnections(o.redis);
    this.#attempt = new OutboundAttempt(o, this.counters);
    this.#runner = new LaneRunner<Lane>({
      key: laneKey,
      concurrency: o.concurrency,
      drain: (lane, run) => this.#drain(lane, run),
      renew: (lanes) => o.outbox.renew(lanes, this.#runner.token, LEASE_MS),
      renewMs: LEASE_MS / 3,
      logger: o.logger,
    });
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
      concurrency: Math.min(o.concurrency, 32),
      autorun: false,
      // A killed replica's job is taken over after about lockDuration + stalledInterval.
      lockDuration: 10_000,
      stalledInterval: 5_000,
      settings: { backoffStrategy: (attemptsMade: number, _type?: string, _err?: Error, job?: { data?: Partial<OutboundJob> }) => this.#backoff(attemptsMade + (job?.data?.prior ?? 0)) },
    });
    this.#worker.on('failed', (job, err) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) void this.#exhausted(job.data, err).catch((e: unknown) => o.logger.warn({ err: (e as Error).message }, 'could not finalize an exhausted message'));
    });
    this.#worker.on('error', (err) => o.logger.warn({ err: err.message }, 'outbound worker error'));
  }

  #backoff(attemptsMade: number): number {
    return Math.round(Math.random() * Math.min(this.#o.backoff.max, this.#o.backoff.base * 2 ** Math.max(0, attemptsMade - 1)));
  }

  /** Lanes waiting for or being drained in this process (for the queue-depth metric). */
  get pending(): number {
    return this.#runner.pending;
  }

  /**
   * Starts working, after picking up every lane nobody holds (a restart carries on where it was),
   * and re-checks the lanes every `sweepMs` (a replayed dead letter, a crashed replica's lanes).
   */
  async start(sweepMs = 30_000): Promise<void> {
    if (this.#o.sessions.shared) {
      this.#subscriber = this.#o.redis.duplicate();
      this.#subscriber.on('message', (_channel: string, text: string) => {
        try {
          const j = JSON.parse(text) as Partial<OutboundJob>;
          if (typeof j.user === 'string' && typeof j.peer === 'string' && typeof j.id === 'string') this.kick({ user: j.user, peer: j.peer, id: j.id });
        } catch {
          this.#o.logger.warn('ignored a malformed lane hand-over');
        }
      });
      await this.#subscriber.subscribe(this.#channel(this.#o.sessions.replicaId));
    }
    await this.#sweepAndRecheck();
    void this.#worker.run();
    this.#sweeper = setInterval(() => void this.#sweepAndRecheck(), sweepMs);
    this.#sweeper.unref();
  }

  /** A sweep; lanes another process held are looked at again once their lease could have lapsed. */
  async #sweepAndRecheck(): Promise<void> {
    try {
      if ((await this.sweep()) > 0 && this.#resweep === undefined) {
        this.#resweep = setTimeout(() => {
          this.#resweep = undefined;
          void this.#sweepAndRecheck();
        }, LEASE_MS + 1000);
        this.#resweep.unref();
      }
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, 'lane sweep failed');
    }
  }

  /**
   * Makes sure every non-empty lane is being worked on: drained here when no process holds it and
   * no retry job waits for its head; finalizes heads whose job failed for good; reports again the
   * statuses left unconfirmed (see the top of this file). Returns how many lanes another
   * process held.
   */
  async sweep(): Promise<number> {
    try {
      for (const s of await this.#o.outbox.dueStatuses(this.#o.statusRedoMs ?? STATUS_REDO_MS)) this.#report(s);
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, 'could not read the statuses due for a report');
    }
    let held = 0;
    for (const { leased, ...h } of await this.#o.outbox.laneHeads()) {
      if (this.#runner.has(laneKey(h))) continue;
      if (leased) {
        held++;
        continue;
      }
      const job = await this.queue.getJob(h.id);
      if (!job) {
        this.kick(h);
        continue;
      }
      if ((await job.getState()) !== 'failed') continue; // waiting, delayed or active: it will run
      const loaded = await this.#o.outbox.load(h.user, h.id);
      // A dead letter replayed since its job failed (outbox.replay): a fresh start, also when a
      // drain already tried it once (a crash in that attempt).
      if (loaded?.state === 'queued' && (loaded.attempts === 0 || (loaded.replayedAt ?? 0) >= (job.finishedOn ?? Infinity))) {
        await job.remove();
        this.kick(h);
      } else {
        await this.#exhausted(h, new Error(job.failedReason));
      }
    }
    return held;
  }

  /** Makes sure the lane of `j` is worked on (in this process, unless another one holds it). */
  kick(j: OutboundJob): void {
    this.#runner.kick(j);
  }

  /** Stops taking work; running drains and jobs may finish within `graceMs` (bull.ts). */
  async close(graceMs = 10_000): Promise<void> {
    clearInterval(this.#sweeper);
    clearTimeout(this.#resweep);
    this.#subscriber?.disconnect();
    await this.#runner.close(graceMs);
    // Drains that outlived the grace (an ack still awaited): their leases are given up, so the next
    // process takes those lanes at once instead of waiting the leases out. Whoever takes one resends
    // the stored frame byte-identical, which the hub deduplicates (spec 4); a drain here that still
    // gets its ack finishes the message as usual (the finish pops the lane only while it is the head).
    await Promise.all(this.#runner.draining().map((l) => this.#o.outbox.release(l.user, l.peer, this.#runner.token).catch(() => undefined)));
    await this.#bull.close(this.#worker, this.queue, graceMs);
    // Reports still with the adapter are left due (a later sweep reports them) after the grace.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(this.#reporting), new Promise<void>((r) => (timer = setTimeout(r, Math.min(graceMs, 5000))))]);
    clearTimeout(timer);
    await this.#flushReported();
  }

  /**
   * Hands a status recorded elsewhere and marked due by the script that recorded it to the adapter,
   * at least once, as the worker's own (#report): the final status of a submit the policy ended
   * (Outbox#submit), or a hub receipt's status (StatusLog#appendReceipt).
   */
  reportDue(s: MessageStatus): void {
    this.#report(s);
  }

  /** Hands a due status to the adapter; once it took it, its mark is cleared in the next batch. */
  #report(s: MessageStatus): void {
    const p = Promise.resolve()
      .then(() => this.#o.onStatus(s))
      .then(
        () => this.#reportedOne(dueMember(s)),
        (err: unknown) => this.#o.logger.warn({ id: s.messageId, state: s.state, err: (err as Error).message }, 'status not handed to the adapter; it is reported again later'),
      )
      .finally(() => this.#reporting.delete(p));
    this.#reporting.add(p);
  }

  #reportedOne(member: string): void {
    this.#reported.push(member);
    if (this.#reported.length >= REPORTED_BATCH) void this.#flushReported();
    else if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => void this.#flushReported(), REPORTED_FLUSH_MS);
      this.#flushTimer.unref();
    }
  }

  async #flushReported(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const members = this.#reported.splice(0);
    // Not cleared (Redis unreachable): reported again by a sweep, which the adapter deduplicates.
    await this.#o.outbox.statusesReported(members).catch((err: unknown) => this.#o.logger.warn({ err: (err as Error).message, n: members.length }, 'could not clear reported statuses'));
  }

  #channel(replica: string): string {
    return `${this.#o.prefix}:replica:${replica}`;
  }

  /**
   * Hands the lane to the replica holding the sender's hub session, if it is alive (it listens on
   * its channel); false when it is not, and this replica takes the session over.
   */
  async #forward(owner: string, j: OutboundJob): Promise<boolean> {
    const channel = this.#channel(owner);
    const [, listeners] = (await this.#o.redis.pubsub('NUMSUB', channel)) as [string, number | string];
    if (Number(listeners) === 0) return false;
    await this.#o.outbox.release(j.user, j.peer, this.#runner.token);
    this.counters.forwarded++;
    if ((await this.#o.redis.publish(channel, JSON.stringify(j))) === 0) {
      // It went away in between: carry on here shortly (the lane is ours to take again).
      setTimeout(() => this.kick(j), 200).unref();
    }
    return true;
  }

  /** Drains a lane in this process: one message after the other while each goes through. */
  async #drain(lane: Lane, run: LaneRun<Lane>): Promise<void> {
    const { user, peer } = lane;
    const token = this.#runner.token;
    let id: string | undefined = lane.id;
    let claimed: Claimed | undefined;
    while (id !== undefined) {
      if (this.#runner.closing) return this.#o.outbox.release(user, peer, token);
      const step = await this.#step({ user, peer, id }, { claimed, claimNext: true });
      if (step.kind === 'busy' || step.kind === 'forwarded') return;
      if (step.kind === 'defer') {
        // Hand the head to a retry job, then let the lane go (the job's existence keeps the sweep off).
        if (step.err && this.#o.maxAttempts <= 1) await this.#exhausted({ user, peer, id }, step.err);
        else {
          // A replayed dead letter keeps its failed job (removeOnFail), under whose id the new
          // one would not be added: the message would wait for the sweep, which fails it again.
          const old = await this.queue.getJob(id);
          if (old && (await old.isFailed())) await old.remove();
          await this.queue.add('send', { user, peer, id, ...(step.err ? { prior: 1 } : {}) }, { jobId: id, delay: step.delayMs, ...(step.err ? { attempts: this.#o.maxAttempts - 1 } : {}) });
        }
        return this.#o.outbox.release(user, peer, token);
      }
      claimed = step.claimed;
      id = step.next;
      // Asked again until no kick came meanwhile: only then is the lane forgotten here, so a kick
      // made while the head was read (a message submitted into the emptied lane) starts a new drain.
      while (id === undefined && run.again()) id = await this.#o.outbox.head(user, peer);
    }
  }

  /** A retry job: one step on its message; the lane goes on in process after it. */
  async #process(job: Job<OutboundJob>, token: string | undefined): Promise<void> {
    const { user, peer } = job.data;
    const step = this.#runner.has(laneKey(job.data)) ? ({ kind: 'busy' } as const) : await this.#step(job.data);
    if (step.kind === 'next') {
      if (step.next) this.kick({ user, peer, id: step.next });
      return;
    }
    if (step.kind === 'forwarded') return;
    if (step.kind === 'defer') await this.#o.outbox.release(user, peer, this.#runner.token);
    if (step.kind === 'defer' && step.err) throw step.err; // BullMQ backs off and counts the attempt
    await job.moveToDelayed(Date.now() + (step.kind === 'busy' ? 1000 : step.delayMs), token);
    throw new DelayedError();
  }

  /**
   * One attempt on the lane's head `id`, under the lane's lease: `claimed` when the previous step's
   * finish claimed it already; with `claimNext` a sent message's finish claims the lane's next one.
   */
  async #step(j: OutboundJob, o: { claimed?: Claimed | undefined; claimNext?: boolean } = {}): Promise<Step> {
    const { user, peer, id } = j;
    const token = this.#runner.token;
    const loaded = o.claimed ?? (await this.#o.outbox.claim(user, peer, id, token, LEASE_MS));
    if (loaded === 'busy') return { kind: 'busy' };
    if (!loaded || loaded.state !== 'queued') return { kind: 'next', next: await this.#o.outbox.advance(user, peer, id, token) };
    // A replayed dead letter's age counts from its replay.
    if (Date.now() - Math.max(loaded.record.t * 1000, loaded.replayedAt ?? 0) > this.#o.maxQueueAgeMs) {
      return { kind: 'next', next: await this.#fail(j, loaded.record, 'expired', loaded.frame === undefined) };
    }
    if (!(await this.#o.isEnabled(user))) return { kind: 'next', next: await this.#fail(j, loaded.record, 'sender-opted-out', true) };
    // Policy hold: the peer's safety number changed and the sender has not acknowledged it yet.
    if (await this.#o.isHeld(user, peer)) return { kind: 'defer', delayMs: 2000 };
    // Another replica holds the sender's hub session: the lane goes there (no 4409 tug of war).
    const owner = await this.#o.sessions.ownerElsewhere(user);
    if (owner !== undefined && (await this.#forward(owner, j))) return { kind: 'forwarded' };
    try {
      let conn: HubConnection;
      try {
        conn = await this.#o.sessions.get(user);
      } catch (err) {
        if (!(err instanceof HubSessionError || err instanceof HubTimeoutError)) throw err;
        // The hub is unreachable or refusing sessions: wait (the session manager backs off)
        // without spending one of the message's attempts.
        this.counters.hubUnavailable++;
        return { kind: 'defer', delayMs: Math.min(this.#o.backoff.max, this.#o.backoff.base * 2) };
      }
      const { ack, record: sentRecord } = await this.#attempt.run(conn, user, loaded.record, loaded.frame);
      if (ack.error === 429) {
        this.counters.rateLimited++;
        return { kind: 'defer', delayMs: Math.max(1, ack.retryAfter ?? 1) * 1000 };
      }
      const status: MessageStatus = {
        ...this.#status(sentRecord, id, 'sent'),
        ...(sentRecord.downgraded && sentRecord.downgraded.length > 0 ? { downgraded: sentRecord.downgraded } : {}),
        ...(sentRecord.notice ? { message: sentRecord.notice } : {}),
      };
      const claimNext = o.claimNext && loaded.next !== undefined ? { id: loaded.next, leaseMs: LEASE_MS } : undefined;
      const { next, claimed, stale } = await this.#o.outbox.finishAndClaim(user, peer, id, 'sent', status, token, claimNext);
      if (!stale) {
        this.#report(status);
        this.#o.observe?.('sent', loaded.record.submittedAt === undefined ? undefined : Date.now() - loaded.record.submittedAt);
      }
      return { kind: 'next', next, ...(claimed ? { claimed } : {}) };
    } catch (err) {
      if (err instanceof SessionGone) return { kind: 'defer', delayMs: this.#o.backoff.base };
      if (err instanceof PermanentFailure) return { kind: 'next', next: await this.#fail(j, loaded.record, err.reason, err.certain, err.text) };
      return { kind: 'defer', delayMs: this.#backoff(1), err: err as Error };
    }
  }

  async #exhausted(j: OutboundJob, err: Error): Promise<void> {
    const loaded = await this.#o.outbox.load(j.user, j.id);
    if (!loaded || loaded.state !== 'queued') return;
    this.#o.logger.warn({ id: j.id, err: err.message }, 'outbound message failed after its last attempt');
    // An attempt may have reached the hub with its ack lost: the failure is not certain.
    const next = await this.#fail(j, loaded.record, 'expired', loaded.frame === undefined);
    if (next) this.kick({ user: j.user, peer: j.peer, id: next });
  }

  /** Fails the message for good; the lane's next message, if any. */
  async #fail(j: OutboundJob, r: OutboundRecord, reason: string, certain: boolean, text?: string): Promise<string | undefined> {
    const s = { ...this.#status(r, j.id, 'failed'), reason, message: text ?? REASON_TEXT[reason] ?? reason, certain };
    const { next, stale } = await this.#o.outbox.finishAndClaim(j.user, j.peer, j.id, 'failed', s, this.#runner.token);
    // Finished meanwhile by another holder of the lane (or a concurrent #exhausted): its outcome stands.
    if (!stale) {
      this.#report(s);
      this.#o.observe?.('failed', undefined);
    }
    return next;
  }

  #status(r: OutboundRecord | undefined, id: string, state: MessageStatus['state']): MessageStatus {
    return { messageId: id, idempotencyKey: r?.idempotencyKey ?? '', from: r?.from ?? '', to: r?.peer ?? '', state, at: Date.now() };
  }
}
