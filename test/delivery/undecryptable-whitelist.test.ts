// Which failures make a hub message "undecryptable" (inbound.ts isUndecryptable): acked, answered
// with a retry receipt and reported, so the hub does NOT redeliver it. A whitelist of errors about
// the ciphertext; any other failure is ours and leaves the message unacked, so the hub redelivers
// it — an unexpected kind of error (a bug, a store failing with an error class nobody listed, also
// inside libsignal, which wraps a store's error in one of its own) must not ack and lose it.
// Driven directly by stanzas from a simulated hub device, on a real Redis (as inbound-edge.test.ts).
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage, Notice } from '../../adapters/contract.ts';
import { createAccount, type UploadQuery } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { PeerLock } from '../../src/crypto/peer-lock.ts';
import { RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { SignalEdge, type DecryptedWith, type DecryptWith } from '../../src/crypto/signal-edge.ts';
import { Accounts } from '../../src/delivery/accounts.ts';
import { DeviceDirectory } from '../../src/delivery/devices.ts';
import { InboundHandler } from '../../src/delivery/inbound.ts';
import { Outbox } from '../../src/delivery/outbox.ts';
import { StatusLog } from '../../src/delivery/status-log.ts';
import type { HubConnection } from '../../src/hub/connection.ts';
import type { SessionManager } from '../../src/hub/sessions.ts';
import { deviceAddress, encodeContent, type EncType, type IncomingMessage, type Stanza } from '../../src/protocol/index.ts';
import type { KeyBundle } from '../../src/protocol/types.ts';
import { testRedis } from '../support/redis.ts';
import { until } from './harness.ts';

const { redis, prefix, cleanup } = testRedis();
const USER = 'alice@birdy.interop';
const HUB_USER = 'ada@hub';
const LOCAL = deviceAddress(USER, 1);
const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');

/** The core's edge, able to fail the next unit with an error of its own. */
class FailingEdge extends SignalEdge {
  failNext: Error | undefined;
  override decryptWith<T>(store: RedisSignalStore, local: string, peer: string, enc: { type: EncType; ciphertext: Uint8Array }, o: DecryptWith<T>): Promise<DecryptedWith<T>> {
    const err = this.failNext;
    if (!err) return super.decryptWith(store, local, peer, enc, o);
    this.failNext = undefined;
    return Promise.reject(err);
  }
}
const edge = new FailingEdge(new PeerLock(prefix));
const logger = pino({ level: process.env.CAUSEWAY_TEST_LOG ?? 'silent' });
const delivered: InboundMessage[] = [];
const notices: Notice[] = [];
/** What the handler counted (the messages metric's outcome label). */
const outcomes: string[] = [];
const statusLog = new StatusLog(redis, prefix);
const noHub = { get: () => Promise.reject(new Error('no hub session in this test')) } as unknown as SessionManager;
const accounts = new Accounts({ redis, keyring: ring, prefix, sessions: noHub, preKeys: 2, lowWater: 0, rotateSignedMs: 1e12, logger });
const inbound = new InboundHandler({
  redis, keyring: ring, prefix, sessions: noHub, edge, accounts, devices: new DeviceDirectory(redis, prefix),
  outbox: new Outbox(redis, ring, prefix, statusLog), statusLog, logger,
  deliver: async (_user, m) => void delivered.push(m),
  onStatus: () => undefined,
  onNotice: (_user, n) => notices.push(n),
  identityChanged: async () => undefined,
  observe: (outcome) => void outcomes.push(outcome),
});

const out: Stanza[] = [];
const hub = {
  user: USER,
  send: (s: Stanza) => void out.push(s),
  sendReceipt: (s: Stanza) => (out.push(s), Promise.resolve({ kind: 'ack' })),
} as unknown as HubConnection;
const acks = (id: string) => out.filter((s) => s.kind === 'ack' && 'id' in s && s.id === id).length;
const retries = (id: string) => out.filter((s) => s.kind === 'receipt' && s.id === id && s.type === 'retry').length;
const receipted = (id: string) => out.some((s) => s.kind === 'receipt' && s.id === id && s.type === 'delivery');
const reported = (id: string) => notices.some((x) => x.kind === 'undecryptable' && x.messageId === id);

/** A simulated hub device (its own store) with a session to alice from her bundle. */
let upload: UploadQuery;
const hubEdge = new SignalEdge(new PeerLock(`${prefix}-hub`));
async function hubDevice(device: number, skeyId?: number): Promise<{ store: RedisSignalStore; address: string }> {
  const address = `ada:${device}@hub`;
  const store = new RedisSignalStore(redis, ring, `${prefix}-hub${device}`, address);
  await createAccount(store, { preKeys: 1, kyberPreKeys: 1 });
  const skey = upload.skey as KeyBundle['skey'];
  const bundle: KeyBundle = { registration: upload.registration as number, identity: upload.identity as Uint8Array, skey: skeyId === undefined ? skey : { ...skey, id: skeyId }, kyber: upload.kyber as KeyBundle['kyber'] };
  await hubEdge.startSession(store, address, LOCAL, bundle);
  return { store, address };
}
let n = 0;
async function fromHub(d: { store: RedisSignalStore; address: string }, text: string, plaintext?: Uint8Array): Promise<IncomingMessage> {
  const id = `msg-${randomBytes(4).toString('hex')}-${++n}`;
  const t = 1_700_000_000 + n;
  const e = await hubEdge.encrypt(d.store, d.address, LOCAL, plaintext ?? encodeContent({ id, t, text }));
  return { kind: 'message', id, from: HUB_USER, participant: d.address, type: 'text', t, enc: { v: 1, ...e } };
}
/** Hands a stanza to the handler and waits until its chain has moved past it. */
async function handle(m: IncomingMessage): Promise<void> {
  inbound.handle(hub, m);
  const marker = `mark${++n}`;
  inbound.handle(hub, { kind: 'notification', id: marker, type: 'devices', from: 'nobody@hub' } as unknown as IncomingMessage);
  await until(() => acks(marker) > 0, 10_000, `stanza ${m.id} handled`);
}
/** Left to the hub: not acked, no retry receipt, not reported; its redelivery is delivered once. */
async function redeliveredAndDelivered(m: IncomingMessage, text: string): Promise<void> {
  expect(acks(m.id)).toBe(0);
  expect(retries(m.id)).toBe(0);
  expect(reported(m.id)).toBe(false);
  await handle(m);
  await until(() => receipted(m.id), 10_000, 'delivered on redelivery');
  expect(delivered.filter((d) => d.id === m.id).map((d) => d.text)).toEqual([text]);
  expect(acks(m.id)).toBe(1);
}
/** Undecryptable: acked, a retry receipt, reported, nothing delivered. */
function undecryptable(m: IncomingMessage): void {
  expect(acks(m.id)).toBe(1);
  expect(retries(m.id)).toBe(1);
  expect(reported(m.id)).toBe(true);
  expect(delivered.some((d) => d.id === m.id)).toBe(false);
}

let ada: Awaited<ReturnType<typeof hubDevice>>;
beforeAll(async () => {
  upload = await createAccount(accounts.store(USER), { preKeys: 2, kyberPreKeys: 2 });
  ada = await hubDevice(3);
  const first = await fromHub(ada, 'first');
  await handle(first);
  await until(() => receipted(first.id), 10_000, 'first delivered');
  // Alice answers, so that Ada's device sends plain Signal messages (`msg`) from now on.
  const answer = await edge.encrypt(accounts.store(USER), LOCAL, ada.address, encodeContent({ id: 'answer-1', t: 1_700_000_000, text: 'hi' }));
  await hubEdge.decryptWith(ada.store, ada.address, LOCAL, answer, { then: () => ({ value: undefined }) });
});
afterAll(async () => {
  await inbound.close(1000);
  await cleanup();
});

describe('an error that does not say the ciphertext is bad leaves the message to the hub', () => {
  it('a plain Error (a bug, an unlisted failure) is not acked; the redelivery is delivered', async () => {
    const m = await fromHub(ada, 'survives a bug');
    edge.failNext = new Error('something nobody listed');
    const before = outcomes.filter((o) => o === 'not-handled').length;
    await handle(m);
    // Counted, for an alert on a message that keeps failing.
    expect(outcomes.filter((o) => o === 'not-handled').length).toBe(before + 1);
    await redeliveredAndDelivered(m, 'survives a bug');
  });

  it('a store failing inside libsignal (its error wrapped as a libsignal error) is not acked either', async () => {
    const d = await hubDevice(4); // a new device: its first message is a PreKey message, which reads our signed prekey
    const m = await fromHub(d, 'survives a store failure');
    expect(m.enc.type).toBe('pkmsg');
    const spk = Object.getPrototypeOf(accounts.store(USER).signedPreKeys) as { getSignedPreKey: (id: number) => Promise<unknown> };
    const read = spk.getSignedPreKey;
    spk.getSignedPreKey = () => Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    try {
      await handle(m);
    } finally {
      spk.getSignedPreKey = read;
    }
    await redeliveredAndDelivered(m, 'survives a store failure');
  });
});

describe('an error about the ciphertext makes it undecryptable', () => {
  it('a tampered ciphertext is acked, answered with a retry receipt and reported', async () => {
    const m = await fromHub(ada, 'tampered');
    expect(m.enc.type).toBe('msg');
    const c = Uint8Array.from(m.enc.ciphertext);
    c[c.length - 3] = (c[c.length - 3] as number) ^ 1; // in the MAC
    await handle({ ...m, enc: { ...m.enc, ciphertext: c } });
    undecryptable(m);
  });

  it('garbage is undecryptable', async () => {
    const m = await fromHub(ada, 'garbage');
    await handle({ ...m, enc: { ...m.enc, ciphertext: randomBytes(40) } });
    undecryptable(m);
  });

  it('a PreKey message naming a signed prekey we do not have is undecryptable', async () => {
    const d = await hubDevice(5, 999_999);
    const m = await fromHub(d, 'unknown signed prekey');
    await handle(m);
    undecryptable(m);
  });

  it('a plaintext that is not content is undecryptable', async () => {
    const m = await fromHub(ada, '', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8]));
    await handle(m);
    undecryptable(m);
  });

  it('a group ciphertext on a message to one user is undecryptable', async () => {
    const m = await fromHub(ada, 'group');
    await handle({ ...m, enc: { ...m.enc, type: 'skmsg' } });
    undecryptable(m);
  });

  it('a message from a device we have no session with is undecryptable', async () => {
    const m = await fromHub(ada, 'no session');
    expect(m.enc.type).toBe('msg');
    await accounts.store(USER).dropSessionsOf((name) => name.startsWith('ada:3@hub'));
    await handle(m);
    undecryptable(m);
  });
});
