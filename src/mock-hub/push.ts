// Hub → provider pushes (spec 9): when a stanza is stored for a user with no open session, POST
// {user, pending} to the provider's push_url, signed with X-Hub-Signature (pushSignatureHeader of
// src/protocol). Non-2xx answers and network errors are retried with exponential backoff until
// `push_retry_for_s` has passed since the first attempt. One retry loop per user at a time; each
// attempt reads the current pending count and stops when the user has a session again. Every
// attempt is recorded for GET /control/pushes. Push secrets and bodies are never logged.
import type { Logger } from 'pino';
import { pushSignatureHeader } from '../protocol/index.ts';
import type { Timers } from './timers.ts';

export interface PushTarget {
  url: string;
  secret: string;
}

export interface PushRecord {
  user: string;
  pending: number;
  /** HTTP status, or an error name when there was no answer. */
  status: number | string;
  at_ms: number;
}

export interface PusherOptions {
  timers: Timers;
  retryForMs: number;
  logger: Logger;
  /** First backoff; doubled per attempt up to maxBackoffMs. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  timeoutMs?: number;
  now?: () => number;
  onSent?: (user: string) => void;
}

/** Current pending count, or undefined to stop pushing (user has a session, or nothing pending). */
export type PendingProbe = () => number | undefined;

const MAX_RECORDS = 1000;

export class Pusher {
  readonly records: PushRecord[] = [];
  readonly #opts: PusherOptions;
  readonly #now: () => number;
  readonly #active = new Set<string>();
  readonly #abort = new AbortController();

  constructor(opts: PusherOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Starts a push loop for `user` unless one is running (it will read the new pending count). */
  push(user: string, target: PushTarget, probe: PendingProbe): void {
    if (this.#active.has(user) || this.#opts.timers.closed) return;
    this.#active.add(user);
    const deadline = this.#now() + this.#opts.retryForMs;
    void this.#attempt(user, target, probe, deadline, 0);
  }

  isActive(user: string): boolean {
    return this.#active.has(user);
  }

  close(): void {
    this.#abort.abort();
    this.#active.clear();
  }

  async #attempt(user: string, target: PushTarget, probe: PendingProbe, deadline: number, n: number): Promise<void> {
    const pending = probe();
    if (pending === undefined || pending === 0 || this.#opts.timers.closed) {
      this.#active.delete(user);
      return;
    }
    const status = await this.#post(user, target, pending);
    this.#record({ user, pending, status, at_ms: this.#now() });
    if (typeof status === 'number' && status >= 200 && status < 300) {
      this.#opts.onSent?.(user);
      // Stanzas stored while this push was in flight were not announced yet: push again.
      const now = probe();
      if (now !== undefined && now > pending && !this.#opts.timers.closed) return this.#attempt(user, target, probe, this.#now() + this.#opts.retryForMs, 0);
      this.#active.delete(user);
      return;
    }
    const base = this.#opts.baseBackoffMs ?? 500;
    const wait = Math.min(base * 2 ** n, this.#opts.maxBackoffMs ?? 60_000);
    if (this.#now() + wait > deadline || this.#opts.timers.closed) {
      this.#opts.logger.warn({ user, attempts: n + 1 }, 'push given up');
      this.#active.delete(user);
      return;
    }
    this.#opts.timers.after(wait, () => this.#attempt(user, target, probe, deadline, n + 1), (err) => {
      this.#active.delete(user);
      this.#opts.logger.error({ err }, 'push loop failed');
    });
  }

  async #post(user: string, target: PushTarget, pending: number): Promise<number | string> {
    const body = JSON.stringify({ user, pending });
    const t = Math.floor(this.#now() / 1000);
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature': pushSignatureHeader(target.secret, t, body) },
        body,
        signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#opts.timeoutMs ?? 5000)]),
      });
      await res.body?.cancel();
      return res.status;
    } catch (err) {
      const name = err instanceof Error ? (err.cause instanceof Error ? `${err.name}: ${err.cause.message}` : err.name) : 'error';
      this.#opts.logger.debug({ user, err: name }, 'push failed');
      return name;
    }
  }

  #record(r: PushRecord): void {
    this.records.push(r);
    if (this.records.length > MAX_RECORDS) this.records.splice(0, this.records.length - MAX_RECORDS);
  }
}
