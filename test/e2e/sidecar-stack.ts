// The whole stack for end-to-end tests: an in-process mock hub, Causeway started from a YAML config
// exactly as `causeway start` does (webhook adapter included), and the provider's webhook receiver.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { adapterConfigSchemas } from '../../adapters/registry.ts';
import { parseCausewayConfig } from '../../src/config/causeway.ts';
import { startCauseway, type Causeway } from '../../src/main.ts';
import { startMockHub, type MockHub, type MockHubConfigInput } from '../../src/mock-hub/index.ts';
import { Receiver } from '../adapters/webhook/support.ts';
import { deleteKeys as deleteKeysWithPrefix, REDIS_URL } from '../support/redis.ts';

export const ADMIN = 'stack-admin-token';
export const API_TOKEN = 'stack-api-token-0123456789';
export const WEBHOOK_SECRET = 'stack-webhook-secret';

export interface Stack {
  hub: MockHub;
  causeway: Causeway;
  receiver: Receiver;
  prefix: string;
  configYaml: string;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }>;
  control(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

export function stackConfigYaml(o: { hubUrl: string; receiverUrl: string; prefix: string; pem: string; kek: string; pushSecret?: string; port?: number }): string {
  const pem = o.pem.trim().split('\n').map((l) => `    ${l}`).join('\n');
  return `server: { host: 127.0.0.1, port: ${o.port ?? 0}, shutdown_grace_ms: 2000 }
redis: { url: ${REDIS_URL}, key_prefix: ${o.prefix} }
hub:
  url: ${o.hubUrl}
  provider_id: birdy
  signing_key_id: birdy-1
  signing_key: |
${pem}
${o.pushSecret ? `  push_secret: ${o.pushSecret}\n` : ''}store:
  key_encryption_keys: [{ id: k1, key: ${o.kek} }]
  active_key_id: k1
limits: { retry_backoff_ms: { base: 100, max: 2000 } }
adapters:
  - id: app
    type: webhook
    config:
      api_tokens: [${API_TOKEN}]
      webhook_url: ${o.receiverUrl}
      webhook_secret: ${WEBHOOK_SECRET}
      retry_backoff_ms: { base: 100, max: 1000 }
media: { store: { type: fs, dir: ${join(tmpdir(), `causeway-media-${o.prefix}`)} }, allow_private_addresses: true }
logging: { level: ${process.env.CAUSEWAY_TEST_LOG ?? 'fatal'} }
metrics: { token: metrics-token }
`;
}

/** Removes every Redis key under a prefix (the test's own). */
export async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  await deleteKeysWithPrefix(redis, prefix);
  redis.disconnect();
}

export async function startStack(hubConfig: Partial<MockHubConfigInput> = {}, opts: { logLines?: string[] } = {}): Promise<Stack> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'birdy-1' };
  const logger = pino({ level: 'silent' });
  const hub = await startMockHub({ listen: { host: '127.0.0.1', port: 0 }, admin_token: ADMIN, providers: [{ id: 'birdy', name: 'BirdyChat', jwks: { keys: [jwk] } }], ...hubConfig }, { logger });
  const receiver = await new Receiver().start();
  const prefix = `cwstack-${randomBytes(5).toString('hex')}`;
  const configYaml = stackConfigYaml({ hubUrl: hub.url.replace(/^http/, 'ws'), receiverUrl: receiver.url, prefix, pem, kek: randomBytes(32).toString('base64') });
  const config = parseCausewayConfig(configYaml, 'stack.yaml', adapterConfigSchemas);
  const causewayLogger = opts.logLines
    ? pino({ level: 'trace' }, { write: (line: string) => void opts.logLines?.push(line) })
    : pino({ level: process.env.CAUSEWAY_TEST_LOG ?? 'silent' });
  const causeway = await startCauseway(config, { logger: causewayLogger });
  const call = async (base: string, token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, body: (await r.json().catch(() => ({}))) as Record<string, unknown> };
  };
  return {
    hub, causeway, receiver, prefix, configYaml,
    api: (m, p, b, h) => call(causeway.url, API_TOKEN, m, p, b, h),
    control: (m, p, b) => call(hub.url, ADMIN, m, `/control${p}`, b),
    async close() {
      await causeway.close();
      await receiver.stop();
      await hub.close();
      await deleteKeys(prefix);
    },
  };
}
