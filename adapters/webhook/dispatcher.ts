// The sender side of the webhook adapter: works provider users' lanes (store.ts) in process.
//
// A replica works a lane only while it holds the lane's lease (`:lease:USER`, SET NX PX with the
// replica's token, renewed every third of its duration, released when the lane is empty or the
// replica stops). Storing an event tries to take the lease in the same script; when it does, the
// lane is drained right away: POST the head, then one script removes it and hands back the next
// head (or releases the lease when the lane is empty). So events of one provider user go one at a
// time, in order, and the common case costs two Redis round trips per event, store included.
//
// A failed POST is retried by the lease holder after a backoff timer; the failure count and due
// time are written to `:retry` first, so a replica taking the lane over keeps the schedule and the
// attempt count. After max_attempts the event is dead-lettered and the lane moves on. With
// `maxEventsPerPost` above 1, a lane's backlog goes out as batches of first attempts (the scripts
// read that many heads); a failed batch charges the failure to its head, which is then sent alone
// until it is acknowledged or dead-lettered. A lane whose holder died is taken over by the
// periodic sweep (every `sweepIntervalMs`) once the lease expired; the sweep also starts lanes
// stored while no sender ran. A POST in flight when its replica dies is therefore sent again (same
// event id): delivery is at least once.
//
// The in-process side of the lanes (one drain per user, `concurrency` of them stepping at once,
// lease renewal, a lost lease noticed, the stop) is the LaneRunner the outbound lanes use
// (src/delivery/lanes.ts); the retry, dead-letter and batching rules are this file's.
import type { Logger } from 'pino';
import { KeyringError } from '../../src/crypto/keyring.ts';
import { LaneRunner, type LaneRun } from '../../src/delivery/lanes.ts';
import { Sender, type PostTarget } from './sender.ts';
import type { EventStore, FinishResult, Head, LeaseArgs } from './store.ts';
import { batchBody, type PreparedEvent } from './events.ts';

export interface DispatcherOptions {
  store: EventStore;
  target: PostTarget;
  maxAttempts: number;
  backoff: { base: number; max: number };
  /** POSTs in flight at once (different users), and the size of the connection pool. */
  concurrency: number;
  /** Above 1: up to this many first-attempt events of a lane's backlog per POST (a batch). */
  maxEventsPerPost?: number;
  logger: Logger;
  /** Lane lease duration; default 15 s. A dead replica's lanes are taken over after it. */
  leaseMs?: number;
  /** Period of the sweep of pending lanes; default 5 s. */
  sweepIntervalMs?: number;
}

/** Delay before retry number `failures` (≥ 1): base·2^(failures−1) capped at max, half of it jittered. */
export function backoffDelay(failures: number, base: number, max: number, random: () => number = Math.random): number {
  const full = Math.min(max, base * 2 ** Math.min(Math.max(failures - 1, 0), 40));
  return Math.round(full / 2 + random() * (full / 2));
}

/** The sweep takes no more lanes while this replica works this many. */
const MAX_SWEPT_LANES = 10_000;

/** A provider user's lane as handed to this replica with its lease: its first events as last read. */
interface Lane {
  user: string;
  heads: Head[];
}

