// SessionManager's cap on open sessions (issue 3: "a cap on open sessions") when many users'
// sessions are opened at once, as after a restart with work pending for many users: each open
// must make room, so that the cap holds here and at the hub.
import { generateKeyPairSync } from 'node:crypto';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ProviderKey } from '../../src/hub/provider-key.ts';
import { SessionManager } from '../../src/hub/sessions.ts';
import { startMockHub } from '../../src/mock-hub/index.ts';

const ADMIN = 'admin-token-for-tests';
const closers: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe('the cap on open sessions', () => {
  it('holds when several sessions open at once', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const key = await ProviderKey.load(JSON.stringify(privateKey.export({ format: 'jwk' })), 'birdy-1');
    const hub = await startMockHub({
      listen: { host: '127.0.0.1', port: 0 },
      admin_token: ADMIN,
      providers: [{ id: 'birdy', name: 'BirdyChat', jwks: key.jwks() as { keys: Array<Record<string, unknown>> } }],
    }, { logger: pino({ level: 'silent' }) });
    closers.push(() => hub.close());
    const sessions = new SessionManager({
      hubUrl: hub.url.replace(/^http/, 'ws'), hubId: 'hub', providerId: 'birdy', key, tokenTtlS: 60,
      maxOpen: 2, idleCloseMs: 60_000, reconnectMinMs: 50, reconnectMaxMs: 200,
      onInbound: () => undefined,
    });
    closers.push(() => sessions.stop());
    const users = ['u1', 'u2', 'u3', 'u4', 'u5'].map((u) => `${u}@birdy.interop`);
    const conns = await Promise.all(users.map((u) => sessions.get(u)));
    expect(conns).toHaveLength(5);
    expect(sessions.openCount).toBeLessThanOrEqual(2);
    const hubSessions = async () => ((await (await fetch(`${hub.url}/control/stats`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { sessions: number }).sessions;
    const deadline = Date.now() + 5000;
    while ((await hubSessions()) > 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await hubSessions()).toBeLessThanOrEqual(2);
  });
});
