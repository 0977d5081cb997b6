// Graceful shutdown: SIGTERM while messages flow both ways. The process stops taking work, lets
// what it is doing finish within its grace, gives its leases and hub sessions up, and exits 0 in
// bounded time; started again, it delivers everything accepted exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../src/mock-hub/index.ts';
import { freePort, Receiver } from '../adapters/webhook/support.ts';
import { eventually } from '../delivery/harness.ts';
import { API_TOKEN, deleteKeys, stackConfigYaml } from '../e2e/sidecar-stack.ts';
import { REDIS_URL } from '../support/redis.ts';

const N = 400;
const USERS = ['ann', 'ben', 'cat', 'dan'];
const ADA = '447700900123@hub';
const ADMIN = 'sigterm-admin';
const GRACE_MS = 2000; // server.shutdown_grace_ms in stackConfigYaml

let hub: MockHub;
let receiver: Receiver;
let child: ChildProcess | undefined;
let base = '';
let configFile = '';
const prefix = `cwsigterm-${randomBytes(4).toString('hex')}`;

const start = () => spawn(process.execPath, ['bin/causeway.js', 'start', '--config', configFile, '--json'], { stdio: ['ignore', 'ignore', 'inherit'] });
const ready = () => eventually(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.ok, 30_000, 'causeway ready');
const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const control = async (method: string, path: string, body?: unknown) =>
  (await fetch(`${hub.url}/control${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })).json() as Promise<Record<string, unknown>>;

beforeAll(async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'birdy-1' };
  hub = await startMockHub(
    {
      listen: { host: '127.0.0.1', port: 0 }, admin_token: ADMIN,
      providers: [{ id: 'birdy', name: 'BirdyChat', jwks: { keys: [jwk] } }],
      users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }],
      limits: { redeliver_after_s: 5 },
    },
    { logger: pino({ level: 'silent' }) },
  );
  receiver = await new Receiver().start();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  configFile = join(mkdtempSync(join(tmpdir(), 'causeway-sigterm-')), 'causeway.yaml');
  writeFileSync(configFile, stackConfigYaml({
    hubUrl: hub.url.replace(/^http/, 'ws'), receiverUrl: receiver.url, prefix, port,
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), kek: randomBytes(32).toString('base64'),
  }));
  child = start();
  await ready();
  for (const u of USERS) expect((await api('PUT', `/v1/users/${u}/interop`, { enabled: true })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await receiver.stop();
  await hub.close();
  await deleteKeys(prefix);
});

describe('graceful shutdown', () => {
  it('SIGTERM with messages in flight: exits 0 within its bound, leaves no lease or session behind, loses nothing', async () => {
    const keys = Array.from({ length: N }, (_, i) => ({ key: `term-${i}`, from: USERS[i % USERS.length] as string, text: `out ${i}` }));
    const accepted = new Map<string, string>();
    const post = async (k: (typeof keys)[number]) => {
      const r = await api('POST', '/v1/messages', { from: k.from, to: ADA, text: k.text }, { 'idempotency-key': k.key }).catch(() => undefined);
      if (r?.status === 202) accepted.set(k.key, ((await r.json()) as { message_id: string }).message_id);
    };
    const inboundIds: string[] = [];
    for (let i = 0; i < 40; i++) inboundIds.push((await control('POST', `/users/${ADA}/send`, { to: `${USERS[i % USERS.length]}@birdy.interop`, text: `in ${i}` })).id as string);
    const posting = Promise.all(keys.map((k) => post(k)));
    await eventually(async () => accepted.size >= N / 4, 30_000, 'a quarter accepted');

    const t0 = Date.now();
    child?.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child?.once('exit', (c) => r(c)));
    const took = Date.now() - t0;
    await posting;
    expect(code).toBe(0);
    // HTTP server, then the core, each bounded by the grace; the webhook POSTs in flight by their timeout.
    expect(took).toBeLessThan(3 * GRACE_MS + 5000);
    const redis = new Redis(REDIS_URL);
    try {
      const left = [...(await redis.keys(`${prefix}:lease:*`)), ...(await redis.keys(`${prefix}:owner:*`))];
      expect(left).toEqual([]);
    } finally {
      redis.disconnect();
    }

    child = start();
    await ready();
    for (const k of keys) if (!accepted.has(k.key)) await post(k);
    expect(accepted.size).toBe(N);
    const ids = [...accepted.values()];
    type Entry = { id: string; decrypted: boolean };
    const inbox = async () => ((await control('GET', `/users/${ADA}/inbox`)) as unknown as { messages: Entry[] }).messages;
    await eventually(async () => {
      const got = new Set((await inbox()).filter((m) => m.decrypted).map((m) => m.id));
      return ids.every((id) => got.has(id));
    }, 120_000, 'every accepted message at the hub');
    await new Promise((r) => setTimeout(r, 500));
    const counts = new Map<string, number>();
    for (const m of await inbox()) if (m.decrypted) counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
    expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);
    await eventually(async () => {
      const got = new Set(receiver.events().filter((e) => e.type === 'message.received').map((e) => e.data.id as string));
      return inboundIds.every((id) => got.has(id));
    }, 120_000, 'every hub message at the webhook');
  }, 300_000);
});
