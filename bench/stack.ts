// The measured stack of a bench run. Causeway runs as a child process (`causeway start --config`,
// exactly as in production) so that its CPU and RSS are its own; the mock hub (in bench mode: it
// decrypts only a sample of sessions), the load generator and the provider's webhook receiver
// share the bench process. On a 2-core machine that gives the sidecar one core to itself and the
// other to everything that plays the outside world; a third process would only split that core.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { startMockHub, type MockHub } from '../src/mock-hub/index.ts';
import type { HubUser } from '../src/mock-hub/directory.ts';
import { HttpClient } from './http-client.ts';
import { freePort } from './redis-server.ts';
import { BenchReceiver } from './receiver.ts';
import { waitFor } from './measure.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const API_TOKEN = 'bench-api-token-0123456789';
export const PUSH_SECRET = 'bench-push-secret-0123456789';
export const METRICS_TOKEN = 'bench-metrics-token';
const ADMIN = 'bench-admin';

export interface StackOptions {
  redisUrl: string;
  /** Redis key prefix of this Causeway (a fresh one per child). */
  prefix: string;
  /** Where config, logs and CPU profiles go. */
  dir: string;
  providerUsers: number;
  hubUsers: number;
  decryptSampleRate: number;
  /** Hub sessions the child may hold (hub.session.max_open). */
  maxSessions: number;
  cpuProfile: boolean;
  /** The webhook adapter's max_events_per_post (default 1). */
  eventsPerPost?: number;
  /** Devices per hub user (default 1). */
  devices?: number;
}

export interface Stack {
  hub: MockHub;
  receiver: BenchReceiver;
  /** Causeway's Redis key prefix. */
  prefix: string;
  api: HttpClient;
  /** Causeway's base URL and process. */
  url: string;
  child: ChildProcess;
  pid: number;
  /** Provider user local ids (`u000`…) and hub users. */
  providers: string[];
  hubUsers: HubUser[];
  logFile: string;
  profileDir: string;
  /** Stops the child (SIGTERM, then SIGKILL after 20 s) and everything else. */
  close(): Promise<void>;
  /** Stops only the child (its CPU profile is written on a clean exit). */
  stopChild(): Promise<void>;
}

export const hubPhone = (i: number): string => `+447700${String(900000 + i)}`;
export const providerName = (i: number): string => `u${String(i).padStart(3, '0')}`;

function configYaml(o: { port: number; hubUrl: string; receiverUrl: string; redisUrl: string; prefix: string; pem: string; maxSessions: number; eventsPerPost: number }): string {
  const pem = o.pem.trim().split('\n').map((l) => `    ${l}`).join('\n');
  return `server: { host: 127.0.0.1, port: ${o.port}, shutdown_grace_ms: 2000 }
redis: { url: ${o.redisUrl}, key_prefix: ${o.prefix} }
hub:
  url: ${o.hubUrl}
  provider_id: birdy
  signing_key_id: birdy-1
  signing_key: |
${pem}
  push_secret: ${PUSH_SECRET}
  session: { max_open: ${o.maxSessions}, idle_close_s: 3600 }
store:
  key_encryption_keys: [{ id: k1, key: ${randomBytes(32).toString('base64')} }]
  active_key_id: k1
adapters:
  - id: app
    type: webhook
    config:
      api_tokens: [${API_TOKEN}]
      webhook_url: ${o.receiverUrl}
      webhook_secret: bench-webhook-secret
      max_events_per_post: ${o.eventsPerPost}
logging: { level: warn }
metrics: { token: ${METRICS_TOKEN} }
`;
}

