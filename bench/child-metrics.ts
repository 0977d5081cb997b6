// Reads the Causeway child's own /metrics (prom-client default metrics): event-loop delay, which
// prom-client resets at every scrape (so a scrape before and one after a phase give that phase's
// figures), and GC time by kind (cumulative, so the phase's share is a difference).
//
// prom-client's loop figures come from perf_hooks.monitorEventLoopDelay, whose histogram records
// the whole interval between two of its timer ticks (10 ms by default): an idle loop reads ≈ 10 ms.
// The delay proper is that less the interval.
import { METRICS_TOKEN, type Stack } from './stack.ts';

export interface LoopFigures {
  /** Event-loop delay during the phase, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** GC pause time during the phase, ms: all kinds, and major (mark-compact) alone. */
  gcMs: number;
  gcMajorMs: number;
}

type Scrape = Map<string, number>;

/** prom-client's `eventLoopMonitoringPrecision` (src/metrics.ts leaves the default). */
const MONITOR_INTERVAL_MS = 10;
const lateBy = (seconds: number | undefined): number => (seconds === undefined ? Number.NaN : Math.max(0, seconds * 1000 - MONITOR_INTERVAL_MS));

export async function scrape(stack: Stack): Promise<Scrape> {
  const r = await stack.api.send('GET', '/metrics', undefined, { authorization: `Bearer ${METRICS_TOKEN}` }).catch(() => undefined);
  const out: Scrape = new Map();
  const text = typeof r?.body.text === 'string' ? r.body.text : '';
  for (const line of text.split('\n')) {
    const m = /^(causeway_nodejs_(?:eventloop_lag_(?:p99|max)_seconds|gc_duration_seconds_sum(?:\{kind="[a-z]+"\})?)) ([0-9.e+-]+)$/.exec(line);
    if (m) out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

/** The phase between two scrapes (`before` taken right before it; it reset the loop histogram). */
export function loopFigures(before: Scrape, after: Scrape): LoopFigures {
  const gc = (s: Scrape, kind?: string): number => {
    let sum = 0;
    for (const [k, v] of s) if (k.startsWith('causeway_nodejs_gc_duration_seconds_sum') && (kind === undefined || k.includes(`kind="${kind}"`))) sum += v;
    return sum;
  };
  return {
    loopDelayP99Ms: lateBy(after.get('causeway_nodejs_eventloop_lag_p99_seconds')),
    loopDelayMaxMs: lateBy(after.get('causeway_nodejs_eventloop_lag_max_seconds')),
    gcMs: (gc(after) - gc(before)) * 1000,
    gcMajorMs: (gc(after, 'major') - gc(before, 'major')) * 1000,
  };
}
