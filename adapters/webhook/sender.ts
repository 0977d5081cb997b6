// One POST of one event to the provider's webhook URL, signed, within the timeout, over node:http
// or node:https with a keep-alive Agent (a bounded pool of sockets reused across events). Any 2xx
// acknowledges the event; anything else (other statuses, redirects, network errors, timeouts) is
// a failure to be retried. Redirects are not followed: the signed body goes only where configured.
// The result carries no response body, so nothing the provider answers ends up in logs or Redis.
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ATTEMPT_HEADER, EVENT_COUNT_HEADER, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signWebhook } from './signature.ts';

export interface PostTarget {
  url: string;
  /** The revealed webhook secret. */
  secret: () => string;
  timeoutMs: number;
}

export type PostResult = { ok: true; status: number } | { ok: false; status?: number; error: string };

export interface PostRequest {
  /** The event's id; absent on a batch (its events carry theirs). */
  eventId?: string;
  /** The event type, or `batch`. */
  type: string;
  body: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Events in a batch. */
  count?: number;
}

/** POSTs events to one URL through a keep-alive pool of at most `maxSockets` connections. */
export class Sender {
  readonly #target: PostTarget;
  readonly #url: URL;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;

  constructor(target: PostTarget, maxSockets: number) {
    this.#target = target;
    this.#url = new URL(target.url);
    const https = this.#url.protocol === 'https:';
    const opts = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
    this.#agent = https ? new HttpsAgent(opts) : new HttpAgent(opts);
    this.#request = https ? httpsRequest : httpRequest;
  }

  /** Closes the pooled connections (requests in flight finish or fail on their own). */
  close(): void {
    this.#agent.destroy();
  }

  async post(r: PostRequest): Promise<PostResult> {
    let res = await this.#once(r);
    // A kept-alive socket the provider closed just as we reused it: the request most likely never
    // reached it, so try once more on a fresh connection instead of spending an attempt and a
    // backoff (at worst the provider sees the event twice, which its event id dedupes).
    if (!res.ok && res.reused === true && res.error === 'network error (ECONNRESET)') res = await this.#once(r);
    const { reused: _, ...result } = res;
    return result;
  }

  #once(r: PostRequest): Promise<PostResult & { reused?: boolean }> {
    const t = this.#target;
    const body = Buffer.from(r.body, 'utf8');
    return new Promise((resolve) => {
      let done = false;
      const finish = (res: PostResult & { reused?: boolean }) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(res);
      };
      const req: ClientRequest = this.#request(this.#url, {
        method: 'POST',
        agent: this.#agent,
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          'user-agent': 'Causeway-Webhook/1',
          ...(r.eventId !== undefined ? { [EVENT_ID_HEADER]: r.eventId } : {}),
          ...(r.count !== undefined ? { [EVENT_COUNT_HEADER]: String(r.count) } : {}),
          [EVENT_TYPE_HEADER]: r.type,
          [ATTEMPT_HEADER]: String(r.attempt),
          [SIGNATURE_HEADER]: signWebhook(t.secret(), r.body),
        },
      }, (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        // Read (and drop) what the provider said, so that the socket goes back to the pool.
        res.on('error', () => finish({ ok: false, status, error: 'network error (response aborted)' }));
        res.on('end', () => finish(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `HTTP ${status}` }));
        res.resume();
      });
      const timer = setTimeout(() => {
        finish({ ok: false, error: `timeout after ${t.timeoutMs} ms` });
        req.destroy();
      }, t.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        finish({ ok: false, error: `network error (${typeof err.code === 'string' ? err.code : err.name})`, reused: req.reusedSocket });
      });
      req.end(body);
    });
  }
}
