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
// until it is acknowledged or dead-lettered. A lane whose
// holder died is taken over by the periodic sweep (every `sweepIntervalMs`) once the lease expired;
// the sweep also starts lanes stored while no sender ran. A POST in flight when its replica dies
// is therefore sent again (same event id): delivery is at least once.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { KeyringError } from '../../src/crypto/keyring.ts';
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

interface LaneState {
  /** The lease was found taken by someone else: stop after the current step. */
  lost: boolean;
  /** Heads handed over while this lane's loop was finishing (see #work). */
  kick?: Head[];
  /** Ends a backoff wait early (stop, lease lost). */
  wake?: () => void;
}

export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #log: Logger;
  readonly #leaseMs: number;
  readonly #lanes = new Map<string, LaneState>();
  readonly #loops = new Set<Promise<void>>();
  #token = '';
  #running = false;
  #sender: Sender | undefined;
  #timers: NodeJS.Timeout[] = [];
  #sweeping: Promise<number> | undefined;
  #slots = 0;
  readonly #slotWaiters: Array<() => void> = [];

  constructor(o: DispatcherOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.#leaseMs = o.leaseMs ?? 15_000;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#token = randomBytes(12).toString('base64url');
    this.#sender = new Sender(this.#o.target, this.#o.concurrency);
    const every = (ms: number, fn: () => Promise<unknown>, what: string) => {
      const t = setInterval(() => void fn().catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, what)), ms);
      t.unref();
      this.#timers.push(t);
    };
    every(Math.max(50, Math.floor(this.#leaseMs / 3)), () => this.#renew(), 'webhook lease renewal failed');
    every(this.#o.sweepIntervalMs ?? 5000, () => this.sweep(), 'webhook lane sweep failed');
    await this.sweep();
  }

  /** Stops taking work; waits for POSTs in flight (each bounded by timeout_ms); releases the leases. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    for (const t of this.#timers.splice(0)) clearInterval(t);
    for (const st of this.#lanes.values()) st.wake?.();
    for (const w of this.#slotWaiters.splice(0)) w();
    await this.#sweeping?.catch(() => undefined);
    await Promise.allSettled([...this.#loops]);
    this.#sender?.close();
    this.#sender = undefined;
  }

  /** The lease arguments of this replica (token, duration, heads read per step). */
  #lease(): LeaseArgs {
    return { token: this.#token, ms: this.#leaseMs, count: this.#o.maxEventsPerPost ?? 1 };
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
    if (!this.#running || this.#lanes.has(user)) return;
    for (const t of await this.#o.store.take([user], this.#lease())) this.#start(t.user, t.heads);
  }

  /** Takes over every pending lane that nobody holds; → how many were taken. */
  async sweep(): Promise<number> {
    if (!this.#running) return 0;
    if (this.#sweeping) return this.#sweeping;
    const run = async () => {
      let taken = 0;
      for await (const batch of this.#o.store.users(100)) {
        // Enough lanes in hand (each one a timer and a lease to renew): the rest wait for the
        // next sweep or for another replica.
        if (!this.#running || this.#lanes.size >= MAX_SWEPT_LANES) break;
        const free = batch.filter((u) => !this.#lanes.has(u));
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

  /** A lane whose lease this replica just took: work it (or hand the heads to its loop). */
  #start(user: string, heads: Head[]): void {
    if (!this.#running) {
      void this.#o.store.release(user, this.#token).catch(() => undefined);
      return;
    }
    const known = this.#lanes.get(user);
    if (known) {
      known.kick = heads;
      known.lost = false;
      return;
    }
    const st: LaneState = { lost: false };
    this.#lanes.set(user, st);
    const loop = this.#work(user, heads, st)
      .catch((err: unknown) => this.#log.warn({ user, err: (err as Error).message }, 'webhook lane stopped; the sweep takes it again'))
      .finally(() => {
        this.#loops.delete(loop);
        if (this.#lanes.get(user) === st) this.#lanes.delete(user);
        // A renewal can report a lease lost that this replica had released (lane empty) and taken
        // again (a new event) in between: the loop gave it up; take the lane again if it is free.
        if (st.lost && this.#running) void this.poke(user).catch(() => undefined);
      });
    this.#loops.add(loop);
  }

  /** Drains a lane: `heads` are its first events as last read (only this loop removes any). */
  async #work(user: string, first: Head[], st: LaneState): Promise<void> {
    let heads: Head[] = first;
    let holding = true;
    try {
      while (heads.length > 0 && this.#running && !st.lost) {
        const wait = (heads[0]?.dueMs ?? 0) - Date.now();
        if (wait > 0) await this.#sleep(st, wait);
        if (!this.#running || st.lost) break;
        const r: FinishResult | Head[] = await this.#attempt(user, heads);
        if (Array.isArray(r)) {
          heads = r; // failed: the head again, later
        } else if (r.lane === 'next') {
          st.kick = undefined;
          heads = r.next;
        } else if (r.lane === 'lost') {
          holding = false;
          heads = [];
        } else {
          // Released in the same step as the lane was found empty: heads stored meanwhile by this
          // replica (which took the fresh lease) were handed to this loop, not to a new one.
          heads = st.kick ?? [];
          st.kick = undefined;
          holding = heads.length > 0;
          if (!holding) this.#lanes.delete(user);
        }
      }
    } finally {
      // Token-checked: a lease another replica holds is left alone.
      if (holding || st.lost) await this.#o.store.release(user, this.#token);
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
    await this.#slot();
    let r;
    try {
      if (!this.#running || !this.#sender) return heads;
      r = await this.#sender.post(sent.length === 1
        ? { eventId: first.h.eventId, type: (JSON.parse(first.body) as { type: string }).type, body: first.body, attempt }
        : { type: 'batch', body: batchBody(sent.map((x) => x.body)), attempt, count: sent.length });
    } finally {
      this.#unslot();
    }
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

  async #renew(): Promise<void> {
    const users = [...this.#lanes.keys()];
    for (let i = 0; i < users.length; i += 500) {
      for (const user of await this.#o.store.renew(users.slice(i, i + 500), this.#token, this.#leaseMs)) {
        const st = this.#lanes.get(user);
        if (!st) continue;
        this.#log.info({ user }, 'webhook lane lease not ours any more (expired, taken by another replica, or released and taken again); the lane is taken again if free');
        st.lost = true;
        st.wake?.();
      }
    }
  }

  #sleep(st: LaneState, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        st.wake = undefined;
        resolve();
      }
      st.wake = done;
    });
  }

  /** Waits for one of `concurrency` POST slots (released at once when stopping). */
  async #slot(): Promise<void> {
    while (this.#slots >= this.#o.concurrency && this.#running) await new Promise<void>((r) => this.#slotWaiters.push(r));
    this.#slots++;
  }

  #unslot(): void {
    this.#slots--;
    this.#slotWaiters.shift()?.();
  }
}
