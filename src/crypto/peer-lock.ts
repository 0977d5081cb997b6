// Mutual exclusion per (local user, peer) that holds across async work in one process and across
// several Causeway replicas sharing one Redis. libsignal corrupts a session when two operations on
// the same peer interleave (design.md: 9 of 10 undecryptable), so every encrypt, decrypt and
// session start runs inside the lock of its peer.
//
// In one process, callers for the same key queue on a promise chain, so only the head of the
// queue talks to Redis. Across processes, a Redis key set with NX and a token unique to the
// holder, released only by its holder (compare-and-delete in Lua), with a TTL that bounds how long
// a crashed holder can block others.
//
// A holder may take several keys of one user at once (all devices of a hub user, for one message).
// In process it queues on every key, registering on all of them synchronously: queues follow the
// global call order, so two holders of overlapping key sets wait for each other in one order only
// and never deadlock. In Redis it takes all its keys or none in one script and retries while any
// is held: it never holds some keys while waiting for others.
//
// The Redis side is pluggable (LockIo): the Signal unit of work (signal-unit.ts) takes the locks and
// reads the records it needs in one script, and writes what changed and releases in another, so a
// whole operation costs two round trips.
import { randomBytes } from 'node:crypto';

// Lock tokens only need to be unique among holders: a random id per process and a counter.
const PROCESS_ID = randomBytes(12).toString('base64url');
let tokens = 0;

export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
}

export interface PeerLockOptions {
  /** How long a holder may keep the lock before Redis frees it (crash bound). */
  ttlMs?: number;
  /** How long a caller waits for the lock before giving up. */
  waitMs?: number;
}

/** How one holder takes and gives back its Redis lock keys (one or more, all of one user). */
export interface LockIo<S> {
  /**
   * Sets every key of `lockKeys` to `token` with a TTL of `ttlMs` if none of them is set (all or
   * none); when that succeeds, returns what the holder needs (read in the same round trip), else
   * undefined (some key is held by someone else). It may also return a state without taking the
   * locks when its read shows there is nothing to do (the Signal unit's guard); its `release` then
   * leaves the locks alone.
   */
  tryAcquire(lockKeys: string[], token: string, ttlMs: number): Promise<S | undefined>;
  /** Releases each lock that still holds `token` (compare-and-delete). Called once, also after a failure. */
  release(lockKeys: string[], token: string): Promise<void>;
}

export class PeerLock {
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #waitMs: number;
  readonly #local = new Map<string, Promise<unknown>>();

  /** `prefix`: of the lock keys. The Redis side is the holder's own (LockIo). */
  constructor(prefix: string, opts: PeerLockOptions = {}) {
    this.#prefix = prefix;
    this.#ttlMs = opts.ttlMs ?? 15_000;
    this.#waitMs = opts.waitMs ?? 30_000;
  }

  /** The lock's Redis key: under the user's hash tag, like the user's Signal records. */
  keyOf(user: string, peer: string): string {
    return `${this.#prefix}:lock:{${user}}:${peer}`;
  }

  /** Runs `fn` with what `io.tryAcquire` read, while holding the lock of (user, peer). */
  withLockIo<T, S>(user: string, peer: string, io: LockIo<S>, fn: (state: S) => Promise<T>): Promise<T> {
    return this.withLocksIo(user, [peer], io, fn);
  }

  /**
   * Runs `fn` with what `io.tryAcquire` read, while holding the locks of (user, peer) for every
   * peer of `peers` (at least one) at once.
   */
  withLocksIo<T, S>(user: string, peers: string[], io: LockIo<S>, fn: (state: S) => Promise<T>): Promise<T> {
    const keys = [...new Set(peers.map((p) => this.keyOf(user, p)))];
    if (keys.length === 0) return Promise.reject(new RangeError('withLocksIo needs at least one peer'));
    // Queued on every key before anything is awaited (see the top of this file). The tails never
    // reject, so neither does Promise.all.
    const prev = Promise.all(keys.map((k) => this.#local.get(k)));
    const run = prev.then(() => this.#holdRedis(keys, io, fn));
    const tail = run.catch(() => undefined);
    for (const k of keys) this.#local.set(k, tail);
    void tail.then(() => {
      for (const k of keys) if (this.#local.get(k) === tail) this.#local.delete(k);
    });
    return run;
  }

  async #holdRedis<T, S>(keys: string[], io: LockIo<S>, fn: (state: S) => Promise<T>): Promise<T> {
    const token = `${PROCESS_ID}.${++tokens}`;
    const deadline = Date.now() + this.#waitMs;
    let delay = 2;
    let state: S | undefined;
    while ((state = await io.tryAcquire(keys, token, this.#ttlMs)) === undefined) {
      if (Date.now() > deadline) throw new LockTimeoutError(`waited ${this.#waitMs} ms for ${keys.join(', ')}`);
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
      delay = Math.min(delay * 2, 50);
    }
    let result: T;
    try {
      result = await fn(state);
    } catch (err) {
      // The operation's own error wins; a failed release still ends in the TTL.
      await io.release(keys, token).catch(() => undefined);
      throw err;
    }
    await io.release(keys, token);
    return result;
  }
}
