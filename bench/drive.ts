// Drives `count` messages through a path and times each one from its start (POST sent, or hub
// send released) to its arrival (hub device inbox, or provider webhook). Two modes:
// - closed loop (`window`): at most `window` messages started and not yet arrived, as fast as the
//   path takes them: the throughput figure;
// - open loop (`rate`): message i starts at i / rate seconds whatever happens: the latency figure
//   at a paced rate (a path that cannot keep up shows it as growing latency).
// Bounded in time: whatever has not arrived by `deadlineMs` counts as missing.
import { percentile } from './measure.ts';

export interface DriveOptions {
  count: number;
  window?: number;
  rate?: number;
  deadlineMs: number;
  /** Starts message i; resolves with its id (which may be learnt only after it arrived). */
  start(i: number): Promise<string>;
  /**
   * Closed loop only: messages are started `batch` at a time (the last group may be smaller) with
   * `startMany(first, n)`, which resolves with their ids in order; each is timed from its group's start.
   */
  batch?: { size: number; startMany(first: number, n: number): Promise<string[]> };
}

export interface DriveResult {
  started: number;
  arrived: number;
  failed: number;
  /** Seconds from the first start to the last arrival. */
  seconds: number;
  /** Arrivals per second over those seconds. */
  rate: number;
  p50: number;
  p99: number;
  max: number;
  /** Offered rate in open-loop mode. */
  offered?: number;
}

export class Driver {
  readonly #arrivedEarly = new Map<string, number>();
  readonly #waiting = new Map<string, number>();
  readonly #latencies: number[] = [];
  #firstStart = 0;
  #lastArrival = 0;
  #failed = 0;
  #onProgress: () => void = () => undefined;

  /** An arrival seen by an observer (hub inbox or webhook receiver). */
  arrived(id: string, atMs: number): void {
    const startedAt = this.#waiting.get(id);
    if (startedAt === undefined) {
      this.#arrivedEarly.set(id, atMs);
      return;
    }
    this.#waiting.delete(id);
    this.#record(startedAt, atMs);
  }

  #record(startedAt: number, atMs: number): void {
    this.#latencies.push(atMs - startedAt);
    if (atMs > this.#lastArrival) this.#lastArrival = atMs;
    this.#onProgress();
  }

  #started(id: string, startedAt: number): void {
    const early = this.#arrivedEarly.get(id);
    if (early === undefined) {
      this.#waiting.set(id, startedAt);
      return;
    }
    this.#arrivedEarly.delete(id);
    this.#record(startedAt, early);
  }

  async run(o: DriveOptions): Promise<DriveResult> {
    let next = 0;
    const done = (): number => this.#latencies.length + this.#failed;
    const startOne = (): void => {
      const i = next++;
      const at = Date.now();
      if (this.#firstStart === 0) this.#firstStart = at;
      o.start(i).then(
        (id) => this.#started(id, at),
        () => {
          this.#failed++;
          this.#onProgress();
        },
      );
    };
    const deadline = Date.now() + o.deadlineMs;
    await new Promise<void>((resolve) => {
      const finish = (): void => {
        clearInterval(timer);
        resolve();
      };
      const startGroup = (b: NonNullable<DriveOptions['batch']>): void => {
        const first = next;
        const n = Math.min(b.size, o.count - first);
        next += n;
        const at = Date.now();
        if (this.#firstStart === 0) this.#firstStart = at;
        b.startMany(first, n).then(
          (ids) => {
            for (const id of ids) this.#started(id, at);
          },
          () => {
            this.#failed += n;
            this.#onProgress();
          },
        );
      };
      const pump = (): void => {
        if (o.window !== undefined && o.batch) {
          const b = o.batch;
          while (next < o.count && next - done() + Math.min(b.size, o.count - next) <= o.window) startGroup(b);
        } else if (o.window !== undefined) while (next < o.count && next - done() < o.window) startOne();
        if (done() >= o.count || Date.now() > deadline) finish();
      };
      this.#onProgress = pump;
      const t0 = Date.now();
      const timer = setInterval(() => {
        if (o.rate !== undefined) {
          const due = Math.min(o.count, Math.floor(((Date.now() - t0) / 1000) * o.rate) + 1);
          while (next < due) startOne();
        }
        pump();
      }, 1);
      pump();
    });
    this.#onProgress = () => undefined;
    const arrived = this.#latencies.length;
    const seconds = Math.max(0.001, (this.#lastArrival - this.#firstStart) / 1000);
    return {
      started: next, arrived, failed: this.#failed, seconds, rate: arrived / seconds,
      p50: percentile(this.#latencies, 50), p99: percentile(this.#latencies, 99), max: percentile(this.#latencies, 100),
      ...(o.rate !== undefined ? { offered: o.rate } : {}),
    };
  }
}
