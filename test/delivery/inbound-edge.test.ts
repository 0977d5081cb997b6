// Edge cases of the inbound path (inbound.ts) on a real Redis, with the handler driven directly by
// stanzas from a simulated hub device (as in inbound-commit.test.ts):
// - a Redis failure while decrypting/storing is not "undecryptable": the message must not be
//   acked (nothing was stored; the hub redelivers it) and no retry receipt goes out; nor is a
//   record sealed under a key this replica is not configured with (a config fault);
// - a hub receipt is acked only once its status is stored (a Redis failure first: not acked);
// - a message relabelled on the way (spec 5, 11) is acked and dropped, and its redelivery is a
//   duplicate: no retry receipt, no "undecryptable" notice;
// - a PreKey message from a contact whose identity key changed (reinstall) is an identity change
//   (issue 3: "on an identity notification or an untrusted identity"): the provider user is told
//   and the message is delivered, rather than asked for retries that can never succeed.
import { randomBytes } from 'node:crypto';
import { ReplyError } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage, Notice } from '../../adapters/contract.ts';
import { createAccount, type UploadQuery } from '../../src/crypto/account.ts';
import { Keyring, KeyNotConfiguredError } from '../../src/crypto/keyring.ts';
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
const HUB_DEVICE = 'ada:3@hub';
const LOCAL = deviceAddress(USER, 1);
const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');

/** The core's edge, able to fail the next unit with an error of its own (Redis refusing writes…). */
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
const logger = pino({ level: 'silent' });
const delivered: InboundMessage[] = [];
const notices: Notice[] = [];
const identityChanges: string[] = [];
const statusLog = new StatusLog(redis, prefix);
const noHub = { get: () => Promise.reject(new Error('no hub session in this test')) } as unknown as SessionManager;
const accounts = new Accounts({ redis, keyring: ring, prefix, sessions: noHub, preKeys: 2, lowWater: 0, rotateSignedMs: 1e12, logger });

