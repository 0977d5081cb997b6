// In-process lane drains under Redis leases, shared by the outbound conversation lanes (outbox.ts,
// outbound-worker.ts) and the webhook adapter's event lanes (adapters/webhook/dispatcher.ts). A
// lane is worked on by one process at a time, the holder of its lease (a Redis key with this
// runner's token and a TTL). The runner keeps the in-process side of that: at most one drain per
// lane, at most `concurrency` drains working at once (lanes kicked beyond that wait their turn in
// memory, first come first served), kicks of a lane being drained handed to its drain, the renewal
// of the leases it holds, the drains told when a renewal finds a lease lost, and a bounded stop.
// Nothing is lost by waiting in memory: the lane in Redis is the durable record, and each user of
// the runner has a sweep that finds lanes nobody holds after a crash.
//
// Where the lease is taken differs, hence `leasedOnKick`: the outbound drain takes it with the
// head's first attempt, while the webhook store takes it in the script that stores an event and
// kicks the lane only when it got it.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';

export interface LaneRunnerOptions<T> {
  /** The lane's identity: one drain per key at a time. */
  key: (lane: T) => string;
  concurrency: number;
  /** Works the lane (see LaneRun); a throw is logged and the lane is left to the caller's sweep. */
  drain: (lane: T, run: LaneRun<T>) => Promise<void>;
  /** Renews the leases of `lanes` (every `renewMs`); → the keys of those found lost, if it can tell. */
  renew: (lanes: T[]) => Promise<string[] | void>;
  renewMs: number;
  /**
   * Kicks come with the lane's lease already taken: every lane known here is renewed (not only
   * those being drained), and a kick of a lane whose lease was reported lost means it is ours again.
   */
  leasedOnKick?: boolean;
  /** A lane kicked but never drained because the runner is closing (e.g. to give its lease up). */
  dropped?: (lane: T) => Promise<void>;
  /** After a drain and the runner's bookkeeping of it ended; `lost` if a renewal found its lease lost. */
  ended?: (lane: T, lost: boolean) => void;
  logger: Logger;
}

/** What a drain sees of its lane's state in the runner. */
export interface LaneRun<T> {
  /** A renewal found the lease lost (expired or taken): stop after the current step. */
  readonly lost: boolean;
  /** Lost, or the runner is closing: stop after the current step. */
  readonly stopped: boolean;
  /**
   * The lane as last kicked while this drain ran, if it was (once). When it was not, the lane is
   * done here: a later kick starts a new drain. Call it when the drain would otherwise end.
   */
  again(): T | undefined;
  /** Forgets a kick made meanwhile: the drain has just read the lane's newer state itself. */
  dropKick(): void;
  /**
   * Gives the drain's slot up for at least `ms` (ended early by a lost lease or the runner
   * closing) and waits for it again behind the lanes already waiting; with `ms` ≤ 0 and nobody
   * waiting it keeps the slot. → false when the drain must stop instead (lost, closing).
   */
  pause(ms: number): Promise<boolean>;
}

/** How long a lease lasts without renewal: a crashed holder's lanes are free again after this. */
export const LEASE_MS = 15_000;

interface Entry<T> {
  lane: T;
  /** Kicked again while known here: handed to the drain by `again()`. */
  again?: T;
  started: boolean;
  /** Holds one of the `concurrency` slots (a started drain does, except while it pauses). */
  slot: boolean;
  lost: boolean;
  /** Ends a pause early. */
  wake?: () => void;
}

export class LaneRunner<T> {
  /** This process's lease token. */
  readonly token = `${hostname()}:${process.pid}:${randomBytes(6).toString('base64url')}`;
  readonly #o: LaneRunnerOptions<T>;
  /** Every lane kicked and not yet done here: waiting for a slot or being drained. */
  readonly #lanes = new Map<string, Entry<T>>();
  /** Waiting for a slot, first come first served: lanes to start and paused drains. */
  readonly #queue: Array<(granted: boolean) => void> = [];
  /** Slots in use. */
  #busy = 0;
  /** Drains started and not yet ended (paused ones included). */
  #drains = 0;
  #closing = false;
  #idle: Array<() => void> = [];
  readonly #renewer: NodeJS.Timeout;

  constructor(o: LaneRunnerOptions<T>) {
    this.#o = o;
    this.#renewer = setInterval(() => void this.#renew(), o.renewMs);
    this.#renewer.unref();
  }

