// In-process lane drains. A conversation lane (outbox.ts) is worked on by one process at a time,
// the holder of its lease (a Redis key with a token and a TTL, taken by the first claim, renewed
// while the process works on the lane, given up when the lane is empty or handed to BullMQ).
// Within a process, the runner starts at most one drain per lane and at most `concurrency` drains
// at once; lanes kicked beyond that wait their turn in memory. Nothing is lost by waiting in
// memory: the lane in Redis is the durable record, and the outbound sweep finds lanes that nobody
// holds after a crash (outbound-worker.ts).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';

export interface Lane {
  user: string;
  peer: string;
  /** The message to start with (the lane's head when kicked). */
  id: string;
}

export interface LaneRunnerOptions {
  concurrency: number;
  /** Works the lane from `lane.id` on; `again()` says whether the lane was kicked meanwhile. */
  drain: (lane: Lane, again: () => boolean) => Promise<void>;
  /** Renews the leases of the lanes being drained (every `renewMs`). */
  renew: (lanes: Lane[]) => Promise<void>;
  renewMs: number;
  logger: Logger;
}

/** How long a lease lasts without renewal: a crashed holder's lanes are free again after this. */
export const LEASE_MS = 15_000;

export class LaneRunner {
  /** This process's lease token. */
  readonly token = `${hostname()}:${process.pid}:${randomBytes(6).toString('base64url')}`;
  readonly #o: LaneRunnerOptions;
  readonly #waiting: Lane[] = [];
  /** Every lane kicked and not yet done here: waiting or draining; `again` when kicked meanwhile. */
  readonly #lanes = new Map<string, { lane: Lane; again: boolean; active: boolean }>();
  #active = 0;
  #closing = false;
  #idle: Array<() => void> = [];
  readonly #renewer: NodeJS.Timeout;

  constructor(o: LaneRunnerOptions) {
    this.#o = o;
    this.#renewer = setInterval(() => {
      const active = [...this.#lanes.values()].filter((l) => l.active).map((l) => l.lane);
      o.renew(active).catch((err: unknown) => o.logger.warn({ err: (err as Error).message }, 'lane lease renewal failed'));
    }, o.renewMs);
    this.#renewer.unref();
  }

  /** Lanes waiting for a slot plus lanes being drained. */
  get pending(): number {
    return this.#lanes.size;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Whether this process is draining (or about to drain) the lane. */
  has(user: string, peer: string): boolean {
    return this.#lanes.has(`${user}|${peer}`);
  }

  /** Makes sure the lane gets drained here, starting at `lane.id` if it is not already. */
  kick(lane: Lane): void {
    if (this.#closing) return; // the sweep of whichever process runs next picks it up
    const key = `${lane.user}|${lane.peer}`;
    const known = this.#lanes.get(key);
    if (known) {
      known.again = true;
      return;
    }
    this.#lanes.set(key, { lane, again: false, active: false });
    this.#waiting.push(lane);
    this.#pump();
  }

  #pump(): void {
    while (!this.#closing && this.#active < this.#o.concurrency && this.#waiting.length > 0) {
      const lane = this.#waiting.shift() as Lane;
      this.#active++;
      void this.#run(lane);
    }
  }

  async #run(lane: Lane): Promise<void> {
    const key = `${lane.user}|${lane.peer}`;
    const entry = this.#lanes.get(key);
    if (entry) entry.active = true;
    try {
      await this.#o.drain(lane, () => {
        const e = this.#lanes.get(key);
        if (!e?.again) return false;
        e.again = false;
        return true;
      });
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, 'lane drain failed; the sweep retries it');
    } finally {
      this.#lanes.delete(key);
      this.#active--;
      if (this.#active === 0) for (const r of this.#idle.splice(0)) r();
      this.#pump();
    }
  }

  /** Stops starting drains and waits up to `graceMs` for the running ones to stop. */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    clearInterval(this.#renewer);
    for (const l of this.#waiting.splice(0)) this.#lanes.delete(`${l.user}|${l.peer}`);
    if (this.#active === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((r) => this.#idle.push(r)),
      new Promise<void>((r) => (timer = setTimeout(r, graceMs))),
    ]);
    clearTimeout(timer);
  }
}
