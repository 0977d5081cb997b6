// Reference ceilings printed beside the paths: raw libsignal on one thread with in-memory stores
// (the mock hub's SimDevice, a real libsignal client) in a steady session, and raw BullMQ add +
// process on the bench's Redis. Each is measured in several short samples; callers take medians.
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { SimDevice } from '../src/mock-hub/sim-device.ts';
import { encodeContent, newId } from '../src/protocol/index.ts';
import { sleep } from './measure.ts';

/** The text every benchmark message carries (about 200 bytes of content XML with padding). */
export const BENCH_TEXT = 'Benchmark message from Causeway: the quick brown fox jumps over the lazy dog, 0123456789 ABCDEFGHIJ.';

export function benchPlaintext(): Uint8Array {
  return encodeContent({ id: newId(), t: Math.floor(Date.now() / 1000), text: BENCH_TEXT });
}

/** Two devices with a session acknowledged both ways (as after the first reply): `msg` traffic. */
async function steadyPair(): Promise<{ a: SimDevice; b: SimDevice }> {
  const a = await SimDevice.create('bench:1@birdy.interop');
  const b = await SimDevice.create('447700900001:0@hub');
  await a.startSession(b.address, b.takeBundle());
  const pt = benchPlaintext();
  await b.decrypt(a.address, await a.encrypt(b.address, pt));
  await a.decrypt(b.address, await b.encrypt(a.address, pt));
  return { a, b };
}

/**
 * libsignal encrypt and decrypt, messages per second on this thread, one sample per `sampleMs`.
 * Encrypt: one sender to one peer in a steady session. Decrypt: the same ciphertexts, in order.
 */
export async function libsignalCeiling(samples: number, sampleMs: number): Promise<{ encrypt: number[]; decrypt: number[]; bytes: number }> {
  const { a, b } = await steadyPair();
  const pt = benchPlaintext();
  for (let i = 0; i < 500; i++) await b.decrypt(a.address, await a.encrypt(b.address, pt)); // warm up
  const encrypt: number[] = [];
  const decrypt: number[] = [];
  let bytes = 0;
  for (let s = 0; s < samples; s++) {
    const cts: Array<{ type: 'pkmsg' | 'msg'; ciphertext: Uint8Array }> = [];
    const t0 = performance.now();
    while (performance.now() - t0 < sampleMs) {
      for (let i = 0; i < 50; i++) cts.push(await a.encrypt(b.address, pt));
    }
    encrypt.push(cts.length / ((performance.now() - t0) / 1000));
    bytes = cts[0]?.ciphertext.length ?? 0;
    const t1 = performance.now();
    for (const c of cts) await b.decrypt(a.address, c);
    decrypt.push(cts.length / ((performance.now() - t1) / 1000));
    await sleep(50);
  }
  return { encrypt, decrypt, bytes };
}

/**
 * BullMQ add + process on the given Redis, messages per second: `count` jobs added one call each
 * (at most `inFlight` adds awaited at once) while a
 * worker of `concurrency` (the sidecar's outbound worker: 32) completes them with a no-op.
 */
export async function bullmqCeiling(redisUrl: string, samples: number, count: number, concurrency = 32, inFlight = 256): Promise<number[]> {
  const out: number[] = [];
  for (let s = -1; s < samples; s++) {
    const n = s < 0 ? Math.min(count, 2000) : count;
    const name = `ceiling-${s}-${newId()}`;
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(name, { connection, prefix: 'bench-ceiling', defaultJobOptions: { removeOnComplete: true } });
    let done = 0;
    let resolveAll: () => void = () => undefined;
    const all = new Promise<void>((r) => (resolveAll = r));
    const workerConnection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker(name, async () => undefined, { connection: workerConnection, prefix: 'bench-ceiling', concurrency });
    worker.on('completed', () => {
      if (++done === n) resolveAll();
    });
    await worker.waitUntilReady();
    await queue.waitUntilReady();
    const t0 = performance.now();
    let next = 0;
    const adder = async (): Promise<void> => {
      while (next < n) {
        const i = next++;
        await queue.add('job', { i, user: 'bench@birdy.interop', peer: '447700900001@hub' }, { jobId: `${name}-${i}` });
      }
    };
    await Promise.all(Array.from({ length: inFlight }, adder));
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([all.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 120_000)))]);
    clearTimeout(timer);
    const elapsed = (performance.now() - t0) / 1000;
    if (s >= 0) out.push((finished ? n : done) / elapsed); // sample -1 warms up
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    connection.disconnect();
    workerConnection.disconnect();
  }
  return out;
}
