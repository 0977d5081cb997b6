// The core the adapters talk to (adapters/contract.ts CoreApi): accepts provider users' messages
// into the outbox, reports statuses and notices to the adapter that serves each user, and routes
// the hub's inbound traffic to it. Built by main.ts from the parts below; holds no state of its own
// beyond the connector table.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Connector, CoreApi, InboundMessage, MessageStatus, Notice, OutboundMessage, SubmitOutcome } from '../adapters/contract.ts';
import type { MediaKind, MediaRef } from './protocol/index.ts';
import type { Keyring } from './crypto/keyring.ts';
import { PeerLock } from './crypto/peer-lock.ts';
import { SignalEdge } from './crypto/signal-edge.ts';
import { Accounts } from './delivery/accounts.ts';
import { DeviceDirectory } from './delivery/devices.ts';
import { InboundHandler } from './delivery/inbound.ts';
import { OutboundDelivery } from './delivery/outbound-worker.ts';
import { Recent } from './delivery/recent.ts';
import { Outbox } from './delivery/outbox.ts';
import { StatusLog } from './delivery/status-log.ts';
import type { SessionManager } from './hub/sessions.ts';
import type { Metrics } from './metrics.ts';
import type { PolicyConfig } from './config/policy-schema.ts';
import { downgradeAfter406, downgradeInbound, downgradeOutbound } from './policy/index.ts';
import type { FinalOutcome, OutboundRecord, StoredMediaRef } from './delivery/outbox.ts';
import type { MediaService } from './media/index.ts';
import { CoreMedia } from './core-media.ts';
import { SubmitError } from './submit-error.ts';
import type { HubConnection, InboundStanza } from './hub/connection.ts';
import { formatAddress, parseAddress, userOf } from './protocol/index.ts';

/** The adapter's message as kept for the 406 path: file bytes are hosted already, not kept twice. */
function withoutFileBytes(m: OutboundMessage): OutboundMessage {
  if (m.media?.data === undefined) return m;
  const { data: _data, ...media } = m.media;
  return { ...m, media };
}

export { SubmitError } from './submit-error.ts';

/** What `#prepare` makes of a message: a record to write, or a repeat already known (media messages). */
type Prepared =
  | { kind: 'write'; m: OutboundMessage; user: string; record: Omit<OutboundRecord, 'id' | 't'>; final?: FinalOutcome }
  | { kind: 'repeat'; messageId: string };

/** Messages of one `submitMany` prepared at once: opt-in reads and media fetches overlap, within bounds. */
const PREPARE_CONCURRENCY = 8;

