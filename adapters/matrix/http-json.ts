// JSON requests to the homeserver over node:http(s) with keep-alive agents: the bridge makes one
// or more client-server API calls per bridged message (a send-status event at least), and `fetch`
// costs several times more CPU per request than a plain keep-alive request (measured in the
// Matrix bench). Bounded: a response body over MAX_BODY bytes, or a request slower than
// TIMEOUT_MS, fails.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

const MAX_BODY = 16 * 1024 * 1024;
const TIMEOUT_MS = 60_000;

export interface JsonResponse {
  status: number;
  text: string;
}

export class HttpJson {
  readonly #http = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  readonly #https = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

  /**
   * One request; retried once when a kept-alive connection turned out to be closed by the server
   * before the request reached it (Node's documented race; the request was not received).
   */
  async request(method: string, url: URL, headers: Record<string, string>, body?: string): Promise<JsonResponse> {
    try {
      return await this.#once(method, url, headers, body);
    } catch (err) {
      if (!(err as { reusedSocket?: boolean }).reusedSocket || (err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err;
      return this.#once(method, url, headers, body);
    }
  }

  #once(method: string, url: URL, headers: Record<string, string>, body?: string): Promise<JsonResponse> {
    const tls = url.protocol === 'https:';
    const send = tls ? httpsRequest : httpRequest;
    const h: Record<string, string | number> = { ...headers };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    return new Promise<JsonResponse>((resolve, reject) => {
      let answered = false;
      const req = send(url, { method, headers: h, agent: tls ? this.#https : this.#http, timeout: TIMEOUT_MS }, (res: IncomingMessage) => {
        answered = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) {
            res.destroy(new Error(`${method} ${url.pathname}: response over ${MAX_BODY} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: no answer within ${TIMEOUT_MS} ms`)));
      req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket && !answered })));
      req.end(body);
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
