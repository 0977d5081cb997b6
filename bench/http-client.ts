// The load generator's HTTP client: node:http with a keep-alive agent (fetch costs the bench
// process more CPU per request, and that CPU is shared with the sidecar on a 2-core machine).
import { Agent, request } from 'node:http';

export interface JsonResponse {
  status: number;
  body: Record<string, unknown>;
}

export class HttpClient {
  readonly #base: URL;
  readonly #agent: Agent;
  readonly #headers: Record<string, string>;

  constructor(base: string, headers: Record<string, string> = {}, maxSockets = 64) {
    this.#base = new URL(base);
    this.#agent = new Agent({ keepAlive: true, maxSockets });
    this.#headers = headers;
  }

  /** One request with a JSON (or raw string) body; the answer parsed as JSON when it is. */
  send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<JsonResponse> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request({
        host: this.#base.hostname, port: this.#base.port, path, method, agent: this.#agent, timeout: timeoutMs,
        headers: {
          ...this.#headers,
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          ...headers,
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: parseBody(text) });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

function parseBody(text: string): Record<string, unknown> {
  try {
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    return { text };
  }
}