/** Starts the hub and receiver in this process and Causeway as a child; opts the provider users in. */
export async function startStack(o: StackOptions): Promise<Stack> {
  mkdirSync(o.dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'birdy-1' };
  const hub = await startMockHub({
    listen: { host: '127.0.0.1', port: 0 }, admin_token: ADMIN,
    providers: [{ id: 'birdy', name: 'BirdyChat', jwks: { keys: [jwk] } }],
    users: Array.from({ length: o.hubUsers }, (_, i) => ({
      phone: hubPhone(i), devices: Array.from({ length: o.devices ?? 1 }, (_, d) => d), script: { echo: false, receipts: false, read: false, delay_ms: 0 },
    })),
    simulation: { decrypt_sample_rate: o.decryptSampleRate },
  }, { logger: pino({ level: 'silent' }) });
  const receiver = await new BenchReceiver().start();
  const port = await freePort();
  const file = join(o.dir, `${o.prefix}.yaml`);
  writeFileSync(file, configYaml({
    port, hubUrl: hub.url.replace(/^http/, 'ws'), receiverUrl: receiver.url, redisUrl: o.redisUrl, prefix: o.prefix,
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), maxSessions: o.maxSessions, eventsPerPost: o.eventsPerPost ?? 1,
  }));
  const logFile = join(o.dir, `${o.prefix}.log`);
  const profileDir = join(o.dir, `${o.prefix}-profile`);
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [
    ...(o.cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    'bin/causeway.js', 'start', '--config', file, '--json',
  ], { cwd: ROOT, stdio: ['ignore', log, log], env: childEnv() });
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const api = new HttpClient(url, { authorization: `Bearer ${API_TOKEN}` });
  let childStop: Promise<void> | undefined;
  const stopChild = (): Promise<void> => (childStop ??= (async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
  })());
  const stack: Stack = {
    hub, receiver, api, url, child, pid: child.pid ?? 0, logFile, profileDir, prefix: o.prefix,
    providers: Array.from({ length: o.providerUsers }, (_, i) => providerName(i)),
    hubUsers: [],
    stopChild,
    async close() {
      await stopChild();
      api.close();
      await receiver.stop();
      await hub.close();
    },
  };
  try {
    const up = await waitFor(async () => child.exitCode === null && (await api.send('GET', '/readyz').catch(() => undefined))?.status === 200, 60_000, 200);
    if (!up) throw new Error(`Causeway did not become ready (log: ${logFile}): ${tail(logFile)}`);
    for (let i = 0; i < o.hubUsers; i++) {
      const u = hub.core.directory.hubUser(`${hubPhone(i).slice(1)}@hub`);
      if (!u) throw new Error(`hub user ${hubPhone(i)} missing`);
      stack.hubUsers.push(u);
    }
    // Opt-in creates each user's identity and 100 + 100 one-time prekeys: a few at a time.
    const queue = [...stack.providers];
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        const r = await api.send('PUT', `/v1/users/${p}/interop`, { enabled: true });
        if (r.status !== 200) throw new Error(`opt-in of ${p} answered ${r.status} ${JSON.stringify(r.body)}`);
      }
    }));
  } catch (err) {
    await stack.close();
    throw err;
  }
  return stack;
}

/**
 * The child's environment: the bench's, with NODE_OPTIONS taken from
 * CAUSEWAY_BENCH_CHILD_NODE_OPTIONS (e.g. `--import ./try-this.mjs` to measure a change to the
 * sidecar without editing it); the bench's own NODE_OPTIONS are not passed on.
 */
function childEnv(): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _own, CAUSEWAY_BENCH_CHILD_NODE_OPTIONS: child, ...env } = process.env;
  return child ? { ...env, NODE_OPTIONS: child } : env;
}

/** The last lines of a log file (for error messages). */
export function tail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Log lines at warn level or above (pino JSON: level ≥ 40), counted by message. */
export function warnings(file: string): Map<string, number> {
  const out = new Map<string, number>();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const e = JSON.parse(line) as { level?: number; msg?: string };
      if ((e.level ?? 0) >= 40) out.set(e.msg ?? '?', (out.get(e.msg ?? '?') ?? 0) + 1);
    } catch {
      // not JSON
    }
  }
  return out;
}
