// Nothing lost on a crash or restart, and nothing readable at rest: events survive the connector
// that stored them and are delivered by a new instance on the same Redis prefix; message text
// never appears in Redis in the clear.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { InboundMessage } from '../../../adapters/contract.ts';
import { createWebhookConnector, listDeadLetters, type WebhookConnector } from '../../../adapters/webhook/index.ts';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { REDIS_URL, testRedis } from '../../support/redis.ts';
import { FakeCore, freePort, newKeyring, Receiver, silentLogger, waitFor, webhookConfig } from './support.ts';

const r = testRedis();
afterAll(() => r.cleanup());

const open: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.stop();
});

function connector(adapterId: string, keyring: Keyring, url: string, over: Record<string, unknown> = {}, tuning = {}): WebhookConnector {
  const c = createWebhookConnector({
    id: adapterId,
    config: webhookConfig({ webhook_url: url, timeout_ms: 300, retry_backoff_ms: { base: 50, max: 300 }, ...over }),
    redis: r.redis,
    keyring,
    prefix: r.prefix,
    logger: silentLogger,
    tuning: { sweepIntervalMs: 300, leaseMs: 1000, ...tuning },
  });
  c.init(new FakeCore());
  open.push(c);
  return c;
}

const message = (id: string, text: string): InboundMessage => ({
  id, from: '447700900123@hub', fromDevice: '447700900123:0@hub', to: 'alice', t: 1_763_800_100, text, offline: false,
});

/** Every raw byte stored under `prefix`, whatever the key's type. */
async function rawValues(redis: Redis, prefix: string): Promise<Map<string, Buffer[]>> {
  const out = new Map<string, Buffer[]>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      const values: Buffer[] =
        type === 'string' ? [(await redis.getBuffer(key)) as Buffer]
        : type === 'hash' ? Object.entries(await redis.hgetallBuffer(key)).flatMap(([f, v]) => [Buffer.from(f), v])
        : type === 'list' ? await redis.lrangeBuffer(key, 0, -1)
        : type === 'set' ? await redis.smembersBuffer(key)
        : type === 'zset' ? await redis.zrangeBuffer(key, 0, -1)
        : type === 'stream' ? (await redis.xrangeBuffer(key, '-', '+')).flatMap(([id, fields]) => [id, ...fields])
        : [];
      out.set(key, [Buffer.from(key), ...values]);
    }
  } while (cursor !== '0');
  return out;
}