  /** Lanes waiting for a slot plus lanes being drained. */
  get pending(): number {
    return this.#lanes.size;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** The lanes whose drains are running (e.g. still running when `close` gave up waiting). */
  draining(): T[] {
    return [...this.#lanes.values()].filter((e) => e.started).map((e) => e.lane);
  }

  /** Whether this process is draining (or about to drain) the lane with this key. */
  has(key: string): boolean {
    return this.#lanes.has(key);
  }

  /** Makes sure the lane gets drained here, from `lane` on if it is not already. */
  kick(lane: T): void {
    if (this.#closing) {
      // The sweep of whichever process runs next picks it up.
      this.#o.dropped?.(lane).catch((err: unknown) => this.#o.logger.warn({ err: (err as Error).message }, 'dropping a lane failed'));
      return;
    }
    const key = this.#o.key(lane);
    const known = this.#lanes.get(key);
    if (known) {
      known.again = lane;
      if (this.#o.leasedOnKick) known.lost = false;
      return;
    }
    const entry: Entry<T> = { lane, started: false, slot: false, lost: false };
    this.#lanes.set(key, entry);
    this.#queue.push((granted) => {
      if (granted) void this.#run(key, entry);
    });
    this.#pump();
  }

  #pump(): void {
    while (!this.#closing && this.#busy < this.#o.concurrency && this.#queue.length > 0) {
      this.#busy++;
      (this.#queue.shift() as (granted: boolean) => void)(true);
    }
  }

  async #run(key: string, entry: Entry<T>): Promise<void> {
    entry.started = true;
    entry.slot = true;
    this.#drains++;
    const stopped = () => entry.lost || this.#closing;
    const run: LaneRun<T> = {
      get lost() {
        return entry.lost;
      },
      get stopped() {
        return stopped();
      },
      again: () => {
        const next = entry.again;
        entry.again = undefined;
        // Not kicked meanwhile: a kick from now on must start a new drain, not be left to this one.
        if (next === undefined && this.#lanes.get(key) === entry) this.#lanes.delete(key);
        return next;
      },
      dropKick: () => {
        entry.again = undefined;
      },
      pause: (ms) => this.#pause(entry, ms, stopped),
    };
    try {
      await this.#o.drain(entry.lane, run);
    } catch (err) {
      this.#o.logger.warn({ lane: key, err: (err as Error).message }, 'lane drain failed; the sweep retries it');
    } finally {
      if (this.#lanes.get(key) === entry) this.#lanes.delete(key);
      if (entry.slot) this.#busy--;
      this.#drains--;
      try {
        this.#o.ended?.(entry.lane, entry.lost);
      } finally {
        if (this.#drains === 0) for (const r of this.#idle.splice(0)) r();
        this.#pump();
      }
    }
  }

  async #pause(entry: Entry<T>, ms: number, stopped: () => boolean): Promise<boolean> {
    if (stopped()) return false;
    if (ms <= 0 && this.#queue.length === 0) return true;
    entry.slot = false;
    this.#busy--;
    this.#pump();
    if (ms > 0) await this.#sleep(entry, ms);
    if (stopped()) return false;
    entry.slot = await new Promise<boolean>((resolve) => {
      const waiter = (granted: boolean) => {
        entry.wake = undefined;
        resolve(granted);
      };
      // A lease lost while waiting: no slot, and no step on a lane that is not ours any more.
      entry.wake = () => {
        const i = this.#queue.indexOf(waiter);
        if (i >= 0) this.#queue.splice(i, 1);
        waiter(false);
      };
      this.#queue.push(waiter);
      this.#pump();
    });
    return entry.slot && !stopped();
  }

  #sleep(entry: Entry<T>, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        entry.wake = undefined;
        resolve();
      }
      entry.wake = done;
    });
  }

  async #renew(): Promise<void> {
    const held = [...this.#lanes.values()].filter((e) => e.started || this.#o.leasedOnKick);
    if (held.length === 0) return;
    try {
      const lost = await this.#o.renew(held.map((e) => e.lane));
      for (const key of lost ?? []) {
        const entry = this.#lanes.get(key);
        if (!entry) continue;
        entry.lost = true;
        entry.wake?.();
      }
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, 'lane lease renewal failed');
    }
  }

  /**
   * Stops starting drains, hands the lanes still waiting to `dropped`, ends pauses, and waits up
   * to `graceMs` (unbounded if not finite) for the running drains to end.
   */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    clearInterval(this.#renewer);
    const drops: Array<Promise<void>> = [];
    for (const [key, entry] of this.#lanes) {
      if (entry.started) {
        entry.wake?.();
        continue;
      }
      this.#lanes.delete(key);
      if (this.#o.dropped) drops.push(this.#o.dropped(entry.lane));
    }
    for (const w of this.#queue.splice(0)) w(false);
    await Promise.allSettled(drops);
    if (this.#drains === 0) return;
    const idle = new Promise<void>((r) => this.#idle.push(r));
    if (!Number.isFinite(graceMs)) return idle;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([idle, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }
}
