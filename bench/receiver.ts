// The provider's webhook endpoint during a bench run: answers every POST 200 at once and notes
// when each `message.received` event arrived (by hub message id) and how many `message.status`
// events came, by state. Signatures are not checked: the tests do that; here it would only add
// bench-process CPU that is not the sidecar's.
import { createServer, type Server } from 'node:http';

export type ArrivalObserver = (id: string, atMs: number) => void;

type BenchEvent = { type?: string; data?: { id?: string; state?: string } };

export class BenchReceiver {
  readonly statuses = new Map<string, number>();
  received = 0;
  #server: Server | undefined;
  #observer: ArrivalObserver | undefined;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  /** Called for every message.received event as it arrives (one observer at a time). */
  observe(fn: ArrivalObserver | undefined): void {
    this.#observer = fn;
  }

  status(state: string): number {
    return this.statuses.get(state) ?? 0;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const at = Date.now();
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as BenchEvent & { events?: BenchEvent[] };
          // A batch (max_events_per_post above 1) carries the events it holds, in order.
          for (const e of Array.isArray(body.events) ? body.events : [body]) this.#event(e, at);
        } catch {
          // not an event: ignored
        }
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
    return this;
  }

  #event(e: BenchEvent, at: number): void {
    if (e.type === 'message.received' && typeof e.data?.id === 'string') {
      this.received++;
      this.#observer?.(e.data.id, at);
    } else if (e.type === 'message.status' && typeof e.data?.state === 'string') {
      this.statuses.set(e.data.state, this.status(e.data.state) + 1);
    }
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
