// The bridge lease (adapters/matrix/lease.ts) on a real Redis, with two instances standing for two
// replicas: one holds at a time, a non-holder waits and then refuses, a holder hands over when
// another replica has work, a dead holder is replaced after the TTL, a graceful stop releases at
// once, and device-state writes are fenced by the lease token.
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DeviceStore } from '../../../adapters/matrix/device-store.ts';
import { BridgeLease, LeaseBusyError, LeaseLostError } from '../../../adapters/matrix/lease.ts';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { testRedis } from '../../support/redis.ts';

const { redis, prefix, cleanup } = testRedis();
const logger = pino({ level: 'silent' });
const leases: BridgeLease[] = [];
afterEach(async () => {
  for (const l of leases.splice(0)) await l.stop().catch(() => undefined);
});
afterAll(cleanup);

function replica(key: string, events: string[], name: string, o: Partial<{ ttlMs: number; waitMs: number; minHoldMs: number }> = {}): BridgeLease {
  const l = new BridgeLease({
    redis, key, ttlMs: o.ttlMs ?? 600, waitMs: o.waitMs ?? 300, minHoldMs: o.minHoldMs ?? 0, logger,
    onAcquired: async () => void events.push(`${name}:acquired`),
    onReleasing: async () => void events.push(`${name}:releasing`),
    onLost: async () => void events.push(`${name}:lost`),
  });
  l.start();
  leases.push(l);
  return l;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const newKey = () => `${prefix}:lease:${randomBytes(4).toString('hex')}`;

describe('bridge lease', () => {
  it('lets one replica work at a time: a non-holder waits, then refuses with LeaseBusyError', async () => {
    const key = newKey();
    const events: string[] = [];
    const a = replica(key, events, 'a');
    const b = replica(key, events, 'b', { waitMs: 300 });
    let inside = 0;
    let most = 0;
    const work = async (ms: number) => {
      most = Math.max(most, ++inside);
      await sleep(ms);
      inside--;
    };
    const slow = a.run(() => work(900)); // longer than B's wait and than the TTL (renewed meanwhile)
    await sleep(50);
    await expect(b.run(() => work(10))).rejects.toBeInstanceOf(LeaseBusyError);
    await slow;
    expect(most).toBe(1);
    expect(await redis.get(key)).toBe(a.token);
    expect(a.held).toBe(true);
    expect(b.held).toBe(false);
  });

  it('hands the lease over when another replica has work and the holder is idle; the taker reloads', async () => {
    const key = newKey();
    const events: string[] = [];
    const a = replica(key, events, 'a', { minHoldMs: 200 });
    const b = replica(key, events, 'b', { waitMs: 3000 });
    await a.run(async () => undefined);
    const t0 = Date.now();
    await b.run(async () => void events.push('b:work'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150); // not before A's minimum hold
    // A persisted and dropped its devices before B took the lease and dropped whatever it had.
    expect(events).toEqual(['a:acquired', 'a:releasing', 'b:acquired', 'b:work']);
    expect(a.held).toBe(false);
    expect(await redis.get(key)).toBe(b.token);
  });

  it('takes over from a holder that died (its lease expires), and from one that stopped at once', async () => {
    const key = newKey();
    const events: string[] = [];
    const a = replica(key, events, 'a', { ttlMs: 600 });
    const b = replica(key, events, 'b', { waitMs: 3000, ttlMs: 600 });
    await a.run(async () => undefined);
    a.halt(); // a crash: no renewal, no release
    const t0 = Date.now();
    await b.run(async () => undefined);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThan(300);
    expect(waited).toBeLessThan(2000);
    expect(await redis.get(key)).toBe(b.token);
    await b.stop(); // graceful: released now
    expect(await redis.get(key)).toBeNull();
    const c = replica(key, events, 'c', { waitMs: 0 });
    await c.run(async () => undefined);
    expect(events.slice(-3)).toEqual(['b:acquired', 'b:releasing', 'c:acquired']);
  });

  it('drops device state when the lease is lost, and fences device-state writes by the token', async () => {
    const key = newKey();
    const events: string[] = [];
    const a = replica(key, events, 'a', { ttlMs: 400 });
    await a.run(async () => undefined);
    const store = new DeviceStore(redis, new Keyring([{ id: 'k', key: randomBytes(32) }], 'k'), `${prefix}:fence`, a);
    await store.setDeviceId('@hub_447700900123:example.org', 'CWAAAA');
    expect(await store.deviceId('@hub_447700900123:example.org')).toBe('CWAAAA');
    // Another replica overwrote the lease (A paused past its TTL, say): A notices at its next renewal.
    await redis.set(key, 'someone-else', 'PX', 5000);
    await expect(store.setDeviceId('@hub_447700900123:example.org', 'CWBBBB')).rejects.toBeInstanceOf(LeaseLostError);
    await sleep(400);
    expect(events).toContain('a:lost');
    expect(a.held).toBe(false);
    await expect(store.setDeviceId('@hub_447700900123:example.org', 'CWBBBB')).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.deviceId('@hub_447700900123:example.org')).toBe('CWAAAA');
  });

  it('runs periodic upkeep only on the holder', async () => {
    const key = newKey();
    const a = replica(key, [], 'a');
    const b = replica(key, [], 'b');
    await a.run(async () => undefined);
    let ran = '';
    await b.runIfHeld(async () => void (ran += 'b'));
    await a.runIfHeld(async () => void (ran += 'a'));
    expect(ran).toBe('a');
  });
});
