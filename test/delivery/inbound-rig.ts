// The inbound handler (inbound.ts) on a real Redis, driven directly by stanzas from simulated hub
// devices (real libsignal clients with stores of their own), with what it sends back recorded: the
// set-up of inbound-edge.test.ts, undecryptable-whitelist.test.ts and inbound-commit.test.ts. Its
// edge can fail the next decrypt with an error of the test's choosing (Redis refusing writes, a
// bug…), or stall the next unit (or each) before its commit (to outlive its lock, to count them).
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
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

export const USER = 'alice@birdy.interop';
export const HUB_USER = 'ada@hub';
const LOCAL = deviceAddress(USER, 1);

/** The core's edge, able to fail the next unit with an error of its own, or to stall it. */
class RigEdge extends SignalEdge {
  failNext: Error | undefined;
  /** Awaited in the next unit once it decrypted, before its own step (which then commits). */
  stallNext: ((user: string, peer: string) => Promise<void>) | undefined;
  /** Awaited likewise in every unit while set. */
  stallEach: ((user: string, peer: string) => Promise<void>) | undefined;
  override decryptWith<T>(store: RedisSignalStore, local: string, peer: string, enc: { type: EncType; ciphertext: Uint8Array }, o: DecryptWith<T>): Promise<DecryptedWith<T>> {
    const err = this.failNext;
    if (err) {
      this.failNext = undefined;
      return Promise.reject(err);
    }
    const stall = this.stallNext ?? this.stallEach;
    if (!stall) return super.decryptWith(store, local, peer, enc, o);
    this.stallNext = undefined;
    return super.decryptWith(store, local, peer, enc, {
      ...o,
      then: async (p) => {
        await stall(store.user, peer);
        return o.then(p);
      },
    });
  }
}

/** A simulated hub device of HUB_USER. */
export interface HubDevice {
  store: RedisSignalStore;
  address: string;
}

export interface InboundRigOptions {
  /** The handler's `identityChanged` (default: nothing done). */
  identityChanged?: (user: string, peer: string) => Promise<unknown>;
  /** The connection of the handler and its parts (default: the rig's own, `redis`). */
  redis?: Redis;
  /** The TTL of the handler's peer locks (default: PeerLock's). */
  lockTtlMs?: number;
  /** The handler's logger (default: silent, or at level CAUSEWAY_TEST_LOG). */
  logger?: Logger;
  /** USER's one-time prekeys: how many her account has and keeps (default 2). */
  preKeys?: number;
  /** Called with each message the handler hands over, before it is added to `delivered`. */
  onDeliver?: (m: InboundMessage) => Promise<void>;
}

