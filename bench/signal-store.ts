// Micro-benchmark of the Signal edge on Redis: one provider user (alice) sends to a hub device (bob)
// through the delivery code's own encrypt path (encryptMessage: session check + encrypt under the
// per-peer lock, stores sealed at rest), and bob decrypts as inbound.ts does. Both sides use a
// fresh RedisSignalStore per message, as the callers do. Prints per sample: messages per second,
// µs of wall time and of this process's CPU per message, and Redis round trips per message
// (commands this client sent: every await here is one round trip).
//
//   node bench/signal-store.ts [--messages N] [--samples N] [--redis URL]
//
// Uses the Redis at CAUSEWAY_TEST_REDIS_URL or 127.0.0.1:6379 under a throwaway key prefix that it
// deletes at the end. Not part of `npm run bench` (bench/run.ts).
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createAccount, type UploadQuery } from '../src/crypto/account.ts';
import { Keyring } from '../src/crypto/keyring.ts';
import { PeerLock } from '../src/crypto/peer-lock.ts';
import { RedisSignalStore } from '../src/crypto/redis-signal-store.ts';
import { SignalEdge } from '../src/crypto/signal-edge.ts';
import { encryptMessage } from '../src/delivery/encrypt-message.ts';
import type { OutboundRecord } from '../src/delivery/outbox.ts';
import type { HubConnection } from '../src/hub/connection.ts';
import type { KeyBundle } from '../src/protocol/types.ts';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '2000' },
    samples: { type: 'string', default: '3' },
    redis: { type: 'string', default: process.env.CAUSEWAY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
});
const MESSAGES = Math.max(1, Math.min(100_000, Number(args.messages)));
const SAMPLES = Math.max(1, Math.min(20, Number(args.samples)));
const DEADLINE_MS = 120_000;

const redis = new Redis(args.redis as string, { maxRetriesPerRequest: 3 });
let sent = 0;
const send = redis.sendCommand.bind(redis);
redis.sendCommand = ((...a: Parameters<Redis['sendCommand']>) => {
  sent++;
  return send(...a);
}) as Redis['sendCommand'];

const prefix = `cwbench-sig-${randomBytes(6).toString('hex')}`;
const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
const edge = new SignalEdge(new PeerLock(prefix));
const ALICE = 'alice@birdy.interop';
const BOB = 'bob@birdy.interop';
const aliceDev = 'alice:1@birdy.interop';
const bobDev = 'bob:1@birdy.interop';
const store = (user: string) => new RedisSignalStore(redis, ring, prefix, user);
// Sessions exist before the timed part, so the hub connection is never used.
const conn = {
  iq: () => Promise.reject(new Error('the benchmark has sessions: no bundle fetch expected')),
} as unknown as HubConnection;

function bundleOf(up: UploadQuery): KeyBundle {
  return { registration: up.registration as number, identity: up.identity as Uint8Array, skey: up.skey as KeyBundle['skey'], kyber: up.kyber as KeyBundle['kyber'] };
}

function record(i: number): OutboundRecord {
  // about the size of the main bench's content document (~200 bytes)
  const text = `message ${i} `.padEnd(160, 'lorem ipsum ');
  return { id: `bench-msg-${i}`, adapterId: 'bench', idempotencyKey: `k${i}`, user: ALICE, peer: BOB, from: 'alice', t: 1_700_000_000 + i, message: { idempotencyKey: `k${i}`, from: 'alice', to: BOB, text } };
}

interface Phase { perSecond: number; wallUs: number; cpuUs: number; roundTrips: number }

async function timed(n: number, op: (i: number) => Promise<void>): Promise<Phase> {
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const sent0 = sent;
  const stopAt = Date.now() + DEADLINE_MS;
  let done = 0;
  for (; done < n && Date.now() < stopAt; done++) await op(done);
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return { perSecond: (done / wallMs) * 1000, wallUs: (wallMs * 1000) / done, cpuUs: (cpu.user + cpu.system) / done, roundTrips: (sent - sent0) / done };
}

async function main(): Promise<void> {
  await createAccount(store(ALICE), { preKeys: 2, kyberPreKeys: 2 });
  const bobUp = await createAccount(store(BOB), { preKeys: 2, kyberPreKeys: 2 });
  await edge.startSession(store(ALICE), aliceDev, bobDev, bundleOf(bobUp));
  // one exchange each way, so that the timed part runs steady `msg` sessions
  const hello = await edge.encrypt(store(ALICE), aliceDev, bobDev, new TextEncoder().encode('hello'));
  await edge.decrypt(store(BOB), bobDev, aliceDev, hello);
  await edge.decrypt(store(ALICE), aliceDev, bobDev, await edge.encrypt(store(BOB), bobDev, aliceDev, new TextEncoder().encode('hi')));

  const devices = { jid: BOB, dhash: 'x', devices: [1] };
  const rows: Array<{ enc: Phase; dec: Phase }> = [];
  let base = 0;
  for (let s = 0; s < SAMPLES; s++) {
    const out: Array<{ type: 'pkmsg' | 'msg'; ciphertext: Uint8Array }> = [];
    const enc = await timed(MESSAGES, async (i) => {
      const m = await encryptMessage(conn, edge, store(ALICE), aliceDev, record(base + i), devices);
      const e = m.participants[0]?.enc;
      if (!e || e.type !== 'msg' || !e.ciphertext) throw new Error('expected a steady-session msg');
      out.push({ type: e.type, ciphertext: e.ciphertext });
    });
    const dec = await timed(out.length, async (i) => {
      await edge.decrypt(store(BOB), bobDev, aliceDev, out[i] as { type: 'msg'; ciphertext: Uint8Array });
    });
    base += out.length;
    rows.push({ enc, dec });
    const f = (p: Phase) => `${p.perSecond.toFixed(0).padStart(6)}/s  ${p.wallUs.toFixed(0).padStart(5)} µs wall  ${p.cpuUs.toFixed(0).padStart(5)} µs CPU  ${p.roundTrips.toFixed(2)} rt`;
    process.stdout.write(`sample ${s + 1}: ${out.length} messages\n  encrypt (encryptMessage, 1 device): ${f(enc)}\n  decrypt (SignalEdge.decrypt):       ${f(dec)}\n`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const pick = (k: 'enc' | 'dec', f: keyof Phase) => median(rows.map((r) => r[k][f]));
  process.stdout.write(
    `median: encrypt ${pick('enc', 'perSecond').toFixed(0)}/s (${pick('enc', 'wallUs').toFixed(0)} µs, ${pick('enc', 'cpuUs').toFixed(0)} µs CPU, ${pick('enc', 'roundTrips').toFixed(2)} round trips), ` +
      `decrypt ${pick('dec', 'perSecond').toFixed(0)}/s (${pick('dec', 'wallUs').toFixed(0)} µs, ${pick('dec', 'cpuUs').toFixed(0)} µs CPU, ${pick('dec', 'roundTrips').toFixed(2)} round trips)\n`,
  );
}

async function cleanup(): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

try {
  await main();
} finally {
  await cleanup();
}
