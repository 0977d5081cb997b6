// Prometheus metrics of the sidecar (prom-client), one registry per process so that tests can run
// several instances side by side.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricSources {
  openSessions(): number;
  /** Jobs waiting, delayed or active per queue. */
  queueDepths(): Promise<Record<string, number>>;
}

export function createMetrics(sources?: MetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'causeway_' });
  return {
    registry,
    hubSessionsOpen: new Gauge({
      name: 'causeway_hub_sessions_open',
      help: 'Open HIP/1 sessions (one per provider user)',
      registers: [registry],
      collect() {
        if (sources) this.set(sources.openSessions());
      },
    }),
    queueDepth: new Gauge({
      name: 'causeway_queue_depth',
      help: 'Jobs waiting, delayed or running, per queue',
      labelNames: ['queue'] as const,
      registers: [registry],
      async collect() {
        if (!sources) return;
        for (const [queue, n] of Object.entries(await sources.queueDepths())) this.set({ queue }, n);
      },
    }),
    messages: new Counter({ name: 'causeway_messages_total', help: 'Messages by direction and outcome', labelNames: ['direction', 'outcome'] as const, registers: [registry] }),
    latency: new Histogram({
      name: 'causeway_message_latency_seconds',
      help: 'From hand-over to server ack (outbound) or to adapter delivery (inbound)',
      labelNames: ['direction'] as const,
      buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
