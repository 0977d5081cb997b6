// Crash: with messages in flight both ways, the Causeway process is killed with SIGKILL and
// started again. Every provider message accepted (202) is delivered to the hub exactly once
// (counted on the hub side), every hub message reaches the provider's webhook, nothing is stuck.
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

const N = Number(process.env.CAUSEWAY_CRASH_MESSAGES ?? 1000);
const USERS = ['ann', 'ben', 'cat', 'dan'];
const ADA = '447700900123@hub';
const ADMIN = 'crash-admin';

let hub: MockHub;
let receiver: Receiver;
let child: ChildProcess | undefined;
let base = '';
let configFile = '';
const prefix = `cwcrash-${randomBytes(4).toString('hex')}`;

function startCauseway(): ChildProcess {
  const p = spawn(process.execPath, ['bin/causeway.js', 'start', '--config', configFile, '--json'], { stdio: ['ignore', 'ignore', 'inherit'] });
  return p;
}

async function ready(): Promise<void> {
  await eventually(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.ok, 30_000, 'causeway ready');
}

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
  configFile = join(mkdtempSync(join(tmpdir(), 'causeway-crash-')), 'causeway.yaml');
  writeFileSync(configFile, stackConfigYaml({
    hubUrl: hub.url.replace(/^http/, 'ws'), receiverUrl: receiver.url, prefix, port,
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), kek: randomBytes(32).toString('base64'),
  }));
  child = startCauseway();
  await ready();
  for (const u of USERS) expect((await api('PUT', `/v1/users/${u}/interop`, { enabled: true })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await receiver.stop();
  await hub.close();
  await deleteKeys(prefix);
});

describe('crash with messages in flight', () => {
  it(`SIGKILL with ${N} messages each way in flight: nothing lost, nothing twice, nothing stuck`, async () => {
    const keys = Array.from({ length: N }, (_, i) => ({ key: `crash-${i}`, from: USERS[i % USERS.length] as string, text: `out ${i}` }));
    const accepted = new Map<string, string>();
    const post = async (k: (typeof keys)[number]) => {
      const r = await api('POST', '/v1/messages', { from: k.from, to: ADA, text: k.text }, { 'idempotency-key': k.key }).catch(() => undefined);
      if (r?.status === 202) accepted.set(k.key, ((await r.json()) as { message_id: string }).message_id);
    };
    // hub → provider traffic, sent by the hub user while Causeway runs, crashes and comes back
    const inboundIds: string[] = [];
    const hubSends = (async () => {
      for (let i = 0; i < N; i++) {
        const r = await control('POST', `/users/${ADA}/send`, { to: `${USERS[i % USERS.length]}@birdy.interop`, text: `in ${i}` });
        inboundIds.push(r.id as string);
      }
    })();
    // provider → hub: fire everything, kill the process while it is being worked on
    const posting = Promise.all(keys.map((k) => post(k)));
    await eventually(async () => accepted.size >= N / 4, 30_000, 'a quarter accepted');
    child?.kill('SIGKILL');
    await new Promise((r) => child?.once('exit', r));
    await posting;
    const acceptedBeforeCrash = accepted.size;
    child = startCauseway();
    await ready();
    // the provider retries what it got no 202 for, with the same idempotency keys
    for (const k of keys) if (!accepted.has(k.key)) await post(k);
    expect(accepted.size).toBe(N);
    await hubSends;

    // every accepted message reaches the hub (decrypted by the hub user's device) exactly once
    type Entry = { id: string; decrypted: boolean; count?: number };
    const hubInbox = async () => ((await control('GET', `/users/${ADA}/inbox`)) as unknown as { messages: Entry[] }).messages;
    const decryptedCounts = (entries: Entry[]) => {
      const counts = new Map<string, number>();
      for (const m of entries) if (m.decrypted) counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
      return counts;
    };
    const outIds = [...accepted.values()];
    await eventually(async () => {
      const counts = decryptedCounts(await hubInbox());
      return outIds.every((id) => (counts.get(id) ?? 0) >= 1);
    }, 240_000, 'every provider message decrypted at the hub');
    await new Promise((r) => setTimeout(r, 1000)); // a late duplicate would show up here
    const inbox = await hubInbox();
    const counts = decryptedCounts(inbox);
    expect(outIds.filter((id) => counts.get(id) !== 1)).toEqual([]);
    const retried = inbox.filter((m) => !m.decrypted).length;

    // every hub message reaches the provider's webhook (at least once; event ids dedupe)
    await eventually(async () => {
      const got = new Set(receiver.events().filter((e) => e.type === 'message.received').map((e) => e.data.id as string));
      return inboundIds.every((id) => got.has(id));
    }, 240_000, 'every hub message at the webhook');

    // nothing stuck: every message's status history ends in sent
    await eventually(async () => {
      for (const k of keys) {
        const r = (await (await api('GET', `/v1/messages/${k.key}`)).json()) as { statuses?: Array<{ state: string }> };
        if (!r.statuses?.some((s) => s.state === 'sent')) return false;
      }
      return true;
    }, 120_000, 'all sent');
    console.log(`crash test: ${acceptedBeforeCrash} of ${N} outbound accepted before SIGKILL; ${N} inbound; ${retried} hub-side decrypt failures answered by retry receipts`);
  }, 600_000);
});
