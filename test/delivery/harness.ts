// A Causeway core wired to a real Redis and an in-process mock hub, with a recording connector in
// place of an adapter: what the delivery tests drive.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import pino from 'pino';
import type { Capabilities, Connector, CoreApi, InboundMessage, MessageStatus, Notice } from '../../adapters/contract.ts';
import { Core } from '../../src/core.ts';
import { policySchema } from '../../src/config/policy-schema.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { ProviderKey } from '../../src/hub/provider-key.ts';
import { SessionManager } from '../../src/hub/sessions.ts';
import { startMockHub, type MockHub, type MockHubConfigInput } from '../../src/mock-hub/index.ts';
import { testRedis } from '../support/redis.ts';

export const ADMIN = 'delivery-test-admin';

export class RecordingConnector implements Connector {
  readonly type = 'recording';
  readonly id = 'rec';
  readonly capabilities: Capabilities = { media: [], receipts: true, features: [] };
  core!: CoreApi;
  readonly delivered: InboundMessage[] = [];
  readonly statuses: MessageStatus[] = [];
  readonly notices: Notice[] = [];
  init(core: CoreApi): void {
    this.core = core;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async deliver(m: InboundMessage): Promise<void> {
    this.delivered.push(m);
  }
  async status(s: MessageStatus): Promise<void> {
    this.statuses.push(s);
  }
  async notice(n: Notice): Promise<void> {
    this.notices.push(n);
  }
}

export async function until<T>(f: () => T | undefined | false, ms = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Like until, for an async probe (an HTTP call to the hub's control API…). */
export async function eventually<T>(f: () => Promise<T | undefined | false>, ms = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function harness(hubConfig: Partial<MockHubConfigInput> = {}, coreOverrides: Partial<ConstructorParameters<typeof Core>[0]> = {}, options: { ownership?: boolean; onClosed?: (user: string, code: number) => void } = {}) {
  const { redis, prefix, cleanup } = testRedis();
  const kek = randomBytes(32);
  const { privateKey } = generateKeyPairSync('ed25519');
  const key = await ProviderKey.load(JSON.stringify(privateKey.export({ format: 'jwk' })), 'birdy-1');
  const logger = pino({ level: process.env.CAUSEWAY_TEST_LOG ?? 'silent' });
  const hub: MockHub = await startMockHub(
    {
      listen: { host: '127.0.0.1', port: 0 },
      admin_token: ADMIN,
      providers: [{ id: 'birdy', name: 'BirdyChat', jwks: key.jwks() as { keys: Array<Record<string, unknown>> } }],
      ...hubConfig,
    },
    { logger },
  );
  const keyring = new Keyring([{ id: 'k1', key: kek }], 'k1');
  /** A Causeway replica on the same hub and Redis: its own session manager and core. */
  const replica = async (ownership: boolean, onClosed?: (user: string, code: number) => void) => {
    const ref: { core?: Core } = {};
    const sessions = new SessionManager({
      hubUrl: hub.url.replace(/^http/, 'ws'), hubId: 'hub', providerId: 'birdy', key, tokenTtlS: 60,
      maxOpen: 100, idleCloseMs: 60_000, reconnectMinMs: 50, reconnectMaxMs: 500,
      onInbound: (conn, s) => ref.core?.onInbound(conn, s),
      onOpened: (conn) => ref.core?.onOpened(conn),
      ...(onClosed ? { onClosed } : {}),
      ...(ownership ? { ownership: { redis, prefix } } : {}),
    });
    const core = new Core({
      redis, keyring, prefix, providerId: 'birdy', sessions,
      maxTextBytes: 65_536, maxAttempts: 5, backoff: { base: 100, max: 1000 }, concurrency: 8, ackTimeoutMs: 1000, maxQueueAgeMs: 3_600_000, preKeys: 20, policy: policySchema.parse({}), logger, ...coreOverrides,
    });
    ref.core = core;
    const connector = new RecordingConnector();
    core.register(connector);
    await core.start();
    return {
      core, connector, sessions,
      async close() {
        await core.close();
        await sessions.stop();
      },
    };
  };
  const first = await replica(options.ownership ?? false, options.onClosed);
  const { core, connector, sessions } = first;
  const control = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${hub.url}/control${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, body: (await r.json().catch(() => undefined)) as Record<string, unknown> };
  };
  return {
    hub, core, connector, redis, prefix, sessions, control, kek, replica,
    async close() {
      await first.close();
      await hub.close();
      await cleanup();
    },
  };
}

/** Hub user Ada (447700900123@hub), one device, who sends nothing by herself (no echo, no receipts, no reads). */
export const QUIET_ADA = { phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } };

/**
 * The status report tests' harness: QUIET_ADA on the hub, alice's chats with the hub on, and a
 * status left due reported again by the next sweep (statusRedoMs 0).
 */
export async function statusRedoHarness() {
  const h = await harness({ users: [QUIET_ADA] }, { statusRedoMs: 0 });
  await h.core.setInterop('rec', 'alice', true);
  return h;
}