const inbound = new InboundHandler({
  redis, keyring: ring, prefix, sessions: noHub, edge, accounts, devices: new DeviceDirectory(redis, prefix),
  outbox: new Outbox(redis, ring, prefix, statusLog), statusLog, logger,
  deliver: async (_user, m) => void delivered.push(m),
  onStatus: () => undefined,
  onNotice: (_user, n) => notices.push(n),
  // What Core.identityChanged does to the stores (its notice goes through the adapter there).
  identityChanged: async (user, peer) => {
    identityChanges.push(peer);
    const store = accounts.store(user);
    await store.dropSessionsOf((name) => name.replace(/:\d+@/, '@') === peer);
    await store.forgetIdentitiesOf((name) => name.replace(/:\d+@/, '@') === peer);
  },
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

/** A simulated hub device (its own store); `reset` gives it a fresh identity, as a reinstall does. */
let upload: UploadQuery;
let hubStore: RedisSignalStore;
const hubEdge = new SignalEdge(new PeerLock(`${prefix}-hub`));
async function newHubDevice(gen: number): Promise<void> {
  hubStore = new RedisSignalStore(redis, ring, `${prefix}-hub${gen}`, HUB_DEVICE);
  await createAccount(hubStore, { preKeys: 1, kyberPreKeys: 1 });
  const bundle: KeyBundle = { registration: upload.registration as number, identity: upload.identity as Uint8Array, skey: upload.skey as KeyBundle['skey'], kyber: upload.kyber as KeyBundle['kyber'] };
  await hubEdge.startSession(hubStore, HUB_DEVICE, LOCAL, bundle);
}
let n = 0;
async function fromHub(text: string, contentId?: string): Promise<IncomingMessage> {
  const id = `msg-${randomBytes(4).toString('hex')}-${++n}`;
  const t = 1_700_000_000 + n;
  const e = await hubEdge.encrypt(hubStore, HUB_DEVICE, LOCAL, encodeContent({ id: contentId ?? id, t, text }));
  return { kind: 'message', id, from: HUB_USER, participant: HUB_DEVICE, type: 'text', t, enc: { v: 1, ...e } };
}
/** Hands a stanza to the handler and waits until its chain has moved past it. */
async function handle(m: IncomingMessage): Promise<void> {
  inbound.handle(hub, m);
  // a marker after it on the same chain: a notification, acked only once the chain reaches it
  const marker = `mark${++n}`;
  inbound.handle(hub, { kind: 'notification', id: marker, type: 'devices', from: 'nobody@hub' } as unknown as IncomingMessage);
  await until(() => acks(marker) > 0, 10_000, `stanza ${m.id} handled`);
}

beforeAll(async () => {
  upload = await createAccount(accounts.store(USER), { preKeys: 2, kyberPreKeys: 2 });
  await newHubDevice(1);
  const first = await fromHub('first');
  await handle(first);
  await until(() => receipted(first.id), 10_000, 'first delivered');
});
afterAll(async () => {
  await inbound.close(1000);
  await cleanup();
});

describe('inbound edge cases', () => {
  it('a Redis failure while decrypting and storing is not acked and not answered with a retry receipt', async () => {
    const m = await fromHub('survives a Redis hiccup');
    edge.failNext = new ReplyError("OOM command not allowed when used memory > 'maxmemory'.");
    await handle(m);
    expect(acks(m.id)).toBe(0);
    expect(retries(m.id)).toBe(0);
    expect(notices.some((x) => x.kind === 'undecryptable' && x.messageId === m.id)).toBe(false);
    // the hub redelivers it: decrypted, stored, acked and delivered once
    await handle(m);
    await until(() => receipted(m.id), 10_000, 'delivered on redelivery');
    expect(delivered.filter((d) => d.id === m.id).map((d) => d.text)).toEqual(['survives a Redis hiccup']);
    expect(acks(m.id)).toBe(1);
  });

  it('a record sealed under a key this replica lacks is not acked either: a config fault, not a bad message', async () => {
    const m = await fromHub('waits for the right keys');
    edge.failNext = new KeyNotConfiguredError('record sealed with key "k0", which is not configured');
    await handle(m);
    expect(acks(m.id)).toBe(0);
    expect(retries(m.id)).toBe(0);
    expect(notices.some((x) => x.kind === 'undecryptable' && x.messageId === m.id)).toBe(false);
    await handle(m);
    await until(() => receipted(m.id), 10_000, 'delivered on redelivery');
    expect(delivered.filter((d) => d.id === m.id).map((d) => d.text)).toEqual(['waits for the right keys']);
  });

  it('a hub receipt is acked only once its status is stored: a Redis failure first leaves it unacked', async () => {
    const receipt = { kind: 'receipt', id: 'ours-0001', from: HUB_USER, participant: HUB_DEVICE, type: 'read', t: 1_700_000_100 } as unknown as IncomingMessage;
    const append = statusLog.appendReceipt.bind(statusLog);
    statusLog.appendReceipt = () => Promise.reject(new ReplyError("OOM command not allowed when used memory > 'maxmemory'."));
    try {
      await handle(receipt);
      expect(acks('ours-0001')).toBe(0);
    } finally {
      statusLog.appendReceipt = append;
    }
    await handle(receipt); // the hub sends it again
    expect(acks('ours-0001')).toBe(1);
  });

  it('a relabelled message is acked and dropped; its redelivery gets no retry receipt', async () => {
    const m = await fromHub('relabelled', 'another-id-000');
    await handle(m);
    expect(acks(m.id)).toBe(1);
    await handle(m); // the ack was lost: the hub redelivers
    expect(acks(m.id)).toBe(2);
    expect(retries(m.id)).toBe(0);
    expect(notices.some((x) => x.kind === 'undecryptable' && x.messageId === m.id)).toBe(false);
    expect(delivered.some((d) => d.id === m.id)).toBe(false);
  });

  it('a PreKey message under a changed contact identity is an identity change, and is delivered', async () => {
    await newHubDevice(2); // ada reinstalled: new identity key, new session from alice's bundle
    const m = await fromHub('after my reinstall');
    await handle(m);
    expect(identityChanges).toContain(HUB_USER);
    await until(() => receipted(m.id), 10_000, 'delivered');
    expect(delivered.find((d) => d.id === m.id)?.text).toBe('after my reinstall');
    expect(retries(m.id)).toBe(0);
    expect(acks(m.id)).toBe(1);
  });
});
