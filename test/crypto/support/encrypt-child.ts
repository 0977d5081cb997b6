// A second Causeway-like process for the cross-process lock test: encrypts N messages from one
// provider user to one peer through the Redis stores and the per-peer lock, all at once, and prints
// the ciphertexts as JSON lines.
import { Redis } from 'ioredis';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { PeerLock } from '../../../src/crypto/peer-lock.ts';
import { RedisSignalStore } from '../../../src/crypto/redis-signal-store.ts';
import { SignalEdge } from '../../../src/crypto/signal-edge.ts';

const [url, prefix, kek, tag, n] = process.argv.slice(2) as [string, string, string, string, string];
const redis = new Redis(url);
const ring = new Keyring([{ id: 'k1', key: Buffer.from(kek, 'base64') }], 'k1');
const edge = new SignalEdge(new PeerLock(prefix));
const store = new RedisSignalStore(redis, ring, prefix, 'alice@birdy.interop');
const out = await Promise.all(
  Array.from({ length: Number(n) }, async (_, i) => {
    const e = await edge.encrypt(store, 'alice:1@birdy.interop', 'bob:1@birdy.interop', new TextEncoder().encode(`${tag}-${i}`));
    return { type: e.type, ciphertext: Buffer.from(e.ciphertext).toString('base64') };
  }),
);
process.stdout.write(`${JSON.stringify(out)}\n`);
redis.disconnect();
