// SessionManager when sessions are stopped or closed while one is still opening: the session that
// finishes opening afterwards is closed at once (the hub sees it go), no owner key is written for
// it, and stop() resolves only once it is closed; a session waiting out a reconnect backoff gives
// up at once. The open is held at the mock hub, which answers only after the provider's JWKS
// (served by the test, held until released) arrives.
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { HubSessionError } from '../../src/hub/connection.ts';
import { ProviderKey } from '../../src/hub/provider-key.ts';
import { SessionManager } from '../../src/hub/sessions.ts';
import { startMockHub } from '../../src/mock-hub/index.ts';
import { testRedis } from '../support/redis.ts';

const ADMIN = 'admin-token-for-tests';
const USER = 'alice@birdy.interop';
const { redis, prefix, cleanup } = testRedis();
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
afterAll(() => cleanup());

/** A mock hub whose provider JWKS is fetched from a server that holds each request until released. */
async function world(o: { reconnectMinMs?: number } = {}) {
  const { privateKey } = generateKeyPairSync('ed25519');
  const key = await ProviderKey.load(JSON.stringify(privateKey.export({ format: 'jwk' })), 'birdy-1');
  const held: ServerResponse[] = [];
  let open = false;
  const answer = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(key.jwks()));
  const jwks: Server = createServer((_req, res) => (open ? answer(res) : held.push(res)));
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => (jwks.closeAllConnections(), jwks.close(() => r()))));
  const hub = await startMockHub({
    listen: { host: '127.0.0.1', port: 0 },
    admin_token: ADMIN,
    providers: [{ id: 'birdy', name: 'BirdyChat', jwks_url: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json` }],
    users: [{ phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } }],
  }, { logger: pino({ level: 'silent' }) });
  closers.push(() => hub.close());
  const sessions = new SessionManager({
    hubUrl: hub.url.replace(/^http/, 'ws'), hubId: 'hub', providerId: 'birdy', key, tokenTtlS: 60,
    maxOpen: 10, idleCloseMs: 60_000, reconnectMinMs: o.reconnectMinMs ?? 50, reconnectMaxMs: o.reconnectMinMs ?? 200,
    onInbound: () => undefined,
    ownership: { redis, prefix },
  });
  closers.push(() => sessions.stop());
  const hubSessions = async () => ((await (await fetch(`${hub.url}/control/stats`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { sessions: number }).sessions;
  const release = () => {
    open = true;
    for (const res of held.splice(0)) answer(res);
  };
  const heldCount = () => held.length;
  return { sessions, hubSessions, release, heldCount };
}

const until = async (f: () => boolean | Promise<boolean>, what: string) => {
  const deadline = Date.now() + 5000;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
const ownerKey = `${prefix}:owner:{${USER}}`;

describe('a hub session still opening when sessions stop or close', () => {
  it('stop(): the session that opens afterwards is closed, no owner key is written, and stop waits for it', async () => {
    const w = await world();
    const getting = w.sessions.get(USER);
    const outcome = getting.then(() => 'opened', (err: unknown) => err);
    await until(() => w.heldCount() > 0, 'the hub to ask for the JWKS');
    let stopped = false;
    const stop = w.sessions.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(stopped).toBe(false); // still waiting for the opening session
    w.release();
    await stop;
    const err = await outcome;
    expect(err).toBeInstanceOf(HubSessionError);
    expect((err as HubSessionError).reason).toBe('stopped');
    expect(w.sessions.openCount).toBe(0);
    expect(await redis.get(ownerKey)).toBeNull();
    await until(async () => (await w.hubSessions()) === 0, 'the hub to see the session closed');
  });

  it('close(user): the session that opens afterwards is closed; the next get opens a working one', async () => {
    const w = await world();
    const outcome = w.sessions.get(USER).then(() => 'opened', (err: unknown) => err);
    await until(() => w.heldCount() > 0, 'the hub to ask for the JWKS');
    w.sessions.close(USER);
    w.release();
    const err = await outcome;
    expect(err).toBeInstanceOf(HubSessionError);
    expect((err as HubSessionError).reason).toBe('closed');
    await until(async () => (await w.hubSessions()) === 0, 'the hub to see the session closed');
    const conn = await w.sessions.get(USER);
    expect(conn.open).toBe(true);
    expect(w.sessions.openCount).toBe(1);
    expect(await w.hubSessions()).toBe(1);
  });

  it('stop() during a reconnect backoff gives up at once instead of waiting it out', async () => {
    const w = await world({ reconnectMinMs: 30_000 });
    w.release();
    // A user of another provider is refused by the hub: a failure, then a backoff of 15 s (half
    // the jittered cap).
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.5);
    closers.push(() => random.mockRestore());
    await expect(w.sessions.get('eve@haiket.interop')).rejects.toBeInstanceOf(HubSessionError);
    await new Promise((r) => setTimeout(r, 5)); // let the failed open's entry settle
    const again = w.sessions.get('eve@haiket.interop').then(() => 'opened', (err: unknown) => err);
    const t0 = Date.now();
    await w.sessions.stop();
    const err = await again;
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(err).toBeInstanceOf(HubSessionError);
    expect((err as HubSessionError).reason).toBe('stopped');
  });
});
