// The sidecar's own HIP/1 client parts against the mock hub: SessionManager/HubConnection for the
// session and iqs, the Redis-backed Signal edge for keys and ciphertext. A provider user uploads
// keys made by createAccount, enlists, encrypts a content document for both of a hub user's
// devices, gets a server ack, and decrypts the simulated user's echo with its Redis stores.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { PeerLock } from '../../src/crypto/peer-lock.ts';
import { RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { SignalEdge } from '../../src/crypto/signal-edge.ts';
import type { HubConnection, InboundStanza } from '../../src/hub/connection.ts';
import { HubIqError, HubSessionError } from '../../src/hub/connection.ts';
import { ProviderKey } from '../../src/hub/provider-key.ts';
import { SessionManager } from '../../src/hub/sessions.ts';
import { startMockHub, type MockHub } from '../../src/mock-hub/index.ts';
import { computeDhash, decodeContent, encodeContent, newId, type IncomingMessage } from '../../src/protocol/index.ts';
import { testRedis } from '../support/redis.ts';

const ADMIN = 'admin-token-for-tests';
const ADA = '447700900123@hub';
const { redis, prefix, cleanup } = testRedis();
const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
const edge = new SignalEdge(new PeerLock(prefix));

let hub: MockHub;
let sessions: SessionManager;
const inbound: Array<{ conn: HubConnection; s: InboundStanza }> = [];
const waiters: Array<() => void> = [];

async function nextInbound(pred: (s: InboundStanza) => boolean, ms = 10_000): Promise<{ conn: HubConnection; s: InboundStanza }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const i = inbound.findIndex((x) => pred(x.s));
    if (i >= 0) return inbound.splice(i, 1)[0] as { conn: HubConnection; s: InboundStanza };
    if (Date.now() > deadline) throw new Error('timed out waiting for an inbound stanza');
    await new Promise<void>((r) => {
      waiters.push(r);
      setTimeout(r, 50);
    });
  }
}

beforeAll(async () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const key = await ProviderKey.load(JSON.stringify(privateKey.export({ format: 'jwk' })), 'birdy-1');
  hub = await startMockHub({
    listen: { host: '127.0.0.1', port: 0 },
    admin_token: ADMIN,
    providers: [{ id: 'birdy', name: 'BirdyChat', jwks: key.jwks() as { keys: Array<Record<string, unknown>> } }],
    users: [{ phone: '+447700900123', name: 'Ada', devices: [0, 3], script: { echo: true, receipts: true, read: false, delay_ms: 0 } }],
  }, { logger: pino({ level: 'silent' }) });
  sessions = new SessionManager({
    hubUrl: hub.url.replace(/^http/, 'ws'),
    hubId: 'hub',
    providerId: 'birdy',
    key,
    tokenTtlS: 60,
    maxOpen: 2,
    idleCloseMs: 60_000,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    onInbound: (conn, s) => {
      inbound.push({ conn, s });
      for (const w of waiters.splice(0)) w();
    },
  });
});

afterAll(async () => {
  sessions.stop();
  await hub.close();
  await cleanup();
});

describe('sidecar HIP/1 client against the mock hub', () => {
  it('opens one shared session, uploads keys, enlists, sends a pkmsg and decrypts the echo', async () => {
    const user = 'alice@birdy.interop';
    const local = 'alice:1@birdy.interop';
    const [c1, c2] = await Promise.all([sessions.get(user), sessions.get(user)]);
    expect(c1).toBe(c2);
    expect(sessions.openCount).toBe(1);

    const store = new RedisSignalStore(redis, ring, prefix, user);
    expect(await c1.iq(await createAccount(store, { preKeys: 20, kyberPreKeys: 20 }), 'set')).toEqual({ op: 'empty' });
    await expect(c1.iq({ xmlns: 'directory', op: 'lookup', phone: '+447700900123' }, 'get')).resolves.toMatchObject({ op: 'lookup', jid: ADA });
    expect(await c1.iq({ xmlns: 'interop', op: 'enlist' }, 'set')).toEqual({ op: 'empty' });
    expect(await c1.iq({ xmlns: 'encrypt', op: 'count' }, 'get')).toEqual({ op: 'count', value: 20, kyber: 20 });

    const devs = await c1.iq({ xmlns: 'devices', op: 'devices', jid: ADA }, 'get');
    if (devs.op !== 'devices') throw new Error('no device list');
    const jids = devs.list.devices.map((d) => `447700900123:${d}@hub`);
    const bundles = await c1.iq({ xmlns: 'encrypt', op: 'fetch', jids }, 'get');
    if (bundles.op !== 'bundles') throw new Error('no bundles');
    for (const u of bundles.users) {
      if (!('bundle' in u)) throw new Error(`no bundle for ${u.jid}`);
      await edge.startSession(store, local, u.jid, u.bundle);
    }

    const id = newId();
    const t = Math.floor(Date.now() / 1000);
    const plaintext = encodeContent({ id, t, text: 'Hello Ada, from Causeway' });
    const participants = await Promise.all(
      jids.map(async (jid) => ({ jid, enc: { v: 1 as const, ...(await edge.encrypt(store, local, jid, plaintext)) } })),
    );
    expect(participants.every((p) => p.enc.type === 'pkmsg')).toBe(true);
    const ack = await c1.sendMessage({ kind: 'message', id, to: ADA, type: 'text', t, dhash: computeDhash(jids), participants });
    expect(ack.error).toBeUndefined();

    const inbox = (await (await fetch(`${hub.url}/control/users/${ADA}/inbox`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
      messages: Array<{ id: string; device: number; decrypted: boolean; content?: { text?: string } }>;
    };
    const mine = inbox.messages.filter((m) => m.id === id);
    expect(mine.map((m) => m.device).sort()).toEqual([0, 3]);
    expect(mine.every((m) => m.decrypted && m.content?.text === 'Hello Ada, from Causeway')).toBe(true);

    const { conn, s } = await nextInbound((x) => x.kind === 'message');
    const echo = s as IncomingMessage;
    const content = decodeContent(await edge.decrypt(store, local, echo.participant, echo.enc));
    expect(content.text).toBe('echo: Hello Ada, from Causeway');
    expect(content.id).toBe(echo.id);
    conn.send({ kind: 'ack', class: 'message', id: echo.id, to: echo.from });
  });

  it('maps iq errors and refused sessions to typed errors', async () => {
    const c = await sessions.get('bob@birdy.interop');
    await expect(c.iq({ xmlns: 'devices', op: 'devices', jid: '447700900999@hub' }, 'get')).rejects.toBeInstanceOf(HubIqError);
    // a user of another provider cannot be opened with birdy's key (iss ≠ provider of the user)
    await expect(sessions.get('eve@haiket.interop')).rejects.toBeInstanceOf(HubSessionError);
    // the cap of two open sessions closed the least recently used one
    await sessions.get('carol@birdy.interop');
    expect(sessions.openCount).toBeLessThanOrEqual(2);
  });
});