/** `f` over `items` with at most `limit` calls running; results in the items' order. */
async function mapLimit<T, R>(items: ReadonlyArray<T>, limit: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface CoreOptions {
  redis: Redis;
  keyring: Keyring;
  prefix: string;
  providerId: string;
  sessions: SessionManager;
  maxTextBytes: number;
  maxAttempts: number;
  backoff: { base: number; max: number };
  concurrency: number;
  ackTimeoutMs: number;
  maxQueueAgeMs: number;
  preKeys: number;
  /** The downgrade rules (config `policy`). */
  policy: PolicyConfig;
  /** Encrypts and hosts attachments (src/media); media messages fail clearly without it. */
  media?: () => MediaService | undefined;
  /** Policy on a contact's identity change; default continue. */
  identityChange?: 'continue' | 'hold';
  /** Defaults: top up below 10, rotate signed prekeys every 7 days. */
  lowWater?: number;
  rotateSignedMs?: number;
  metrics?: Metrics;
  logger: Logger;
}

export class Core implements CoreApi {
  readonly providerId: string;
  readonly outbox: Outbox;
  readonly statusLog: StatusLog;
  readonly accounts: Accounts;
  readonly outbound: OutboundDelivery;
  readonly inbound: InboundHandler;
  readonly #connectors = new Map<string, Connector>();
  /** Safety-number holds and the adapter serving each user, as recently read (delivery/recent.ts). */
  readonly #held = new Recent<Set<string>>(1000);
  readonly #adapterOf = new Recent<string | null>(10_000);
  readonly #media: CoreMedia;
  #devices!: DeviceDirectory;
  readonly #o: CoreOptions;

  constructor(o: CoreOptions) {
    this.#o = o;
    this.providerId = o.providerId;
    this.#media = new CoreMedia({ redis: o.redis, keyring: o.keyring, prefix: o.prefix, ...(o.media ? { media: o.media } : {}), logger: o.logger });
    const edge = new SignalEdge(new PeerLock(o.redis, o.prefix));
    const devices = (this.#devices = new DeviceDirectory(o.redis, o.prefix));
    this.statusLog = new StatusLog(o.redis, o.prefix);
    this.outbox = new Outbox(o.redis, o.keyring, o.prefix, this.statusLog);
    this.accounts = new Accounts({
      redis: o.redis, keyring: o.keyring, prefix: o.prefix, sessions: o.sessions, preKeys: o.preKeys, logger: o.logger,
      lowWater: o.lowWater ?? 10, rotateSignedMs: o.rotateSignedMs ?? 7 * 24 * 3600 * 1000,
    });
    this.outbound = new OutboundDelivery({
      redis: o.redis, prefix: o.prefix, keyring: o.keyring, outbox: this.outbox, devices, sessions: o.sessions, edge,
      concurrency: o.concurrency, ackTimeoutMs: o.ackTimeoutMs, maxQueueAgeMs: o.maxQueueAgeMs, maxAttempts: o.maxAttempts, backoff: o.backoff, logger: o.logger,
      onStatus: (s) => this.#status(s),
      after406: (r, feature) => this.#after406(r, feature),
      identityChanged: (user, peer) => this.identityChanged(user, peer),
      isEnabled: (user) => this.accounts.isEnabled(user),
      isHeld: async (user, peer) => (await this.#held.get(user, async () => new Set(await o.redis.hkeys(this.#heldKey(user))))).has(peer),
      observe: (outcome, ms) => {
        o.metrics?.messages.inc({ direction: 'outbound', outcome });
        if (ms !== undefined) o.metrics?.latency.observe({ direction: 'outbound' }, ms / 1000);
      },
    });
    this.inbound = new InboundHandler({
      redis: o.redis, keyring: o.keyring, prefix: o.prefix, sessions: o.sessions, edge, accounts: this.accounts, devices,
      outbox: this.outbox, statusLog: this.statusLog, logger: o.logger,
      deliver: (user, m, media) => this.#deliver(user, m, media),
      onStatus: (_user, s) => this.#status(s),
      onNotice: (user, n) => this.#notice(user, n),
      identityChanged: (user, peer) => this.identityChanged(user, peer),
      observe: (outcome, ms) => {
        o.metrics?.messages.inc({ direction: 'inbound', outcome });
        if (ms !== undefined) o.metrics?.latency.observe({ direction: 'inbound' }, ms / 1000);
      },
    });
  }

  /** The session manager's open callback: prekey top-up and signed prekey rotation. */
  onOpened = (conn: HubConnection): void => void this.accounts.maintain(conn);

  /** The session manager's inbound callback. */
  onInbound = (conn: HubConnection, s: InboundStanza): void => this.inbound.handle(conn, s);

  register(c: Connector): void {
    this.#connectors.set(c.id, c);
    c.init(this);
  }

  async start(): Promise<void> {
    await this.inbound.start();
    await this.outbound.start();
  }

  /** Stops both workers, each finishing its active jobs within `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    await Promise.all([this.outbound.close(graceMs), this.inbound.close(graceMs)]);
  }

  userAddress(local: string): string {
    const a = formatAddress({ kind: 'provider-user', local, provider: this.providerId });
    if (parseAddress(a)?.kind !== 'provider-user') throw new SubmitError('from', 'must be 1–64 of [a-z0-9._=-]');
    return a;
  }

  async submit(adapterId: string, m: OutboundMessage): Promise<{ messageId: string; duplicate: boolean }> {
    const p = await this.#prepare(adapterId, m);
    if (p.kind === 'repeat') return { messageId: p.messageId, duplicate: true };
    return this.#accepted(p, await this.outbox.submit(p.record, p.final));
  }

  /**
   * Several messages in one call (the webhook adapter's batch endpoint): each is checked and
   * prepared as `submit` does, then every accepted one is written in a single Redis script, in the
   * given order (so one conversation's messages keep it). A message refused as the sender's error
   * (SubmitError: not opted in, bad media…) is answered `refused` and nothing of it is stored; the
   * others go on. Any other failure rejects the call before anything is written.
   */
  async submitMany(adapterId: string, ms: ReadonlyArray<OutboundMessage>): Promise<SubmitOutcome[]> {
    const prepared = await mapLimit(ms, PREPARE_CONCURRENCY, async (m): Promise<Prepared | SubmitError> => {
      try {
        return await this.#prepare(adapterId, m);
      } catch (err) {
        if (err instanceof SubmitError) return err;
        throw err;
      }
    });
    const writes = prepared.filter((p): p is Extract<Prepared, { kind: 'write' }> => !(p instanceof SubmitError) && p.kind === 'write');
    const written = await this.outbox.submitMany(writes.map((p) => ({ record: p.record, ...(p.final ? { final: p.final } : {}) })));
    const byWrite = new Map(writes.map((p, i) => [p, written[i] as { id: string; duplicate: boolean; head: boolean }]));
    return prepared.map((p): SubmitOutcome => {
      if (p instanceof SubmitError) return { refused: { field: p.field, message: p.message } };
      if (p.kind === 'repeat') return { messageId: p.messageId, duplicate: true };
      return this.#accepted(p, byWrite.get(p) as { id: string; duplicate: boolean; head: boolean });
    });
  }

  /** Checks a message and applies the policy and media pipeline; throws SubmitError for the sender's errors. */
  async #prepare(adapterId: string, m: OutboundMessage): Promise<Prepared> {
    let user: string;
    try {
      user = this.userAddress(m.from);
    } catch {
      throw new SubmitError('from', 'must be a provider user id: 1–64 of [a-z0-9._=-]');
    }
    if (parseAddress(m.to)?.kind !== 'hub-user') throw new SubmitError('to', 'must be a hub user address such as 447700900123@hub');
    if (m.feature === undefined && m.media === undefined && (m.text === undefined || m.text.length === 0)) throw new SubmitError('text', 'is required');
    if (m.text !== undefined && Buffer.byteLength(m.text, 'utf8') > this.#o.maxTextBytes) throw new SubmitError('text', `is longer than ${this.#o.maxTextBytes} bytes`);
    if (!(await this.accounts.isEnabled(user))) throw new SubmitError('from', 'has not opted in to third-party chats');
    const base = { adapterId, idempotencyKey: m.idempotencyKey, user, peer: m.to, from: m.from };
    // The downgrade policy (spec 11): what the hub does not carry is converted, rejected or dropped.
    const d = downgradeOutbound(m, this.#o.policy, { self: user });
    if (d.kind !== 'send') {
      return { kind: 'write', m, user, record: { ...base, message: { idempotencyKey: m.idempotencyKey, from: m.from, to: m.to }, original: withoutFileBytes(m) }, final: { reason: d.reason, message: d.message } };
    }
    let media: StoredMediaRef | undefined;
    if (d.message.media !== undefined) {
      // A repeat of an accepted key must not encrypt and host the file again.
      const prior = await this.statuses(adapterId, m.idempotencyKey);
      if (prior?.[0]?.idempotencyKey === m.idempotencyKey) return { kind: 'repeat', messageId: prior[0].messageId };
      media = await this.#media.prepare(d.message.media);
    }
    const { media: _media, ...message } = d.message;
    return {
      kind: 'write', m, user,
      record: {
        ...base,
        message,
        ...(m.feature ? { original: withoutFileBytes(m) } : {}),
        ...(d.fallbacks.length > 0 ? { fallbacks: d.fallbacks, downgraded: d.downgraded } : {}),
        ...(d.notice ? { notice: d.notice } : {}),
        ...(media ? { media } : {}),
      },
    };
  }

  /** After the outbox write: the policy's final status is reported, or the lane is set going. */
  #accepted(p: Extract<Prepared, { kind: 'write' }>, r: { id: string; duplicate: boolean; head: boolean }): { messageId: string; duplicate: boolean } {
    const { m, final } = p;
    if (final) {
      if (!r.duplicate) this.#status({ messageId: r.id, idempotencyKey: m.idempotencyKey, from: m.from, to: m.to, state: 'failed', at: Date.now(), reason: final.reason, message: final.message, certain: true });
    } else if (!r.duplicate && r.head) this.outbound.kick({ user: p.user, peer: m.to, id: r.id });
    return { messageId: r.id, duplicate: r.duplicate };
  }

  async statuses(adapterId: string, keyOrId: string): Promise<MessageStatus[] | undefined> {
    const mapped = await this.#o.redis.get(this.outbox.idemKey(adapterId, keyOrId));
    const id = mapped ? (mapped.split('|')[1] as string) : keyOrId;
    const h = await this.statusLog.history(id);
    return h.length > 0 ? h : undefined;
  }

  async setInterop(adapterId: string, local: string, enabled: boolean): Promise<void> {
    const user = this.userAddress(local);
    await (enabled ? this.accounts.enable(user) : this.accounts.disable(user));
    await this.#o.redis.hset(`${this.#o.prefix}:adapter-of`, user, adapterId);
    this.#adapterOf.set(user, adapterId);
  }

  async lookup(local: string, phone: string): Promise<string | undefined> {
    const conn = await this.#o.sessions.get(this.userAddress(local));
    try {
      const r = await conn.iq({ xmlns: 'directory', op: 'lookup', phone }, 'get');
      return r.op === 'lookup' ? r.jid : undefined;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  uploadMedia(u: { kind: MediaKind; mime: string; filename?: string; body: ReadableStream<Uint8Array> }): Promise<{ uploadId: string; mime: string; size: number }> {
    return this.#media.upload(u);
  }

  /**
   * A hub contact's identity key changed (spec 8 `identity`, or an untrusted identity in a fresh
   * bundle): the provider user is told the safety number changed; the old sessions and trusted
   * identities go, and the next bundle is trusted on first use. With policy `hold`, messages to
   * that peer wait until the user acknowledges the change (acknowledgeIdentity).
   */
  async identityChanged(user: string, peer: string): Promise<'continue' | 'hold'> {
    const store = this.accounts.store(user);
    const ofPeer = (name: string) => userOf(name) === peer;
    const dropped = await store.dropSessionsOf(ofPeer);
    await store.forgetIdentitiesOf(ofPeer);
    await this.#devices.invalidate(peer);
    const policy = this.#o.identityChange ?? 'continue';
    if (policy === 'hold') {
      await this.#o.redis.hset(this.#heldKey(user), peer, Date.now());
      this.#held.forget(user);
    }
    this.#o.logger.info({ user, peer, dropped, policy }, 'contact identity changed');
    this.#notice(user, { kind: 'safety-number-changed', user, peer, held: policy === 'hold' });
    return policy;
  }

  #heldKey(user: string): string {
    return `${this.#o.prefix}:held:{${user}}`;
  }

  async acknowledgeIdentity(local: string, peer: string): Promise<boolean> {
    const released = (await this.#o.redis.hdel(this.#heldKey(this.userAddress(local)), peer)) === 1;
    this.#held.forget(this.userAddress(local));
    if (released) this.#o.logger.info({ user: local, peer }, 'safety number acknowledged; held messages go out');
    return released;
  }

  async markRead(local: string, peer: string, ids: string[], type: 'read' | 'played'): Promise<void> {
    const [first, ...rest] = ids;
    if (first === undefined) return;
    const conn = await this.#o.sessions.get(this.userAddress(local));
    await conn.sendReceipt({ kind: 'receipt', id: first, to: peer, type, t: Math.floor(Date.now() / 1000), ...(rest.length ? { list: rest } : {}) });
  }

  async #connectorOf(user: string): Promise<Connector | undefined> {
    const id = await this.#adapterOf.get(user, () => this.#o.redis.hget(`${this.#o.prefix}:adapter-of`, user));
    return (id ? this.#connectors.get(id) : undefined) ?? this.#connectors.values().next().value;
  }

  async #deliver(user: string, m: InboundMessage, ref: MediaRef | undefined): Promise<void> {
    const c = await this.#connectorOf(user);
    if (!c) throw new Error(`no adapter serves ${user}`);
    const local = { ...m, to: m.to.split('@')[0] as string };
    // What the provider cannot show is converted, or withheld with a notice (policy, inbound).
    const d = downgradeInbound(local, c.capabilities, this.#o.policy);
    if (d.kind === 'deliver') {
      if (ref && d.message.media) return this.#media.deliver(user, c, d.message, ref, (n) => this.#notice(user, n));
      return c.deliver(d.message);
    }
    this.#o.logger.info({ user, peer: m.from, id: m.id, decision: d.kind, reason: d.reason }, 'inbound message withheld by policy');
    if (d.kind === 'reject') this.#notice(user, { kind: 'message-withheld', user, peer: d.peer, messageId: d.messageId, feature: d.feature, text: d.notice });
  }

  /** Spec 4's 406: downgrade per policy and send again once, else fail with the reason. */
  #after406(r: OutboundRecord, feature: string | undefined): { record: OutboundRecord } | { reason: string; message: string } {
    // What was refused, as the policy sees a message: the hosted file stands for its bytes.
    const hosted = r.media
      ? { media: { kind: r.media.kind, mime: r.media.mime, ...(r.media.filename !== undefined ? { filename: r.media.filename } : {}), ...(r.media.caption !== undefined ? { caption: r.media.caption } : {}) } }
      : {};
    const source: OutboundMessage = r.original ? { ...r.original, ...(r.original.media ? hosted : {}) } : { ...r.message, idempotencyKey: r.idempotencyKey, ...hosted };
    const d = downgradeAfter406(source, feature, this.#o.policy, { self: r.user, resent: r.resent406 === true, ...(r.media ? { mediaSize: r.media.size } : {}) });
    if (d.kind !== 'send') return { reason: d.reason, message: d.message };
    const { media: newMedia, ...message } = d.message;
    // A media kind change (e.g. image → document) keeps the hosted file: only the declared kind changes.
    const media = newMedia && r.media ? { ...r.media, kind: newMedia.kind, ...(newMedia.filename !== undefined ? { filename: newMedia.filename } : {}) } : undefined;
    if (newMedia && !media) return { reason: 'unsupported-in-interop', message: 'The downgraded message would need a file that was not prepared.' };
    const { media: _old, ...rest } = r;
    return { record: { ...rest, message, original: source, fallbacks: d.fallbacks, downgraded: d.downgraded, resent406: true, ...(d.notice ? { notice: d.notice } : {}), ...(media ? { media } : {}) } };
  }

  #status(s: MessageStatus): void {
    void (async () => {
      const user = this.userAddress(s.from);
      const c = await this.#connectorOf(user);
      await c?.status(s);
    })().catch((err: unknown) => this.#o.logger.warn({ err: (err as Error).message }, 'status not handed to the adapter'));
  }

  #notice(user: string, n: Notice): void {
    void (async () => (await this.#connectorOf(user))?.notice(n))().catch((err: unknown) =>
      this.#o.logger.warn({ err: (err as Error).message }, 'notice not handed to the adapter'),
    );
  }
}
