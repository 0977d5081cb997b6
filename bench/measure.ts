// Small measuring helpers of the bench: percentiles and medians, CPU time and RSS of another
// process read from /proc (Linux), and bounded waiting. No IO beyond /proc reads.
import { readFileSync } from 'node:fs';

/** Nearest-rank percentile of unsorted values; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return Number.NaN;
  const s = [...finite].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Spread of samples as (max − min) / median, to show the noise beside a median. */
export function spread(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  const m = median(finite);
  if (finite.length < 2 || !Number.isFinite(m) || m === 0) return 0;
  return (Math.max(...finite) - Math.min(...finite)) / m;
}

const TICKS_PER_S = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far; 0 if it cannot be read. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
  } catch {
    return 0;
  }
}

/** Resident set size of a process in bytes (VmRSS); 0 if it cannot be read. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU use of several processes over a phase: seconds of CPU each, from `start()` to `stop()`. */
export class CpuMeter {
  readonly #pids: Record<string, number>;
  #at: Record<string, number> = {};
  #self = process.cpuUsage();
  constructor(pids: Record<string, number>) {
    this.#pids = pids;
  }
  start(): void {
    this.#at = Object.fromEntries(Object.entries(this.#pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
    this.#self = process.cpuUsage();
  }
  /** CPU seconds per process name since start(); `bench` is this process. */
  stop(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, pid] of Object.entries(this.#pids)) out[k] = cpuSeconds(pid) - (this.#at[k] ?? 0);
    const u = process.cpuUsage(this.#self);
    out.bench = (u.user + u.system) / 1e6;
    return out;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `ok` until it holds or `ms` passed; returns whether it held. */
export async function waitFor(ok: () => boolean | Promise<boolean>, ms: number, every = 50): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await ok()) return true;
    if (Date.now() > deadline) return false;
    await sleep(every);
  }
}

/** Monotonic microseconds, the clock V8 CPU profiles use (CLOCK_MONOTONIC on Linux). */
export const monoMicros = (): number => Number(process.hrtime.bigint() / 1000n);
