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
// The Redis side is pluggable (LockIo): the Signal unit of work (signal-unit.ts) takes the lock and
// reads the records it needs in one script, and writes what changed and releases in another, so a
// whole operation costs two round trips. `withLock` is the plain form (SET NX, release script).
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

// Lock tokens only need to be unique among holders: a random id per process and a counter.
const PROCESS_ID = randomBytes(12).toString('base64url');
let tokens = 0;

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
}

export interface PeerLockOptions {
  /** How long a holder may keep the lock before Redis frees it (crash bound). */
  ttlMs?: number;
  /** How long a caller waits for the lock before giving up. */
  waitMs?: number;
}

/** How one holder takes and gives back the Redis lock key. */
export interface LockIo<S> {
  /**
   * Sets `lockKey` to `token` with NX and a TTL of `ttlMs`; when that succeeds, returns what the
   * holder needs (read in the same round trip), else undefined (held by someone else). It may also
   * return a state without taking the lock when its read shows there is nothing to do (the Signal
   * unit's guard); its `release` then leaves the lock alone.
   */
  tryAcquire(lockKey: string, token: string, ttlMs: number): Promise<S | undefined>;
  /** Releases the lock if it still holds `token` (compare-and-delete). Called once, also after a failure. */
  release(lockKey: string, token: string): Promise<void>;
}

export class PeerLock {
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #waitMs: number;
  readonly #local = new Map<string, Promise<unknown>>();
  readonly #plain: LockIo<true>;

  constructor(redis: Redis, prefix: string, opts: PeerLockOptions = {}) {
    this.#prefix = prefix;
    this.#ttlMs = opts.ttlMs ?? 15_000;
    this.#waitMs = opts.waitMs ?? 30_000;
    this.#plain = {
      tryAcquire: async (key, token, ttl) => ((await redis.set(key, token, 'PX', ttl, 'NX')) === 'OK' ? true : undefined),
      release: async (key, token) => {
        await redis.eval(RELEASE, 1, key, token);
      },
    };
  }

  /** The lock's Redis key: under the user's hash tag, like the user's Signal records. */
  keyOf(user: string, peer: string): string {
    return `${this.#prefix}:lock:{${user}}:${peer}`;
  }

  /** Runs `fn` while holding the lock of (user, peer). */
  withLock<T>(user: string, peer: string, fn: () => Promise<T>): Promise<T> {
    return this.withLockIo(user, peer, this.#plain, () => fn());
  }

  /** Runs `fn` with what `io.tryAcquire` read, while holding the lock of (user, peer). */
  withLockIo<T, S>(user: string, peer: string, io: LockIo<S>, fn: (state: S) => Promise<T>): Promise<T> {
    const key = this.keyOf(user, peer);
    const prev = this.#local.get(key) ?? Promise.resolve();
    const go = () => this.#holdRedis(key, io, fn);
    const run = prev.then(go, go);
    const tail = run.catch(() => undefined);
    this.#local.set(key, tail);
    void tail.then(() => {
      if (this.#local.get(key) === tail) this.#local.delete(key);
    });
    return run;
  }

  async #holdRedis<T, S>(key: string, io: LockIo<S>, fn: (state: S) => Promise<T>): Promise<T> {
    const token = `${PROCESS_ID}.${++tokens}`;
    const deadline = Date.now() + this.#waitMs;
    let delay = 2;
    let state: S | undefined;
    while ((state = await io.tryAcquire(key, token, this.#ttlMs)) === undefined) {
      if (Date.now() > deadline) throw new LockTimeoutError(`waited ${this.#waitMs} ms for ${key}`);
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
      delay = Math.min(delay * 2, 50);
    }
    let result: T;
    try {
      result = await fn(state);
    } catch (err) {
      // The operation's own error wins; a failed release still ends in the TTL.
      await io.release(key, token).catch(() => undefined);
      throw err;
    }
    await io.release(key, token);
    return result;
  }
}