export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #log: Logger;
  readonly #leaseMs: number;
  /** The lanes this replica holds (src/delivery/lanes.ts); a new one, with a new token, per start. */
  #runner: LaneRunner<Lane> | undefined;
  #running = false;
  #sender: Sender | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;

  constructor(o: DispatcherOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.#leaseMs = o.leaseMs ?? 15_000;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#sender = new Sender(this.#o.target, this.#o.concurrency);
    const store = this.#o.store;
    const runner: LaneRunner<Lane> = new LaneRunner<Lane>({
      key: (l) => l.user,
      // POSTs in flight at once: a lane holds a slot for a step (open, POST, its outcome stored)
      // and gives it up between steps to the lanes waiting, and while a retry waits its backoff.
      concurrency: this.#o.concurrency,
      drain: (lane, run) => this.#work(lane, run),
      renew: (lanes) => this.#renew(lanes.map((l) => l.user)),
      renewMs: Math.max(50, Math.floor(this.#leaseMs / 3)),
      leasedOnKick: true,
      dropped: (lane) => store.release(lane.user, runner.token),
      // A renewal can report a lease lost that this replica had released (lane empty) and taken
      // again (a new event) in between: the drain gave it up; take the lane again if it is free.
      ended: (lane, lost) => {
        if (lost && this.#running) void this.poke(lane.user).catch(() => undefined);
      },
      logger: this.#log,
    });
    this.#runner = runner;
    this.#sweeper = setInterval(() => void this.sweep().catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'webhook lane sweep failed')), this.#o.sweepIntervalMs ?? 5000);
    this.#sweeper.unref();
    await this.sweep();
  }

  /** Stops taking work; waits for POSTs in flight (each bounded by timeout_ms); releases the leases. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#sweeper);
    // Drains stop after their current step; lanes waiting for a slot are released at once.
    const closed = this.#runner?.close(Infinity);
    await this.#sweeping?.catch(() => undefined);
    await closed;
    this.#sender?.close();
    this.#sender = undefined;
  }

  #token(): string {
    return this.#runner?.token ?? '';
  }

  /** The lease arguments of this replica (token, duration, heads read per step). */
  #lease(): LeaseArgs {
    return { token: this.#token(), ms: this.#leaseMs, count: this.#o.maxEventsPerPost ?? 1 };
  }

  /** Stores an event and, when its lane is free, starts POSTing it. */
  async submit(e: PreparedEvent): Promise<{ duplicate: boolean }> {
    // The lease is tried even when this replica works the lane: its loop may have released it
    // (lane empty) in Redis before this event was stored, and the reply may not be in yet.
    const r = await this.#o.store.enqueue(e, this.#running ? this.#lease() : undefined);
    if (r.heads) this.#start(e.user, r.heads);
    return { duplicate: r.duplicate };
  }

  /** Works `user`'s lane now if it is pending and free (e.g. after a dead letter's replay). */
  async poke(user: string): Promise<void> {
    if (!this.#running || this.#runner?.has(user)) return;
    for (const t of await this.#o.store.take([user], this.#lease())) this.#start(t.user, t.heads);
  }

  /** Takes over every pending lane that nobody holds; → how many were taken. */
  async sweep(): Promise<number> {
    if (!this.#running) return 0;
    if (this.#sweeping) return this.#sweeping;
    const run = async () => {
      let taken = 0;
      for await (const batch of this.#o.store.users(100)) {
        // Enough lanes in hand (each one a lease to renew): the rest wait for the next sweep or
        // for another replica.
        const runner = this.#runner;
        if (!this.#running || !runner || runner.pending >= MAX_SWEPT_LANES) break;
        const free = batch.filter((u) => !runner.has(u));
        for (const { user, heads } of await this.#o.store.take(free, this.#lease())) {
          taken++;
          this.#start(user, heads);
        }
      }
      return taken;
    };
    this.#sweeping = run().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  /**
   * A lane whose lease this replica just took: work it, or hand the heads to its drain (which
   * released the lease, lane empty, just before). Once stopped, the lease is given up.
   */
  #start(user: string, heads: Head[]): void {
    if (this.#running && this.#runner) this.#runner.kick({ user, heads });
    else void this.#o.store.release(user, this.#token()).catch(() => undefined);
  }

  /** Drains a lane: `heads` are its first events as last read (only this drain removes any). */
  async #work(lane: Lane, run: LaneRun<Lane>): Promise<void> {
    const { user } = lane;
    let heads: Head[] = lane.heads;
    let holding = true;
    let stepped = false;
    try {
      while (heads.length > 0 && !run.stopped) {
        // A retry's backoff is waited out without a slot; between steps the slot goes to the
        // lanes waiting for one, so users share the POSTs first come first served.
        const wait = (heads[0]?.dueMs ?? 0) - Date.now();
        if ((wait > 0 || stepped) && !(await run.pause(wait))) break;
        stepped = true;
        const r: FinishResult | Head[] = await this.#attempt(user, heads);
        if (Array.isArray(r)) {
          heads = r; // failed: the head again, later
        } else if (r.lane === 'next') {
          run.dropKick();
          heads = r.next;
        } else if (r.lane === 'lost') {
          holding = false;
          heads = [];
        } else {
          // Released in the same step as the lane was found empty: heads stored meanwhile by this
          // replica (which took the fresh lease) were handed to this drain, not to a new one.
          heads = run.again()?.heads ?? [];
          holding = heads.length > 0;
        }
      }
    } finally {
      // Token-checked: a lease another replica holds is left alone.
      if (holding || run.lost) await this.#o.store.release(user, this.#token());
    }
  }

  /** Opens the events to POST now: the head, and in a batch the following never-failed ones. */
  #pick(user: string, heads: Head[]): { sent: Array<{ h: Head; body: string }> } | { special: Promise<FinishResult> } {
    const store = this.#o.store;
    const sent: Array<{ h: Head; body: string }> = [];
    const max = (heads[0]?.attempts ?? 0) > 0 ? 1 : (this.#o.maxEventsPerPost ?? 1);
    for (const h of heads.slice(0, max)) {
      let body: string | undefined;
      try {
        body = store.open(h);
      } catch (err) {
        if (!(err instanceof KeyringError)) throw err;
        if (sent.length > 0) break; // sent on its own once it is the head
        return { special: this.#deadLetter(user, h.eventId, h.attempts, `cannot open the sealed event: ${err.message}`) };
      }
      if (body === undefined) {
        if (sent.length > 0) break;
        // A head without a body cannot be sent: drop it so the lane is not blocked.
        this.#log.error({ eventId: h.eventId, user }, 'webhook event body missing; skipped');
        return { special: store.complete(user, [h.eventId], this.#lease(), this.#running) };
      }
      if (sent.length > 0 && h.attempts > 0) break;
      sent.push({ h, body });
    }
    return { sent };
  }

  /** One step on the lane's first events: a POST and its outcome. → the finish result, or the heads to retry. */
  async #attempt(user: string, heads: Head[]): Promise<FinishResult | Head[]> {
    const store = this.#o.store;
    const picked = this.#pick(user, heads);
    if ('special' in picked) return picked.special;
    const { sent } = picked;
    const first = sent[0];
    if (!first) return [];
    const attempt = first.h.attempts + 1;
    const sender = this.#sender;
    if (!this.#running || !sender) return heads;
    const r = await sender.post(sent.length === 1
      ? { eventId: first.h.eventId, type: (JSON.parse(first.body) as { type: string }).type, body: first.body, attempt }
      : { type: 'batch', body: batchBody(sent.map((x) => x.body)), attempt, count: sent.length });
    const eventId = first.h.eventId;
    if (r.ok) {
      this.#log.debug({ eventId, user, attempt, events: sent.length, status: r.status }, 'webhook event acknowledged');
      return store.complete(user, sent.map((x) => x.h.eventId), this.#lease(), this.#running);
    }
    this.#log.warn({ eventId, user, attempt, events: sent.length, error: r.error }, 'webhook POST failed');
    if (attempt >= this.#o.maxAttempts) return this.#deadLetter(user, eventId, attempt, r.error);
    // The head alone carries the failure (and is sent alone from now on); a batch's other events
    // have not failed on their own.
    const dueMs = Date.now() + backoffDelay(attempt, this.#o.backoff.base, this.#o.backoff.max);
    await store.setRetry(eventId, attempt, dueMs);
    return [{ eventId, body: first.body, attempts: attempt, dueMs }, ...heads.slice(1)];
  }

  async #deadLetter(user: string, eventId: string, attempts: number, error: string): Promise<FinishResult> {
    const info = { attempts, last_error: error, dead_at: new Date().toISOString() };
    const r = await this.#o.store.deadLetter(user, eventId, info, this.#lease(), this.#running);
    if (r.removed > 0) this.#log.error({ eventId, user, attempts, error }, 'webhook event dead-lettered');
    return r;
  }

  /** Extends the leases of `users`; → those found lost (the runner tells their drains). */
  async #renew(users: string[]): Promise<string[]> {
    const lost: string[] = [];
    for (let i = 0; i < users.length; i += 500) {
      for (const user of await this.#o.store.renew(users.slice(i, i + 500), this.#token(), this.#leaseMs)) {
        this.#log.info({ user }, 'webhook lane lease not ours any more (expired, taken by another replica, or released and taken again); the lane is taken again if free');
        lost.push(user);
      }
    }
    return lost;
  }
}
