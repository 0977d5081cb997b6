// Fault injection for tests (PUT/DELETE /control/faults):
// - refuse_sessions_for_s: WebSocket upgrades are refused with HTTP 503 (+ Retry-After) for N s;
// - ack_delay_ms: every ack the hub sends for a message or receipt waits that long;
// - drop_acks_rate: that share of those acks is not sent at all (the stanza IS processed, so a
//   resend exercises idempotence, spec 4);
// - error: that share of messages/receipts is answered with an error ack 401 / 429 (retry-after) /
//   500 / 503 and not processed;
// - stop_routing_for_s: messages and receipts are accepted and acked but their delivery (both
//   directions) is held until the period ends or the faults are cleared.
// A PUT replaces the whole fault set. Randomness is injectable for tests.
import type { Timers, TimerHandle } from './timers.ts';

export interface FaultSpec {
  refuse_sessions_for_s?: number;
  ack_delay_ms?: number;
  drop_acks_rate?: number;
  error?: { rate: number; code: 401 | 429 | 500 | 503; retry_after?: number };
  stop_routing_for_s?: number;
}

export interface InjectedError {
  code: 401 | 429 | 500 | 503;
  reason: 'not-authorized' | 'rate-limited' | 'internal-error' | 'unavailable';
  retryAfter?: number;
}

const REASONS = { 401: 'not-authorized', 429: 'rate-limited', 500: 'internal-error', 503: 'unavailable' } as const;

export class Faults {
  #spec: FaultSpec = {};
  #refuseUntil = 0;
  #stopUntil = 0;
  #held: Array<() => void> = [];
  #release: TimerHandle | undefined;
  readonly #timers: Timers;
  readonly #random: () => number;
  readonly #now: () => number;

  constructor(timers: Timers, random: () => number = Math.random, now: () => number = Date.now) {
    this.#timers = timers;
    this.#random = random;
    this.#now = now;
  }

  set(spec: FaultSpec): void {
    this.clear();
    this.#spec = { ...spec };
    const now = this.#now();
    if (spec.refuse_sessions_for_s !== undefined) this.#refuseUntil = now + spec.refuse_sessions_for_s * 1000;
    if (spec.stop_routing_for_s !== undefined && spec.stop_routing_for_s > 0) {
      this.#stopUntil = now + spec.stop_routing_for_s * 1000;
      this.#release = this.#timers.after(spec.stop_routing_for_s * 1000, () => this.#flush());
    }
  }

  /** Clears every fault and releases held deliveries. */
  clear(): void {
    this.#spec = {};
    this.#refuseUntil = 0;
    this.#stopUntil = 0;
    this.#release?.cancel();
    this.#release = undefined;
    this.#flush();
  }

  snapshot(): FaultSpec & { refusing_sessions: boolean; routing_stopped: boolean; held: number } {
    return { ...this.#spec, refusing_sessions: this.refusingSessions(), routing_stopped: this.routingStopped(), held: this.#held.length };
  }

  /** True while new sessions are refused at the upgrade. */
  refusingSessions(): boolean {
    return this.#now() < this.#refuseUntil;
  }

  refuseRetryAfterS(): number {
    return Math.max(1, Math.ceil((this.#refuseUntil - this.#now()) / 1000));
  }

  routingStopped(): boolean {
    return this.#now() < this.#stopUntil;
  }

  /** Runs a delivery now, or holds it while routing is stopped. Returns true when held. */
  route(deliver: () => void): boolean {
    if (!this.routingStopped()) {
      deliver();
      return false;
    }
    this.#held.push(deliver);
    return true;
  }

  ackDelayMs(): number {
    return this.#spec.ack_delay_ms ?? 0;
  }

  dropAck(): boolean {
    const r = this.#spec.drop_acks_rate ?? 0;
    return r > 0 && this.#random() < r;
  }

  injectedError(): InjectedError | undefined {
    const e = this.#spec.error;
    if (e === undefined || e.rate <= 0 || this.#random() >= e.rate) return undefined;
    return {
      code: e.code,
      reason: REASONS[e.code],
      ...(e.code === 429 ? { retryAfter: e.retry_after ?? 1 } : {}),
    };
  }

  /** On close: held deliveries are dropped, not run. */
  discard(): void {
    this.#held = [];
    this.#release?.cancel();
  }

  #flush(): void {
    this.#stopUntil = 0;
    const held = this.#held;
    this.#held = [];
    for (const d of held) d();
  }
}
