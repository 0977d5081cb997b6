// The measured phases of a bench run over one stack: throughput samples of each path (with the CPU
// each process spent and the Redis commands run, per message), paced-latency samples, and a short
// MONITOR phase that attributes Redis round trips to the sidecar's parts.
import { loopFigures, scrape, type LoopFigures } from './child-metrics.ts';
import type { DriveResult } from './drive.ts';
import { CpuMeter, median, monoMicros, spread } from './measure.ts';
import { inbound, outbound, settle, type RunOptions } from './paths.ts';
import { commandStats, type BenchRedis } from './redis-server.ts';
import { RedisMonitor, type RedisAttribution } from './redis-monitor.ts';
import type { Stack } from './stack.ts';

export type Direction = 'outbound' | 'inbound';

export interface PathSample {
  count: number;
  arrived: number;
  failed: number;
  rate: number;
  p50: number;
  p99: number;
  max: number;
  /** CPU µs per message of each process (causeway, redis, bench), settling included. */
  cpuUsPerMsg: Record<string, number>;
  /** Redis commands per message (scripted ones included), from INFO commandstats. */
  redisCommandsPerMsg: number;
}

export interface PathFigures {
  samples: PathSample[];
  rate: number;
  p50: number;
  p99: number;
  /** (max − min) / median of the rates: the noise between samples. */
  spread: number;
  cpuUsPerMsg: Record<string, number>;
  redisCommandsPerMsg: number;
}

export class Phases {
  readonly #stack: Stack;
  readonly #redis: BenchRedis;
  readonly #deadlineMs: number;
  readonly #cpu: CpuMeter;
  /** `sent` statuses the webhook should have had so far (every outbound message yields one). */
  #expectedSent: number;
  /** Monotonic µs windows of the throughput samples (for the CPU profile). */
  readonly windows: Record<Direction, Array<[number, number]>> = { outbound: [], inbound: [] };

  constructor(stack: Stack, redis: BenchRedis, deadlineMs: number, alreadySent: number) {
    this.#stack = stack;
    this.#redis = redis;
    this.#deadlineMs = deadlineMs;
    this.#cpu = new CpuMeter({ causeway: stack.pid, redis: redis.pid });
    this.#expectedSent = alreadySent;
  }

  async #drive(dir: Direction, o: Omit<RunOptions, 'deadlineMs' | 'beforeStart'>, onStart?: () => void): Promise<DriveResult> {
    const run = { ...o, deadlineMs: this.#deadlineMs, ...(onStart ? { beforeStart: onStart } : {}) };
    const r = dir === 'outbound' ? await outbound(this.#stack, run) : await inbound(this.#stack, run);
    if (dir === 'outbound') this.#expectedSent += r.arrived;
    await settle(this.#stack, this.#expectedSent, this.#deadlineMs);
    return r;
  }

  /**
   * One closed-loop throughput sample of `count` messages; outbound with `batch`, the load generator
   * POSTs that many messages per request to /v1/messages/batch (kept out of the profile's windows).
   */
  async throughput(dir: Direction, count: number, window = 512, batch?: number): Promise<PathSample> {
    let from = 0;
    const r = await this.#drive(dir, { count, window, ...(batch !== undefined ? { batch } : {}) }, () => {
      void this.#redis.client.config('RESETSTAT');
      this.#cpu.start();
      from = monoMicros();
    });
    const to = monoMicros();
    const cpu = this.#cpu.stop();
    const cmds = Object.values(await commandStats(this.#redis.client)).reduce((a, b) => a + b, 0);
    if (batch === undefined) this.windows[dir].push([from, to]);
    const per = Math.max(1, r.arrived);
    return {
      count, arrived: r.arrived, failed: r.failed, rate: r.rate, p50: r.p50, p99: r.p99, max: r.max,
      cpuUsPerMsg: Object.fromEntries(Object.entries(cpu).map(([k, s]) => [k, (s * 1e6) / per])),
      redisCommandsPerMsg: cmds / per,
    };
  }

  /** One open-loop sample at `rate` messages per second for `seconds`, with the child's event loop. */
  async paced(dir: Direction, rate: number, seconds: number): Promise<DriveResult & LoopFigures> {
    let before = new Map<string, number>();
    const r = await this.#drive(dir, { count: Math.max(1, Math.round(rate * seconds)), rate }, () => {
      void scrape(this.#stack).then((s) => (before = s));
    });
    return { ...r, ...loopFigures(before, await scrape(this.#stack)) };
  }

  /** Redis round trips and commands per message by part, over `count` messages at `rate`. */
  async attribute(dir: Direction, count: number, rate: number): Promise<RedisAttribution & { messages: number }> {
    const m = new RedisMonitor(this.#redis.url, this.#stack.prefix);
    await m.start();
    try {
      const r = await this.#drive(dir, { count, rate });
      return { ...m.stop(), messages: Math.max(1, r.arrived) };
    } finally {
      m.stop();
    }
  }
}

export function figures(samples: PathSample[]): PathFigures {
  const keys = Object.keys(samples[0]?.cpuUsPerMsg ?? {});
  return {
    samples,
    rate: median(samples.map((s) => s.rate)),
    p50: median(samples.map((s) => s.p50)),
    p99: median(samples.map((s) => s.p99)),
    spread: spread(samples.map((s) => s.rate)),
    cpuUsPerMsg: Object.fromEntries(keys.map((k) => [k, median(samples.map((s) => s.cpuUsPerMsg[k] ?? Number.NaN))])),
    redisCommandsPerMsg: median(samples.map((s) => s.redisCommandsPerMsg)),
  };
}
