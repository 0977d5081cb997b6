// What the process-level tests share: a mock hub with one hub user (Ada, one device, silent), a
// webhook receiver, and `causeway start` processes on one Redis prefix, each driven through its
// HTTP API as a provider would.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startMockHub, type MockHub } from '../../src/mock-hub/index.ts';
import { freePort, Receiver } from '../adapters/webhook/support.ts';
import { eventually } from '../delivery/harness.ts';
import { API_TOKEN, deleteKeys, stackConfigYaml } from '../e2e/sidecar-stack.ts';

export const ADA = '447700900123@hub';
const ADMIN = 'chaos-admin';

export interface Sidecar {
  readonly base: string;
  child: ChildProcess;
  /** Starts the process again (after a kill) on the same config and port. */
  restart(): ChildProcess;
  ready(): Promise<void>;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
}

export interface ChaosWorld {
  hub: MockHub;
  receiver: Receiver;
  prefix: string;
  /** A `causeway start` process sharing this world's Redis prefix and keys. */
  sidecar(): Promise<Sidecar>;
  control(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
  /** Ada's inbox at the hub: one entry per device per message. */
  inbox(): Promise<Array<{ id: string; decrypted: boolean; content?: { text?: string } }>>;
  /** Ids of the messages the webhook receiver got as `message.received`. */
  received(): Set<string>;
  close(): Promise<void>;
}

export async function chaosWorld(name: string): Promise<ChaosWorld> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'birdy-1' };
  const hub = await startMockHub(
    {
      listen: { host: '127.0.0.1', port: 0 }, admin_token: ADMIN,
      providers: [{ id: 'birdy', name: 'BirdyChat', jwks: { keys: [jwk] } }],
      users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }],
      limits: { redeliver_after_s: 5 },
    },
    { logger: pino({ level: 'silent' }) },
  );
  const receiver = await new Receiver().start();
  const prefix = `cw${name}-${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `causeway-${name}-`));
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const kek = randomBytes(32).toString('base64');
  const sidecars: Sidecar[] = [];
  const control = async (method: string, path: string, body?: unknown) =>
    (await fetch(`${hub.url}/control${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })).json() as Promise<Record<string, unknown>>;
  return {
    hub, receiver, prefix, control,
    async sidecar() {
      const port = await freePort();
      const config = join(dir, `causeway-${sidecars.length}.yaml`);
      writeFileSync(config, stackConfigYaml({ hubUrl: hub.url.replace(/^http/, 'ws'), receiverUrl: receiver.url, prefix, port, pem, kek }));
      const base = `http://127.0.0.1:${port}`;
      // CAUSEWAY_CHAOS_LOGS=DIR keeps each process's log (JSON lines) in DIR, for a failure's post-mortem.
      const logDir = process.env.CAUSEWAY_CHAOS_LOGS;
      const n = sidecars.length;
      let runs = 0;
      const start = () => {
        const out = logDir ? openSync(join(logDir, `${prefix}-${n}-${runs++}.log`), 'a') : 'ignore';
        const child = spawn(process.execPath, ['bin/causeway.js', 'start', '--config', config, '--json'], { stdio: ['ignore', out, 'inherit'] });
        if (typeof out === 'number') closeSync(out); // the child has its own copy
        return child;
      };
      const s: Sidecar = {
        base,
        child: start(),
        restart() {
          s.child = start();
          return s.child;
        },
        ready: () => eventually(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.ok, 30_000, 'causeway ready').then(() => undefined),
        api: (method, path, body, headers = {}) =>
          fetch(`${base}${path}`, {
            method,
            headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json', ...headers },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          }),
      };
      sidecars.push(s);
      await s.ready();
      return s;
    },
    inbox: async () => ((await control('GET', `/users/${ADA}/inbox`)) as unknown as { messages: Array<{ id: string; decrypted: boolean; content?: { text?: string } }> }).messages,
    received: () => new Set(receiver.events().filter((e) => e.type === 'message.received').map((e) => e.data.id as string)),
    async close() {
      // Waited for, so that no process outlives the world and keeps writing to its Redis prefix.
      await Promise.all(sidecars.map((s) => {
        const exited = exitOf(s.child);
        s.child.kill('SIGKILL');
        return exited;
      }));
      await receiver.stop();
      await hub.close();
      await deleteKeys(prefix);
    },
  };
}

/** Counts of each id among the decrypted inbox entries. */
export function decryptedCounts(entries: Array<{ id: string; decrypted: boolean }>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of entries) if (m.decrypted) counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
  return counts;
}

/** The process's exit code (null: killed by a signal), also when it has already exited. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/**
 * Posts one message and records its id in `accepted` when answered 202. Never rejects: a request
 * cut short by the process stopping is simply not recorded (and, left unawaited while the test
 * goes on, a rejection would surface as an unhandled error outside the test); the caller posts
 * it again with the same idempotency key, which answers the same message id if it was stored.
 */
export async function postMessage(c: Sidecar, m: { key: string; from: string; text: string }, accepted: Map<string, string>): Promise<void> {
  try {
    const r = await c.api('POST', '/v1/messages', { from: m.from, to: ADA, text: m.text }, { 'idempotency-key': m.key });
    if (r.status === 202) accepted.set(m.key, ((await r.json()) as { message_id: string }).message_id);
    else await r.body?.cancel();
  } catch {
    // not accepted, as far as the provider can tell
  }
}