export function inboundRig(o: InboundRigOptions = {}) {
  const { redis, prefix, cleanup } = testRedis();
  const handlerRedis = o.redis ?? redis;
  const ring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
  const lock = new PeerLock(prefix, o.lockTtlMs === undefined ? {} : { ttlMs: o.lockTtlMs });
  const edge = new RigEdge(lock);
  const logger = o.logger ?? pino({ level: process.env.CAUSEWAY_TEST_LOG ?? 'silent' });
  const preKeys = o.preKeys ?? 2;
  const delivered: InboundMessage[] = [];
  const notices: Notice[] = [];
  /** What the handler counted (the messages metric's outcome label). */
  const outcomes: string[] = [];
  const statusLog = new StatusLog(handlerRedis, prefix);
  const noHub = { get: () => Promise.reject(new Error('no hub session in this test')) } as unknown as SessionManager;
  const accounts = new Accounts({ redis: handlerRedis, keyring: ring, prefix, sessions: noHub, preKeys, lowWater: 0, rotateSignedMs: 1e12, logger });
  const inbound = new InboundHandler({
    redis: handlerRedis, keyring: ring, prefix, sessions: noHub, edge, accounts, devices: new DeviceDirectory(handlerRedis, prefix),
    outbox: new Outbox(handlerRedis, ring, prefix, statusLog), statusLog, logger,
    deliver: async (_user, m) => {
      await o.onDeliver?.(m);
      delivered.push(m);
    },
    onStatus: () => undefined,
    onNotice: (_user, n) => notices.push(n),
    identityChanged: async (user, peer) => void (await o.identityChanged?.(user, peer)),
    observe: (outcome) => void outcomes.push(outcome),
  });

  const out: Stanza[] = [];
  const hub = {
    user: USER,
    open: true,
    send: (s: Stanza) => void out.push(s),
    sendReceipt: (s: Stanza) => (out.push(s), Promise.resolve({ kind: 'ack' })),
  } as unknown as HubConnection;
  const acks = (id: string) => out.filter((s) => s.kind === 'ack' && 'id' in s && s.id === id).length;
  const retries = (id: string) => out.filter((s) => s.kind === 'receipt' && s.id === id && s.type === 'retry').length;
  const receipted = (id: string) => out.some((s) => s.kind === 'receipt' && s.id === id && s.type === 'delivery');
  const reported = (id: string) => notices.some((x) => x.kind === 'undecryptable' && x.messageId === id);

  let upload: UploadQuery | undefined;
  const hubEdge = new SignalEdge(new PeerLock(`${prefix}-hub`));
  let n = 0;

  return {
    redis, prefix, lock, edge, accounts, statusLog, inbound, delivered, notices, outcomes, acks, retries, receipted, reported,
    /** The session the handler is handed stanzas on (`inbound.handle(hub, s)`); what it sends is recorded. */
    hub,

    /** Creates USER's account (its upload is what hub devices start sessions from). */
    async start(): Promise<void> {
      upload = await createAccount(accounts.store(USER), { preKeys, kyberPreKeys: preKeys });
    },

    /**
     * A hub device `ada:DEVICE@hub` (of `user` if given) with a fresh identity (its own store, named
     * by `store`: a new name is a reinstall) and a session to USER from its bundle, optionally naming
     * another signed prekey id.
     */
    async hubDevice(device: number, opt: { store?: string; skeyId?: number; user?: string } = {}): Promise<HubDevice> {
      if (!upload) throw new Error('inboundRig: start() first');
      const local = (opt.user ?? HUB_USER).split('@')[0] as string;
      const address = `${local}:${device}@hub`;
      const store = new RedisSignalStore(redis, ring, `${prefix}-hub-${opt.store ?? `${local}-${device}`}`, address);
      await createAccount(store, { preKeys: 1, kyberPreKeys: 1 });
      const skey = upload.skey as KeyBundle['skey'];
      const bundle: KeyBundle = {
        registration: upload.registration as number, identity: upload.identity as Uint8Array,
        skey: opt.skeyId === undefined ? skey : { ...skey, id: opt.skeyId }, kyber: upload.kyber as KeyBundle['kyber'],
      };
      await hubEdge.startSession(store, address, LOCAL, bundle);
      return { store, address };
    },

    /** A text message from `d` (content id `contentId` if given; `plaintext` instead of content). */
    async fromHub(d: HubDevice, text: string, opt: { contentId?: string; plaintext?: Uint8Array } = {}): Promise<IncomingMessage> {
      const id = `msg-${randomBytes(4).toString('hex')}-${++n}`;
      const t = 1_700_000_000 + n;
      const e = await hubEdge.encrypt(d.store, d.address, LOCAL, opt.plaintext ?? encodeContent({ id: opt.contentId ?? id, t, text }));
      return { kind: 'message', id, from: d.address.replace(/:\d+@/, '@'), participant: d.address, type: 'text', t, enc: { v: 1, ...e } };
    },

    /** USER's answer to `d`, decrypted by it: `d` then sends plain Signal messages (`msg`). */
    async answer(d: HubDevice): Promise<void> {
      const answer = await edge.encrypt(accounts.store(USER), LOCAL, d.address, encodeContent({ id: `answer-${++n}`, t: 1_700_000_000, text: 'hi' }));
      await hubEdge.decryptWith(d.store, d.address, LOCAL, answer, { then: () => ({ value: undefined }) });
    },

    /** Hands a stanza to the handler and waits until its chain has moved past it. */
    async handle(m: IncomingMessage): Promise<void> {
      inbound.handle(hub, m);
      // a marker after it: a notification about no one in particular waits for every stanza of
      // the session before it (inbound.ts #chain), and is acked only then
      const marker = `mark${++n}`;
      inbound.handle(hub, { kind: 'notification', id: marker, type: 'providers', providers: [] });
      await until(() => acks(marker) > 0, 10_000, `stanza ${m.id} handled`);
    },

    async close(): Promise<void> {
      await inbound.close(1000);
      await cleanup();
    },
  };
}
