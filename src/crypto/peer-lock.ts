// Mutual exclusion per (local user, peer) that holds across async work in one process and across
// several Causeway replicas sharing one Redis. libsignal corrupts a session when two operations on
// the same peer interleave (design.md: 9 of 10 undecryptable), so every encrypt, decrypt and
// session start runs inside `withLock(user, peer)`.
//
// In one process, callers for the same key queue on a promise chain, so only the head of the
// queue talks to Redis. Across processes, a Redis key set with NX and a random token, released
// only by its holder (compare-and-delete in Lua), with a TTL that bounds how long a crashed holder
// can block others.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

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

export class PeerLock {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #waitMs: number;
  readonly #local = new Map<string, Promise<unknown>>();

  constructor(redis: Redis, prefix: string, opts: PeerLockOptions = {}) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#ttlMs = opts.ttlMs ?? 15_000;
    this.#waitMs = opts.waitMs ?? 30_000;
  }

  /** Runs `fn` while holding the lock of (user, peer). */
  withLock<T>(user: string, peer: string, fn: () => Promise<T>): Promise<T> {
    const key = `${this.#prefix}:lock:{${user}}:${peer}`;
    const prev = this.#local.get(key) ?? Promise.resolve();
    const run = prev.then(
      () => this.#holdRedis(key, fn),
      () => this.#holdRedis(key, fn),
    );
    const tail = run.catch(() => undefined);
    this.#local.set(key, tail);
    void tail.then(() => {
      if (this.#local.get(key) === tail) this.#local.delete(key);
    });
    return run;
  }

  async #holdRedis<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const token = randomBytes(12).toString('base64url');
    const deadline = Date.now() + this.#waitMs;
    let delay = 2;
    while ((await this.#redis.set(key, token, 'PX', this.#ttlMs, 'NX')) !== 'OK') {
      if (Date.now() > deadline) throw new LockTimeoutError(`waited ${this.#waitMs} ms for ${key}`);
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
      delay = Math.min(delay * 2, 50);
    }
    try {
      return await fn();
    } finally {
      await this.#redis.eval(RELEASE, 1, key, token);
    }
  }
}
