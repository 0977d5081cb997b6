// Shared pieces of the end-to-end tests: an in-process mock hub with provider "birdy", a control
// API client, a local push receiver (spec 9) and a polling helper.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { mockHubConfigSchema } from '../../src/mock-hub/config.ts';
import type { MockHubConfigInput } from '../../src/mock-hub/config.ts';
import { startMockHub } from '../../src/mock-hub/index.ts';
import type { MockHub } from '../../src/mock-hub/index.ts';
import { ReferenceProviderClient, generateProviderKey } from '../../src/mock-hub/reference-client/index.ts';
import type { ProviderKey, ReferenceClientOptions } from '../../src/mock-hub/reference-client/index.ts';
import type { InboxEntry } from '../../src/mock-hub/index.ts';

/** What the control API answers for a hub user's inbox (the mock hub's own type). */
export type { InboxEntry };

export const ADMIN_TOKEN = 'e2e-admin-token-0123456789';
export const PUSH_SECRET = 'e2e-push-secret-abcdef';

export interface Push { headers: Record<string, string | string[] | undefined>; body: string; at: number }

export interface PushReceiver { url: string; pushes: Push[]; close(): Promise<void> }

/** A provider push endpoint that records every POST and answers 202. */
export async function startPushReceiver(): Promise<PushReceiver> {
  const pushes: Push[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      pushes.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/push`,
    pushes,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export interface TestHub {
  hub: MockHub;
  key: ProviderKey;
  push: PushReceiver;
  control: ControlApi;
  client(local: string, extra?: Partial<ReferenceClientOptions>): Promise<ReferenceProviderClient>;
  close(): Promise<void>;
}

/** Starts the mock hub on a free port with provider "birdy" (static JWKS, push to a local receiver). */
export async function startTestHub(users: NonNullable<MockHubConfigInput['users']> = []): Promise<TestHub> {
  const key = await generateProviderKey();
  const push = await startPushReceiver();
  const config = mockHubConfigSchema.parse({
    listen: { host: '127.0.0.1', port: 0 },
    admin_token: ADMIN_TOKEN,
    providers: [{ id: 'birdy', name: 'BirdyChat', jwks: { keys: [key.publicJwk] }, push_url: push.url, push_secret: PUSH_SECRET }],
    users,
  } satisfies MockHubConfigInput);
  const hub = await startMockHub(config, { logger: pino({ level: 'silent' }) });
  const clients: ReferenceProviderClient[] = [];
  return {
    hub, key, push,
    control: new ControlApi(hub.url),
    async client(local, extra = {}) {
      const c = await ReferenceProviderClient.create({ wsUrl: hub.wsUrl, providerId: 'birdy', local, privateJwk: key.privateJwk, kid: key.kid, ...extra });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await hub.close();
      await push.close();
    },
  };
}

/** The mock hub's control API (JSON, Bearer admin token). */
export class ControlApi {
  readonly #base: string;
  constructor(base: string) {
    this.#base = base;
  }

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`${this.#base}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  }

  /** Like request, but throws unless the status is the expected one. */
  async expect<T>(status: number, method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.request(method, path, body);
    if (r.status !== status) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.json)} (expected ${status})`);
    return r.json as T;
  }

  async inbox(jid: string): Promise<InboxEntry[]> {
    return (await this.expect<{ messages: InboxEntry[] }>(200, 'GET', `/control/users/${encodeURIComponent(jid)}/inbox`)).messages;
  }
}


/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
