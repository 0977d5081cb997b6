// The bridge lease: one replica at a time runs the bridge's crypto devices (OlmMachines). Several
// Causeway replicas share Redis, and the homeserver sends transactions to one URL that a load
// balancer may route to any of them; the hub's inbound work (messages, statuses, notices) also
// runs on any replica. Two OlmMachines of one device working at once would fork its Olm/Megolm
// state, so every use of a device runs inside `run()`:
//
// - The holder runs the work at once. A replica that does not hold the lease asks for it (a
//   `wanted` key) and waits up to `waitMs`: it takes the lease when it is free — released, or
//   expired because its holder died — and otherwise fails with LeaseBusyError, which the routes
//   answer with 503 (the homeserver retries the transaction; the core's queue retries its jobs).
// - The holder renews the lease every tick (compare-and-PEXPIRE); when another replica wants it,
//   nothing runs here and the lease has been held for `minHoldMs`, it persists and closes its
//   devices and hands the lease over (compare-and-DEL). `minHoldMs` bounds how often it moves.
// - Taking the lease closes every device still in memory (`onAcquired`), so devices are reloaded
//   from Redis: a replica never works on a stale OlmMachine after another replica changed it.
//   Losing it (renewal refused) closes them as well, and writes of device state are fenced by the
//   token (device-store.ts), so a replica that paused past its TTL cannot overwrite newer state.
// - Each holding has a token of its own (the replica's id and a count of its acquisitions), and a
//   device's writes are fenced with the token of the holding it was opened under: a write started
//   in an earlier holding and reaching Redis after the lease went to another replica and came
//   back is refused too (it would overwrite what the other replica wrote meanwhile).
// - State is sealed in Redis before each transaction is acknowledged, so a crashed holder loses
//   nothing: its lease expires after `ttlMs` and the next replica with work takes over.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Serial } from './serial.ts';

/** No lease within the wait: the work should be retried later (HTTP 503, or a queue retry). */
export class LeaseBusyError extends Error {
  override name = 'LeaseBusyError';
}

