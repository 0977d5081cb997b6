// Graceful shutdown: SIGTERM while messages flow both ways. The process stops taking work, lets
// what it is doing finish within its grace, gives its leases and hub sessions up, and exits 0 in
// bounded time; started again, it delivers everything accepted exactly once.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../delivery/harness.ts';
import { REDIS_URL } from '../support/redis.ts';
import { ADA, chaosWorld, decryptedCounts, exitOf, postMessage, type ChaosWorld, type Sidecar } from './support.ts';

const N = 400;
const USERS = ['ann', 'ben', 'cat', 'dan'];
const GRACE_MS = 2000; // server.shutdown_grace_ms in stackConfigYaml

let w: ChaosWorld;
let c: Sidecar;

beforeAll(async () => {
  w = await chaosWorld('sigterm');
  c = await w.sidecar();
  for (const u of USERS) expect((await c.api('PUT', `/v1/users/${u}/interop`, { enabled: true })).status).toBe(200);
}, 60_000);

// w is unset when chaosWorld itself failed: that error is the one to see.
afterAll(() => w?.close());

describe('graceful shutdown', () => {
  it('SIGTERM with messages in flight: exits 0 within its bound, leaves no lease or session behind, loses nothing', async () => {
    const keys = Array.from({ length: N }, (_, i) => ({ key: `term-${i}`, from: USERS[i % USERS.length] as string, text: `out ${i}` }));
    const accepted = new Map<string, string>();
    const post = (k: (typeof keys)[number]) => postMessage(c, k, accepted);
    const inboundIds: string[] = [];
    for (let i = 0; i < 40; i++) inboundIds.push((await w.control('POST', `/users/${ADA}/send`, { to: `${USERS[i % USERS.length]}@birdy.interop`, text: `in ${i}` })).id as string);
    const posting = Promise.all(keys.map((k) => post(k)));
    await eventually(async () => accepted.size >= N / 4, 30_000, 'a quarter accepted');

    const t0 = Date.now();
    const exited = exitOf(c.child);
    c.child.kill('SIGTERM');
    const code = await exited;
    const took = Date.now() - t0;
    await posting;
    expect(code).toBe(0);
    // HTTP server, then the core, each bounded by the grace; the webhook POSTs in flight by their timeout.
    expect(took).toBeLessThan(3 * GRACE_MS + 5000);
    const redis = new Redis(REDIS_URL);
    try {
      const left = [...(await redis.keys(`${w.prefix}:lease:*`)), ...(await redis.keys(`${w.prefix}:owner:*`))];
      expect(left).toEqual([]);
    } finally {
      redis.disconnect();
    }

    c.restart();
    await c.ready();
    for (const k of keys) if (!accepted.has(k.key)) await post(k);
    expect(accepted.size).toBe(N);
    const ids = [...accepted.values()];
    await eventually(async () => {
      const counts = decryptedCounts(await w.inbox());
      return ids.every((id) => counts.has(id));
    }, 120_000, 'every accepted message at the hub');
    await new Promise((r) => setTimeout(r, 500));
    const counts = decryptedCounts(await w.inbox());
    expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);
    await eventually(async () => inboundIds.every((id) => w.received().has(id)), 120_000, 'every hub message at the webhook');
  }, 300_000);
});
