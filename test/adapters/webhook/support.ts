// Fixtures of the webhook adapter tests: a fake CoreApi that records every call (and owns
// idempotence, as the real core does), a config builder, a keyring, a silent logger, the API
// routes over a fake core, a local node:http receiver standing in for the provider's webhook
// endpoint, and a polling wait.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { CoreApi, MessageStatus, OutboundMessage } from '../../../adapters/contract.ts';
import { webhookConfigSchema, type WebhookConfig } from '../../../adapters/webhook/config.ts';
import { createWebhookConnector } from '../../../adapters/webhook/index.ts';
import { Keyring } from '../../../src/crypto/keyring.ts';

export const API_TOKEN = 'test-api-token-0123456789';
export const WEBHOOK_SECRET = 'test-webhook-secret-abcdef';
export const AUTH = { authorization: `Bearer ${API_TOKEN}` };

export const silentLogger = pino({ level: 'silent' });
export const newKeyring = (): Keyring => new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');

export function webhookConfig(over: Record<string, unknown> = {}): WebhookConfig {
  return webhookConfigSchema.parse({
    api_tokens: [API_TOKEN, 'second-token-for-rotation'],
    webhook_url: 'http://127.0.0.1:9/unused',
    webhook_secret: WEBHOOK_SECRET,
    ...over,
  });
}

type Call =
  | { fn: 'submit'; adapterId: string; m: OutboundMessage }
  | { fn: 'statuses'; adapterId: string; ref: string }
  | { fn: 'setInterop'; adapterId: string; user: string; enabled: boolean }
  | { fn: 'lookup'; user: string; phone: string }
  | { fn: 'markRead'; user: string; peer: string; ids: string[]; type: 'read' | 'played' }
  | { fn: 'acknowledgeIdentity'; user: string; peer: string };

/** A CoreApi that records calls. Idempotence by key, as the core does it; `phones` answers lookups. */
export class FakeCore implements CoreApi {
  readonly providerId = 'birdy';
  readonly calls: Call[] = [];
  readonly phones = new Map<string, string>([['+447700900123', '447700900123@hub']]);
  readonly #byKey = new Map<string, MessageStatus[]>();
  #n = 0;

  called(fn: Call['fn']): Call[] {
    return this.calls.filter((c) => c.fn === fn);
  }

  /** The calls to its write side: all but its reads (statuses, lookup). */
  writes(): Call[] {
    return this.calls.filter((c) => c.fn !== 'statuses' && c.fn !== 'lookup');
  }

  async submit(adapterId: string, m: OutboundMessage): Promise<{ messageId: string; duplicate: boolean }> {
    this.calls.push({ fn: 'submit', adapterId, m });
    const known = this.#byKey.get(m.idempotencyKey);
    if (known?.[0]) return { messageId: known[0].messageId, duplicate: true };
    const messageId = `MSG${String(++this.#n).padStart(8, '0')}`;
    this.#byKey.set(m.idempotencyKey, [{ messageId, idempotencyKey: m.idempotencyKey, from: m.from, to: m.to, state: 'queued', at: 1_763_800_000_000 }]);
    return { messageId, duplicate: false };
  }

  /** Appends a status to a submitted message's history (as the core's delivery would). */
  addStatus(key: string, s: Partial<MessageStatus> & Pick<MessageStatus, 'state'>): void {
    const list = this.#byKey.get(key);
    if (!list?.[0]) throw new Error(`no message with key ${key}`);
    list.push({ ...list[0], at: list[0].at + 1000 * list.length, ...s });
  }

  async statuses(adapterId: string, ref: string): Promise<MessageStatus[] | undefined> {
    this.calls.push({ fn: 'statuses', adapterId, ref });
    return this.#byKey.get(ref) ?? [...this.#byKey.values()].find((l) => l[0]?.messageId === ref);
  }

  async setInterop(adapterId: string, user: string, enabled: boolean): Promise<void> {
    this.calls.push({ fn: 'setInterop', adapterId, user, enabled });
  }

  async lookup(user: string, phone: string): Promise<string | undefined> {
    this.calls.push({ fn: 'lookup', user, phone });
    return this.phones.get(phone);
  }

  async markRead(user: string, peer: string, ids: string[], type: 'read' | 'played'): Promise<void> {
    this.calls.push({ fn: 'markRead', user, peer, ids, type });
  }

  async uploadMedia(u: { kind: string; mime: string; body: ReadableStream<Uint8Array> }): Promise<{ uploadId: string; mime: string; size: number }> {
    let size = 0;
    for await (const chunk of u.body) size += chunk.length;
    return { uploadId: 'UPLOAD0001', mime: u.mime, size };
  }

  async acknowledgeIdentity(user: string, peer: string): Promise<boolean> {
    this.calls.push({ fn: 'acknowledgeIdentity', user, peer });
    return true;
  }
}

/** The provider API's routes, as a test sends requests to them. */
export interface Api {
  request: (path: string, init?: RequestInit) => Response | Promise<Response>;
}

/**
 * The routes of a webhook connector `id` (default config) over a new FakeCore: on `store`, or by
 * default on a stand-in Redis (enough where the routes never touch it).
 */
export function apiOnFakeCore(id: string, store: { redis: Redis; prefix: string } = { redis: {} as Redis, prefix: 'unused' }): { core: FakeCore; app: Api } {
  const core = new FakeCore();
  const connector = createWebhookConnector({ id, config: webhookConfig(), redis: store.redis, keyring: newKeyring(), prefix: store.prefix, logger: silentLogger });
  connector.init(core);
  return { core, app: connector.routes?.() as Api };
}

/** The JSON body of a 4xx answer of the API. */
export interface ErrorBody {
  error: string;
  issues?: Array<{ field: string; in: string; message: string }>;
}

/** The fields an error body names, sorted. */
export const fields = (b: ErrorBody): string[] => (b.issues ?? []).map((i) => i.field).sort();

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What the receiver does with request number `n` (0-based): a status code, or hang (never answer). */
export type Behaviour = (n: number, r: Received) => number | 'hang';

/** The provider's webhook endpoint: records every request; answers as `behaviour` says. */
export class Receiver {
  readonly requests: Received[] = [];
  behaviour: Behaviour = () => 200;
  #server: Server | undefined;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  async start(port = 0): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: Received = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
        const n = this.requests.push(r) - 1;
        const answer = this.behaviour(n, r);
        if (answer !== 'hang') res.writeHead(answer, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }

  /** Bodies parsed as JSON. */
  events(): Array<{ event_id: string; type: string; data: Record<string, unknown> }> {
    return this.requests.map((r) => JSON.parse(r.body) as { event_id: string; type: string; data: Record<string, unknown> });
  }
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const r = await new Receiver().start();
  const port = r.port;
  await r.stop();
  return port;
}

export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
