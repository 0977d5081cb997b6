// The core the adapters talk to (adapters/contract.ts CoreApi): accepts provider users' messages
// into the outbox, reports statuses and notices to the adapter that serves each user, and routes
// the hub's inbound traffic to it. Built by main.ts from the parts below; holds no state of its own
// beyond the connector table. What a submitted message goes through before the outbox (checks,
// policy, media, the 406 path) is core-submit.ts; attachments are core-media.ts.
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
import { HubFeaturesStore } from './hub/features.ts';
import type { SessionManager } from './hub/sessions.ts';
import type { Metrics } from './metrics.ts';
import type { PolicyConfig } from './config/policy-schema.ts';
import { downgradeInbound } from './policy/index.ts';
import type { MediaService } from './media/index.ts';
import { CoreMedia } from './core-media.ts';
import { CoreSubmit, OutboundRateLimit } from './core-submit.ts';
import { SubmitError } from './submit-error.ts';
import type { HubConnection, InboundStanza } from './hub/connection.ts';
import { formatAddress, parseAddress, userOf } from './protocol/index.ts';

export { SubmitError } from './submit-error.ts';

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
  /** How long a sent message's record is kept for retry receipts (config `limits.sent_retention_h`); default 24 h. */
  sentRetentionS?: number;
  /** How long a final status may stay unconfirmed by the adapter before a sweep reports it again; default 60 s. */
  statusRedoMs?: number;
  /** The downgrade rules (config `policy`). */
  policy: PolicyConfig;
  /** Config `limits.outbound_rate_per_user`; no limit when unset. */
  outboundRate?: { max_messages: number; per_seconds: number };
  /** Config `limits.max_media_bytes`: our own per-kind limits, applied with the hub's (hub/features.ts). */
  mediaLimits?: Partial<Record<MediaKind, number>>;
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
  /** What the hub carries, as the outbound policy sees it (spec 11 `features`, 406s learned). */
  readonly hubFeatures: HubFeaturesStore;
  readonly #connectors = new Map<string, Connector>();
  /** Safety-number holds and the adapter serving each user, as recently read (delivery/recent.ts). */
  readonly #held = new Recent<Set<string>>(1000);
  readonly #adapterOf = new Recent<string | null>(10_000);
  readonly #media: CoreMedia;
  readonly #submit: CoreSubmit;
  #devices!: DeviceDirectory;
  readonly #edge: SignalEdge;
  readonly #o: CoreOptions;

  constructor(o: CoreOptions) {
    this.#o = o;
    this.providerId = o.providerId;
    this.#media = new CoreMedia({ redis: o.redis, keyring: o.keyring, prefix: o.prefix, ...(o.media ? { media: o.media } : {}), logger: o.logger });
    const edge = (this.#edge = new SignalEdge(new PeerLock(o.prefix)));
    const devices = (this.#devices = new DeviceDirectory(o.redis, o.prefix));
    this.statusLog = new StatusLog(o.redis, o.prefix);
    this.hubFeatures = new HubFeaturesStore({ redis: o.redis, prefix: o.prefix, ...(o.mediaLimits ? { limits: o.mediaLimits } : {}), logger: o.logger });
    this.outbox = new Outbox(o.redis, o.keyring, o.prefix, this.statusLog, o.sentRetentionS === undefined ? {} : { sentRetentionS: o.sentRetentionS });
    this.accounts = new Accounts({
      redis: o.redis, keyring: o.keyring, prefix: o.prefix, sessions: o.sessions, preKeys: o.preKeys, logger: o.logger,
      lowWater: o.lowWater ?? 10, rotateSignedMs: o.rotateSignedMs ?? 7 * 24 * 3600 * 1000,
    });
    this.outbound = new OutboundDelivery({
      redis: o.redis, prefix: o.prefix, keyring: o.keyring, outbox: this.outbox, devices, sessions: o.sessions, edge,
      concurrency: o.concurrency, ackTimeoutMs: o.ackTimeoutMs, maxQueueAgeMs: o.maxQueueAgeMs, maxAttempts: o.maxAttempts, backoff: o.backoff, logger: o.logger,
      // Awaited by the worker: a final status stays due until the adapter took it.
      onStatus: (s) => this.#report(s),
      ...(o.statusRedoMs === undefined ? {} : { statusRedoMs: o.statusRedoMs }),
      after406: (r, feature) => this.#submit.after406(r, feature),
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
      // A receipt's status stays due until the adapter took it (reported again by the sweep).
      onStatus: (_user, s) => this.outbound.reportDue(s),
      onNotice: (user, n) => this.#notice(user, n),
      identityChanged: (user, peer) => this.identityChanged(user, peer),
      observe: (outcome, ms) => {
        o.metrics?.messages.inc({ direction: 'inbound', outcome });
        if (ms !== undefined) o.metrics?.latency.observe({ direction: 'inbound' }, ms / 1000);
      },
    });
    this.#submit = new CoreSubmit({
      outbox: this.outbox, maxTextBytes: o.maxTextBytes, policy: o.policy,
      userAddress: (local) => this.userAddress(local),
      isEnabled: (user) => this.accounts.isEnabled(user),
      statuses: (adapterId, keyOrId) => this.statuses(adapterId, keyOrId),
      prepareMedia: (media) => this.#media.prepare(media),
      kick: (j) => this.outbound.kick(j),
      onStatus: (s) => this.outbound.reportDue(s),
      hubFeatures: this.hubFeatures,
      ...(o.outboundRate ? { rateLimit: new OutboundRateLimit(o.redis, o.prefix, o.outboundRate) } : {}),
    });
  }

  /** The session manager's open callback: prekey top-up and signed prekey rotation; the hub's features when stale. */
  onOpened = (conn: HubConnection): void => {
    void this.accounts.maintain(conn);
    this.hubFeatures.opened(conn);
  };

  /** The session manager's inbound callback. */
  onInbound = (conn: HubConnection, s: InboundStanza): void => this.inbound.handle(conn, s);

  register(c: Connector): void {
    this.#connectors.set(c.id, c);
    c.init(this);
  }

  async start(): Promise<void> {
    this.accounts.start(); // the periodic prekey rotation check
    this.hubFeatures.start(() => this.#o.sessions.openConnections()); // the periodic features check
    await this.inbound.start();
    await this.outbound.start();
  }

  /** Stops both workers, each finishing its active jobs within `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    this.accounts.close(); // the periodic prekey rotation check
    this.hubFeatures.close();
    await Promise.all([this.outbound.close(graceMs), this.inbound.close(graceMs)]);
  }

  userAddress(local: string): string {
    const a = formatAddress({ kind: 'provider-user', local, provider: this.providerId });
    if (parseAddress(a)?.kind !== 'provider-user') throw new SubmitError('from', 'must be 1–64 of [a-z0-9._=-]');
    return a;
  }

  submit(adapterId: string, m: OutboundMessage): Promise<{ messageId: string; duplicate: boolean }> {
    return this.#submit.submit(adapterId, m);
  }

  /** Several messages in one durable write, in order (core-submit.ts). */
  submitMany(adapterId: string, ms: ReadonlyArray<OutboundMessage>): Promise<SubmitOutcome[]> {
    return this.#submit.submitMany(adapterId, ms);
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
    const dropped = await this.#edge.forgetPeer(store, ofPeer);
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

  /** Hands a status to the adapter serving its sender; rejects when it was not taken. */
  async #report(s: MessageStatus): Promise<void> {
    const c = await this.#connectorOf(this.userAddress(s.from));
    await c?.status(s);
  }

  #notice(user: string, n: Notice): void {
    void (async () => (await this.#connectorOf(user))?.notice(n))().catch((err: unknown) =>
      this.#o.logger.warn({ err: (err as Error).message }, 'notice not handed to the adapter'),
    );
  }
}
