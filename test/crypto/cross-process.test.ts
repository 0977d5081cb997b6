// Two processes sharing one Redis encrypt concurrently to the same peer: the per-peer lock holds
// across them, so every message decrypts (without it libsignal sessions get corrupted).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { PeerLock } from '../../src/crypto/peer-lock.ts';
import { RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { SignalEdge } from '../../src/crypto/signal-edge.ts';
import type { KeyBundle } from '../../src/protocol/index.ts';
import { REDIS_URL, testRedis } from '../support/redis.ts';

const run = promisify(execFile);
const { redis, prefix, cleanup } = testRedis();
afterAll(cleanup);
const kek = randomBytes(32);
const ring = new Keyring([{ id: 'k1', key: kek }], 'k1');
const edge = new SignalEdge(new PeerLock(prefix));

describe('per-peer lock across processes', () => {
  it('two processes encrypting to one peer at once: every message decrypts', async () => {
    const alice = new RedisSignalStore(redis, ring, prefix, 'alice@birdy.interop');
    const bob = new RedisSignalStore(redis, ring, prefix, 'bob@birdy.interop');
    await createAccount(alice, { preKeys: 1, kyberPreKeys: 1 });
    const up = await createAccount(bob, { preKeys: 1, kyberPreKeys: 1 });
    const bundle: KeyBundle = { registration: up.registration as number, identity: up.identity as Uint8Array, skey: up.skey as KeyBundle['skey'], kyber: up.kyber as KeyBundle['kyber'] };
    await edge.startSession(alice, 'alice:1@birdy.interop', 'bob:1@birdy.interop', bundle);
    // a first exchange so that both sides run the double ratchet
    const first = await edge.encrypt(alice, 'alice:1@birdy.interop', 'bob:1@birdy.interop', new TextEncoder().encode('hi'));
    await edge.decrypt(bob, 'bob:1@birdy.interop', 'alice:1@birdy.interop', first);

    const N = 40;
    const children = ['A', 'B'].map((tag) => run(process.execPath, ['test/crypto/support/encrypt-child.ts', REDIS_URL, prefix, kek.toString('base64'), tag, String(N)]));
    const outputs = await Promise.all(children);
    const messages = outputs.flatMap((o) => JSON.parse(o.stdout) as Array<{ type: 'pkmsg' | 'msg'; ciphertext: string }>);
    expect(messages).toHaveLength(2 * N);
    const plain = new Set<string>();
    for (const m of messages) {
      const p = await edge.decrypt(bob, 'bob:1@birdy.interop', 'alice:1@birdy.interop', { type: m.type, ciphertext: Buffer.from(m.ciphertext, 'base64') });
      plain.add(new TextDecoder().decode(p));
    }
    expect(plain.size).toBe(2 * N);
  }, 60_000);
});
