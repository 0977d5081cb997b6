// Two Causeway processes sharing one Redis behind a round-robin "load balancer" (the test posts to
// each in turn): every provider message reaches the hub once and in order per conversation,
// every hub message reaches the webhook, and the replicas never take a user's hub session from
// each other (the hub counts replaced sessions). Then one replica is killed with SIGKILL while
// messages are in flight: the other takes its conversations and sessions over.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockHub, type MockHub } from '../../src/mock-hub/index.ts';
import { freePort, Receiver } from '../adapters/webhook/support.ts';
import { eventually } from '../delivery/harness.ts';
import { API_TOKEN, deleteKeys, stackConfigYaml } from '../e2e/sidecar-stack.ts';

const USERS = ['ann', 'ben', 'cat', 'dan'];
const ADA = '447700900123@hub';
const ADMIN = 'replicas-admin';
const PER_USER = 30;

let hub: MockHub;
let receiver: Receiver;
const replicas: Array<{ base: string; child: ChildProcess; config: string }> = [];
const prefix = `cwreplicas-${randomBytes(4).toString('hex')}`;

const control = async (method: string, path: string, body?: unknown) =>
  (await fetch(`${hub.url}/control${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })).json() as Promise<Record<string, unknown>>;

const api = (base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

function start(config: string): ChildProcess {
  return spawn(process.execPath, ['bin/causeway.js', 'start', '--config', config, '--json'], { stdio: ['ignore', 'ignore', 'inherit'] });
}

type Entry = { id: string; decrypted: boolean; content?: { text?: string } };
const hubInbox = async () => ((await control('GET', `/users/${ADA}/inbox`)) as unknown as { messages: Entry[] }).messages;

/** Posts one message, to replica `first` and, if it does not answer, to the others (same key). */
async function post(first: number, key: string, from: string, text: string): Promise<string> {
  for (let i = 0; i < replicas.length * 3; i++) {
    const r = replicas[(first + i) % replicas.length] as (typeof replicas)[number];
    const res = await api(r.base, 'POST', '/v1/messages', { from, to: ADA, text }, { 'idempotency-key': key }).catch(() => undefined);
    if (res?.status === 202) return ((await res.json()) as { message_id: string }).message_id;
  }
  throw new Error(`no replica accepted ${key}`);
}

/** Every id decrypted at the hub exactly once, and each user's in the order given. */
async function deliveredOnceInOrder(sent: Map<string, string[]>): Promise<void> {
  const all = [...sent.values()].flat();
  await eventually(async () => {
    const got = new Set((await hubInbox()).filter((m) => m.decrypted).map((m) => m.id));
    return all.every((id) => got.has(id));
  }, 180_000, 'every provider message decrypted at the hub');
  await new Promise((r) => setTimeout(r, 500)); // a late duplicate would show up here
  const inbox = (await hubInbox()).filter((m) => m.decrypted);
  const counts = new Map<string, number>();
  for (const m of inbox) counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
  expect(all.filter((id) => counts.get(id) !== 1)).toEqual([]);
  for (const ids of sent.values()) {
    const mine = new Set(ids);
    expect(inbox.filter((m) => mine.has(m.id)).map((m) => m.id)).toEqual(ids);
  }
}

async function hubSends(n: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await control('POST', `/users/${ADA}/send`, { to: `${USERS[i % USERS.length]}@birdy.interop`, text: `${tag} ${i}` })).id as string);
  return ids;
}

async function allAtWebhook(ids: string[]): Promise<void> {
  await eventually(async () => {
    const got = new Set(receiver.events().filter((e) => e.type === 'message.received').map((e) => e.data.id as string));
    return ids.every((id) => got.has(id));
  }, 180_000, 'every hub message at the webhook');
}

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
  const dir = mkdtempSync(join(tmpdir(), 'causeway-replicas-'));
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const kek = randomBytes(32).toString('base64');
  for (const name of ['a', 'b']) {
    const port = await freePort();
    const config = join(dir, `${name}.yaml`);
    writeFileSync(config, stackConfigYaml({ hubUrl: hub.url.replace(/^http/, 'ws'), receiverUrl: receiver.url, prefix, port, pem, kek }));
    replicas.push({ base: `http://127.0.0.1:${port}`, child: start(config), config });
  }
  for (const r of replicas) await eventually(async () => (await fetch(`${r.base}/readyz`).catch(() => undefined))?.ok, 30_000, 'replica ready');
  for (const [i, u] of USERS.entries()) expect((await api((replicas[i % 2] as (typeof replicas)[number]).base, 'PUT', `/v1/users/${u}/interop`, { enabled: true })).status).toBe(200);
}, 90_000);

afterAll(async () => {
  for (const r of replicas) r.child.kill('SIGKILL');
  await receiver.stop();
  await hub.close();
  await deleteKeys(prefix);
});

describe('two replicas sharing Redis', () => {
  it('round-robin traffic: once each, in order per conversation, both ways, no session taken from the other', async () => {
    const sent = new Map<string, string[]>();
    const inbound = hubSends(40, 'in');
    // Each user posts in order; each message goes to the next replica in turn.
    await Promise.all(USERS.map(async (u, ui) => {
      const ids: string[] = [];
      for (let i = 0; i < PER_USER; i++) ids.push(await post((ui + i) % 2, `rr-${u}-${i}`, u, `${u} ${i}`));
      sent.set(u, ids);
    }));
    await deliveredOnceInOrder(sent);
    await allAtWebhook(await inbound);
    expect((await control('GET', '/stats')).sessions_replaced).toBe(0);
  }, 300_000);

  it('SIGKILL of one replica with messages in flight: the other takes its conversations and sessions over', async () => {
    const sent = new Map<string, string[]>();
    const inbound = hubSends(40, 'after');
    const posting = Promise.all(USERS.map(async (u, ui) => {
      const ids: string[] = [];
      for (let i = 0; i < PER_USER; i++) ids.push(await post((ui + i) % 2, `kill-${u}-${i}`, u, `${u} after ${i}`));
      sent.set(u, ids);
    }));
    await new Promise((r) => setTimeout(r, 300));
    const killed = replicas[0] as (typeof replicas)[number];
    killed.child.kill('SIGKILL');
    await new Promise((r) => killed.child.once('exit', r));
    await posting;
    await deliveredOnceInOrder(sent);
    await allAtWebhook(await inbound);
  }, 300_000);
});