describe('durability', () => {
  it('an event stored while the provider is down is delivered by a new connector instance', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/hooks`;
    const keyring = newKeyring();
    const a = connector('restart', keyring, url);
    await a.start();
    await a.deliver(message('RESTART1', 'survives a restart'));
    await new Promise((res) => setTimeout(res, 300)); // a few refused attempts
    expect(await r.redis.hget(`${r.prefix}:webhook-events:restart:retry`, (await r.redis.lindex(`${r.prefix}:webhook-events:restart:lane:alice`, 0)) as string)).toMatch(/^[1-9]\d*\|\d+$/);
    await a.stop();
    expect(await r.redis.exists(`${r.prefix}:webhook-events:restart:lease:alice`)).toBe(0); // released on stop: no wait for a restart

    const receiver = await new Receiver().start(port);
    open.push(receiver);
    const b = connector('restart', keyring, url, {}, { leaseMs: 60_000, sweepIntervalMs: 60_000 });
    await b.start();
    await waitFor(() => receiver.requests.length >= 1, 8000, 'the delivery after restart');
    expect(receiver.events()[0]).toMatchObject({ type: 'message.received', data: { id: 'RESTART1', text: 'survives a restart' } });
    // The failures before the restart count: this is not attempt 1.
    expect(Number(receiver.requests[0]?.headers['x-causeway-attempt'])).toBeGreaterThan(1);
  });

  it('an event whose POST was in flight when its process was killed (SIGKILL) is sent again by another instance', async () => {
    const receiver = await new Receiver().start();
    open.push(receiver);
    receiver.behaviour = (i) => (i === 0 ? 'hang' : 200);
    const kek = randomBytes(32);
    const child = spawn(process.execPath, [new URL('./crash-child.ts', import.meta.url).pathname], {
      env: { ...process.env, CW_REDIS_URL: REDIS_URL, CW_PREFIX: r.prefix, CW_URL: receiver.url, CW_KEK: kek.toString('base64') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((res) => child.once('exit', res));
    try {
      await waitFor(() => receiver.requests.length === 1, 15_000, 'the first POST from the child');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const b = connector('crash', new Keyring([{ id: 'k1', key: kek }], 'k1'), receiver.url);
    await b.start();
    await waitFor(() => receiver.requests.length === 2, 15_000, 'the POST after recovery');
    const [first, second] = receiver.events();
    expect(second?.event_id).toBe(first?.event_id);
    expect(second).toMatchObject({ type: 'message.received', data: { id: 'CRASH001', text: 'in flight' } });
  });

  it('an event stored by an instance that never ran its sender is delivered after start', async () => {
    const receiver = await new Receiver().start();
    open.push(receiver);
    const keyring = newKeyring();
    const a = connector('never-started', keyring, receiver.url);
    await a.deliver(message('NOSTART1', 'first'));
    await a.deliver(message('NOSTART2', 'second'));
    expect(receiver.requests).toHaveLength(0);
    const b = connector('never-started', keyring, receiver.url);
    await b.start();
    await waitFor(() => receiver.requests.length === 2, 8000, 'both deliveries');
    expect(receiver.events().map((e) => e.data.id)).toEqual(['NOSTART1', 'NOSTART2']);
  });

  it('dead letters outlive the connector and can be listed with Redis alone', async () => {
    const port = await freePort();
    const a = connector('dead', newKeyring(), `http://127.0.0.1:${port}/x`, { max_attempts: 2 });
    await a.start();
    await a.deliver(message('DEADLTR1', 'undeliverable'));
    await waitFor(async () => (await a.listDeadLetters()).length === 1, 8000, 'the dead letter');
    await a.stop();
    const dead = await listDeadLetters({ redis: r.redis, prefix: r.prefix, adapterId: 'dead' });
    expect(dead).toMatchObject([{ type: 'message.received', user: 'alice', attempts: 2, lastError: expect.stringMatching(/^network error/) }]);
  });

  it('dead-letters a lane head whose sealed body cannot be opened, so the lane moves on', async () => {
    const receiver = await new Receiver().start();
    open.push(receiver);
    const keyring = newKeyring();
    const a = connector('stuck', keyring, receiver.url);
    await a.deliver(message('STUCK001', 'one'));
    await a.deliver(message('STUCK002', 'two'));
    const [head] = await r.redis.lrange(`${r.prefix}:webhook-events:stuck:lane:alice`, 0, 0);
    await r.redis.hset(`${r.prefix}:webhook-events:stuck:ev`, head as string, Buffer.from([1, 2, 3, 4])); // damaged at rest
    await a.start();
    await waitFor(() => receiver.events().some((e) => e.data.id === 'STUCK002'), 8000, 'the next event');
    expect(receiver.events().map((e) => e.data.id)).toEqual(['STUCK002']);
    expect(await a.listDeadLetters()).toMatchObject([{ eventId: head, attempts: 0, lastError: expect.stringMatching(/^cannot open the sealed event/) }]);
  });

  it("takes over a lane whose holder died once its lease expires, keeping that holder's attempt count and backoff", async () => {
    const receiver = await new Receiver().start();
    open.push(receiver);
    receiver.behaviour = (_i, q) => (q.body.includes('ABAND001') ? 500 : 200);
    const keyring = newKeyring();
    const a = connector('abandoned', keyring, receiver.url, { max_attempts: 3 });
    await a.deliver(message('ABAND001', 'one'));
    await a.deliver(message('ABAND002', 'two'));
    const base = `${r.prefix}:webhook-events:abandoned`;
    const head = (await r.redis.lindex(`${base}:lane:alice`, 0)) as string;
    // What a replica that failed twice and then died leaves behind: its lease, and the retry state.
    const t0 = Date.now();
    await r.redis.set(`${base}:lease:alice`, 'dead-replica-token', 'PX', 700);
    await r.redis.hset(`${base}:retry`, head, `2|${t0 + 1200}`);
    await a.start();
    await waitFor(() => receiver.events().some((e) => e.data.id === 'ABAND002'), 8000, 'the next event');
    const [first, second] = receiver.requests;
    expect(first?.at).toBeGreaterThanOrEqual(t0 + 1200); // not before the lease expired and the retry was due
    expect(first?.headers['x-causeway-attempt']).toBe('3');
    expect(second?.body).toContain('ABAND002');
    expect(receiver.requests).toHaveLength(2);
    expect(await a.listDeadLetters()).toMatchObject([{ eventId: head, attempts: 3, lastError: 'HTTP 500' }]);
    expect(await r.redis.hlen(`${base}:retry`)).toBe(0);
  });

  it('two replicas on one Redis deliver every event once, in order per user', async () => {
    const receiver = await new Receiver().start();
    open.push(receiver);
    const keyring = newKeyring();
    const replicas = [connector('pair', keyring, receiver.url, { concurrency: 4 }), connector('pair', keyring, receiver.url, { concurrency: 4 })];
    await Promise.all(replicas.map((c) => c.start()));
    const users = ['ann', 'ben', 'cat', 'dan', 'eve'];
    const N = 300;
    await Promise.all(Array.from({ length: 6 }, async (_, w) => {
      for (let i = w; i < N; i += 6) await replicas[i % 2]?.deliver({ ...message(`PAIR${String(i).padStart(4, '0')}`, `n ${i}`), to: users[i % users.length] as string });
    }));
    await waitFor(() => receiver.requests.length >= N, 15_000, 'every event');
    await new Promise((res) => setTimeout(res, 300));
    const ids = receiver.events().map((e) => e.data.id as string);
    expect(ids).toHaveLength(N);
    expect(new Set(ids).size).toBe(N);
    for (const u of users) {
      const mine = receiver.events().filter((e) => e.data.to === u).map((e) => e.data.id as string);
      expect(mine, u).toEqual([...mine].sort());
    }
    expect(await r.redis.hlen(`${r.prefix}:webhook-events:pair:ev`)).toBe(0);
  });

  it('keeps a lane while a POST outlasts the lease (renewed), so another replica does not send it too', async () => {
    const receiver = await new Receiver().start();
    open.push(receiver);
    let slow = true;
    receiver.behaviour = () => 200;
    const keyring = newKeyring();
    const a = connector('renewed', keyring, receiver.url, { timeout_ms: 1500 }, { leaseMs: 300, sweepIntervalMs: 60_000 });
    const b = connector('renewed', keyring, receiver.url, {}, { leaseMs: 300, sweepIntervalMs: 100 });
    await a.start();
    await b.start();
    // The provider keeps the first POST past four leases (it times out at 1.5 s).
    const answered = new Promise<void>((res) => {
      receiver.behaviour = (i) => {
        if (i === 0 && slow) {
          slow = false;
          setTimeout(() => res(), 1200);
          return 'hang';
        }
        return 200;
      };
    });
    await a.deliver(message('RENEW001', 'slow'));
    await answered;
    expect(receiver.requests).toHaveLength(1); // b swept every 100 ms and found the lane held
    expect(await r.redis.get(`${r.prefix}:webhook-events:renewed:lease:alice`)).not.toBeNull();
  });

  it('keeps message text sealed at rest: the plaintext never appears in Redis', async () => {
    const port = await freePort(); // the provider is down: events stay stored, the lane in backoff
    const keyring = newKeyring();
    const a = connector('sealed', keyring, `http://127.0.0.1:${port}/x`);
    await a.start();
    const canary = 'CANARY-plaintext-7d1f Grüße 👋';
    await a.deliver(message('SEALED01', canary));
    await a.deliver({ ...message('SEALED02', canary), replyTo: { id: 'SEALED01', sender: '447700900123@hub' } });
    await a.status({ messageId: 'SEALED03', idempotencyKey: 'k', from: 'alice', to: '447700900123@hub', state: 'failed', at: 0, message: canary });
    await new Promise((res) => setTimeout(res, 300));

    const values = await rawValues(r.redis, r.prefix); // every key under the prefix
    expect(values.size).toBeGreaterThan(3); // the store's keys are there (bodies, metadata, lane, lease, retries)…
    expect(await r.redis.hlen(`${r.prefix}:webhook-events:sealed:ev`)).toBe(3); // …with the three events
    const needles = [canary, 'CANARY-plaintext', Buffer.from('CANARY-plaintext').toString('base64').slice(0, 16), 'Grüße'];
    for (const [key, list] of values) {
      for (const v of list) {
        for (const needle of needles) expect(v.includes(Buffer.from(needle, 'utf8')), `${needle} in ${key}`).toBe(false);
      }
    }
    // And yet it is all there: a new instance with the same keyring delivers the text.
    await a.stop();
    const receiver = await new Receiver().start(port);
    open.push(receiver);
    const b = connector('sealed', keyring, `http://127.0.0.1:${port}/x`);
    await b.start();
    await waitFor(() => receiver.requests.length === 3, 8000, 'the deliveries');
    expect(receiver.events().map((e) => e.data.text ?? e.data.message)).toEqual([canary, canary, canary]);
  });
});
