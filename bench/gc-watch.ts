// Garbage collections of a process, for finding latency tails: load it into the Causeway child with
//   CAUSEWAY_BENCH_CHILD_NODE_OPTIONS='--import ./bench/gc-watch.ts' npm run bench -- --quick …
// Every pause over 10 ms is written to stderr as it happens (the child's stderr is the bench's log
// file for it: the bench prints that file's path), and a summary per kind when the process ends:
//   gc-watch pause minor 15.2 ms at 1795359616443 (epoch ms)
//   gc-watch summary {"minor":{"n":55,"ms":735.9,"over10":42,"max":26.5},"major":{…}}
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
const stats: Record<string, { n: number; ms: number; over10: number; max: number }> = {};

function count(entries: PerformanceEntry[]): void {
  for (const e of entries as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
    const kind = KINDS[e.detail?.kind ?? -1] ?? 'other';
    const s = (stats[kind] ??= { n: 0, ms: 0, over10: 0, max: 0 });
    s.n++;
    s.ms += e.duration;
    s.max = Math.max(s.max, e.duration);
    if (e.duration > 10) {
      s.over10++;
      process.stderr.write(`gc-watch pause ${kind} ${e.duration.toFixed(1)} ms at ${Math.round(performance.timeOrigin + e.startTime)}\n`);
    }
  }
}

const observer = new PerformanceObserver((list) => count(list.getEntries()));
observer.observe({ entryTypes: ['gc'] });

const summary = (): void => {
  count(observer.takeRecords()); // entries not yet delivered to the callback
  const rounded = Object.fromEntries(Object.entries(stats).map(([k, s]) => [k, { ...s, ms: Math.round(s.ms * 10) / 10, max: Math.round(s.max * 10) / 10 }]));
  process.stderr.write(`gc-watch summary ${JSON.stringify(rounded)}\n`);
};
process.once('exit', summary);
