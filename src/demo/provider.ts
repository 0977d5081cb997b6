// The demo provider: what a BirdyChat-style backend does with Causeway's webhook adapter. It
// receives signed webhooks (checking each signature) and calls Causeway's API with its token.
import { createServer, type Server } from 'node:http';
import { verifyWebhookSignature } from '../../adapters/webhook/signature.ts';

export interface DemoEvent {
  type: string;
  data: Record<string, unknown>;
}

export class DemoProvider {
  readonly secret: string;
  readonly #listeners: Array<(e: DemoEvent) => void> = [];
  #server: Server | undefined;
  url = '';
  api = '';
  token = '';
  forged = 0;

  constructor(secret: string) {
    this.secret = secret;
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const sig = req.headers['x-causeway-signature'];
        if (!verifyWebhookSignature(this.secret, typeof sig === 'string' ? sig : undefined, body, Math.floor(Date.now() / 1000))) {
          this.forged++;
          res.writeHead(401).end();
          return;
        }
        res.writeHead(204).end();
        const e = JSON.parse(body) as DemoEvent;
        for (const l of this.#listeners) l(e);
      });
    });
    await new Promise<void>((r) => this.#server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}/causeway-events`;
  }

  on(l: (e: DemoEvent) => void): void {
    this.#listeners.push(l);
  }

  /** Resolves with the first event that `match` accepts (or rejects after `ms`). */
  next(match: (e: DemoEvent) => boolean, ms: number, what: string): Promise<DemoEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      this.on((e) => {
        if (match(e)) {
          clearTimeout(timer);
          resolve(e);
        }
      });
    });
  }

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
    const r = await fetch(`${this.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await r.json().catch(() => ({}))) as Record<string, unknown>;
    if (!r.ok) throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(json)}`);
    return json;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
}