/** The lease was lost while working: the work failed and should be retried. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

export interface LeaseOptions {
  redis: Redis;
  /** Redis key of the lease (the token of the holder's current holding, with a TTL). */
  key: string;
  ttlMs: number;
  waitMs: number;
  minHoldMs: number;
  logger: Logger;
  /** Called after the lease was taken, before any work: drop in-memory device state. */
  onAcquired(): Promise<void>;
  /** Called before the lease is handed over or released: persist, then drop device state. */
  onReleasing(): Promise<void>;
  /** Called after the lease was lost (renewal refused): drop device state, persist nothing. */
  onLost(): Promise<void>;
}

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class BridgeLease {
  /** This replica's id: the value of the `wanted` key it writes. */
  readonly replica = `${hostname()}:${process.pid}:${randomBytes(8).toString('hex')}`;
  /** How many times this replica took the lease. */
  #acquisitions = 0;
  /** The current (or last) holding's token: the lease's value while it is held. */
  #token = `${this.replica}:0`;
  readonly #o: LeaseOptions;
  readonly #serial = new Serial();
  readonly #wantKey: string;
  readonly #tickMs: number;
  #held = false;
  #heldSince = 0;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(o: LeaseOptions) {
    this.#o = o;
    this.#wantKey = `${o.key}:wanted`;
    this.#tickMs = Math.max(50, Math.min(250, Math.floor(o.ttlMs / 3)));
  }

  get key(): string {
    return this.#o.key;
  }

  get held(): boolean {
    return this.#held;
  }

  /** The token of this replica's current holding (its last one when it does not hold the lease): the lease's value while held. */
  get token(): string {
    return this.#token;
  }

  /** The token to fence writes with, while held: that of the current holding. */
  heldToken(): string | undefined {
    return this.#held ? this.#token : undefined;
  }

  start(): void {
    this.#stopped = false;
    this.#timer ??= setInterval(() => void this.#tick(), this.#tickMs);
    this.#timer.unref();
  }

  /** Runs `fn` holding the lease (taking it first, waiting up to `waitMs`). */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.#enter(true);
    try {
      return await fn();
    } finally {
      this.#inFlight--;
    }
  }

  /** Periodic upkeep: runs `fn` if this replica holds the lease or can take it without waiting; else skips it. */
  async runIfHeld(fn: () => Promise<void>): Promise<void> {
    if (!(await this.#enter(false))) return;
    try {
      await fn();
    } finally {
      this.#inFlight--;
    }
  }

  /** Stops renewing and releases the lease (after the work running here has finished, bounded). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const deadline = Date.now() + this.#o.ttlMs;
    while (this.#inFlight > 0 && Date.now() < deadline) await sleep(20);
    await this.#serial.run('t', () => this.#release('stopping'));
  }

  /** Stops renewing without releasing: what a crashed replica looks like to the others (tests). */
  halt(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#held = false;
  }

  async #enter(wait: boolean): Promise<boolean> {
    if (this.#stopped) throw new LeaseBusyError('the bridge is stopping');
    const deadline = Date.now() + (wait ? this.#o.waitMs : 0);
    for (;;) {
      const entered = await this.#serial.run('t', async () => {
        if (!this.#held && !(await this.#tryAcquire())) return false;
        this.#inFlight++;
        return true;
      });
      if (entered) return true;
      if (!wait) return false;
      if (Date.now() >= deadline || this.#stopped) throw new LeaseBusyError('another replica holds the bridge devices');
      await this.#o.redis.set(this.#wantKey, this.replica, 'PX', Math.max(1000, this.#tickMs * 4));
      await sleep(Math.min(this.#tickMs, 100));
    }
  }

  /** Under the transition lock. */
  async #tryAcquire(): Promise<boolean> {
    // A token of its own for this holding: a write fenced with an earlier holding's token is refused.
    const token = `${this.replica}:${this.#acquisitions + 1}`;
    const ok = await this.#o.redis.set(this.#o.key, token, 'PX', this.#o.ttlMs, 'NX');
    if (ok !== 'OK') return false;
    this.#acquisitions++;
    this.#token = token;
    this.#held = true;
    this.#heldSince = Date.now();
    try {
      await this.#o.onAcquired();
    } catch (err) {
      await this.#release('reload failed');
      throw err;
    }
    await this.#o.redis.eval(RELEASE, 1, this.#wantKey, this.replica);
    this.#o.logger.info({ lease: this.#o.key }, 'bridge lease taken; devices reload from Redis');
    return true;
  }

  /** Under the transition lock. */
  async #release(why: string): Promise<void> {
    if (!this.#held) return;
    try {
      await this.#o.onReleasing();
    } finally {
      this.#held = false;
      await this.#o.redis.eval(RELEASE, 1, this.#o.key, this.#token);
      this.#o.logger.info({ lease: this.#o.key, why }, 'bridge lease released');
    }
  }

  async #tick(): Promise<void> {
    if (!this.#held || this.#stopped) return;
    try {
      await this.#serial.run('t', async () => {
        if (!this.#held || this.#stopped) return;
        const renewed = Number(await this.#o.redis.eval(RENEW, 1, this.#o.key, this.#token, String(this.#o.ttlMs)));
        if (renewed !== 1) {
          this.#held = false;
          this.#o.logger.warn({ lease: this.#o.key }, 'bridge lease lost; devices dropped from memory');
          await this.#o.onLost();
          return;
        }
        if (this.#inFlight > 0 || Date.now() - this.#heldSince < this.#o.minHoldMs) return;
        const wanted = await this.#o.redis.get(this.#wantKey);
        if (wanted !== null && wanted !== this.replica) await this.#release('handed over to a replica that has work');
      });
    } catch (err) {
      this.#o.logger.warn({ lease: this.#o.key, err: (err as Error).message }, 'bridge lease upkeep failed');
    }
  }
}
