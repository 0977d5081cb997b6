// What the hub pushes on a provider user's session: messages (spec 5), receipts about the user's
// messages (spec 6), notifications (spec 8). A message is decrypted and stored durably (sealed)
// in one Signal unit of work: its ACQUIRE reads the dedup record of (from, id) under the peer's
// lock, its COMMIT writes the ratchet step and the stored message together, so that a crash can
// never leave a spent message key without the message. Only then is it acked to the hub; then
// handed to the adapter in process, in the session's order, after which a delivery receipt goes
// back to the hub (handover.ts: pending set, sweep, retries). An undecryptable message is acked,
// answered with a retry receipt (spec 6.2) and reported to the provider user — only on an error
// known to mean that its ciphertext cannot be decrypted (isUndecryptable: a whitelist); any other
// failure (a unit that lost its lock, Redis, a config fault, a bug) leaves it unacked, so the hub
// redelivers it.
import { createHash } from 'node:crypto';
import { ErrorCode, LibSignalErrorBase } from '@signalapp/libsignal-client';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { InboundMessage, MessageStatus, Notice } from '../../adapters/contract.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { SignalEdge } from '../crypto/signal-edge.ts';
import type { UnitWrites } from '../crypto/unit-writes.ts';
import type { HubConnection, InboundStanza } from '../hub/connection.ts';
import type { SessionManager } from '../hub/sessions.ts';
import { decodeContent, deviceAddress, encodeContent, ProtocolError, userOf, type Content, type IncomingMessage, type MediaRef, type NotificationStanza, type ReceiptStanza } from '../protocol/index.ts';
import type { Accounts } from './accounts.ts';
import type { DeviceDirectory } from './devices.ts';
import { contentOf } from './encrypt-message.ts';
import { InboundHandover } from './handover.ts';
import { loadMediaRef, storeMediaRef, type Outbox, type StoredMediaRef } from './outbox.ts';
import type { StatusLog } from './status-log.ts';

const KEEP_S = 7 * 24 * 3600;

/**
 * libsignal's messages (rust/protocol/src/error.rs) of its errors without a code of their own
 * (ErrorCode.Generic) that are about the ciphertext: malformed (too short, unknown version, bad
 * protobuf, bad keys in it), failing (MAC, "decryption failed", too far into the future: the
 * InvalidMessage family), naming prekeys we lack, or from a device we have no session with.
 */
const BAD_CIPHERTEXT = new RegExp(
  '^(invalid (Whisper|PreKey) message: |protobuf encoding was invalid|ciphertext serialized bytes were too short <|ciphertext version was (too old|unrecognized) <' +
    '|unrecognized message version <|no key type identifier|bad key (type|length) <|bad KEM (key type|key length|ciphertext length) <|unexpected KEM key type <' +
    '|invalid (signed |Kyber )?prekey identifier|session with \\S+ not found)',
);
/** A store of ours that failed inside libsignal: its error is wrapped as Generic, named in the message. */
const CALLBACK_FAILED = /^error in method call '(\w+)': (.*)$/s;
/** Reads of the prekeys a PreKey message names; one not found (MissingKeyError) is the message's fault. */
const PREKEY_READS = new Set(['loadPreKey', 'loadSignedPreKey', 'loadKyberPreKey']);

/**
 * Whether `err`, from decrypting a hub message and storing it, says that its ciphertext cannot be
 * decrypted with what we have, so that asking the sender for a retry (spec 6.2) is the answer: a
 * whitelist. Anything else — a Redis failure (also one inside libsignal's store calls), a record
 * sealed under a key this replica lacks, a lost lock, a bug — is ours, and the message is left to
 * the hub to redeliver: acking it would lose it.
 */
export function isUndecryptable(err: unknown): boolean {
  // Decrypted, but not content (spec 5): its message key is spent either way.
  if (err instanceof ProtocolError) return err.code === 'bad-content';
  if (!(err instanceof LibSignalErrorBase)) return false;
  switch (err.code) {
    case ErrorCode.DuplicatedMessage: // its key is spent and no stored message has its id (the guard)
    case ErrorCode.InvalidSession: // our session with that device cannot decrypt it
    case ErrorCode.UntrustedIdentity: // still, after the identity change (see #message)
      return true;
    case ErrorCode.Generic: {
      const failed = CALLBACK_FAILED.exec(err.message);
      if (failed) return PREKEY_READS.has(failed[1] as string) && (failed[2] as string).startsWith('MissingKeyError: ');
      return BAD_CIPHERTEXT.test(err.message);
    }
    default:
      return false;
  }
}

/** A decrypted message as stored (sealed) for the hand-over. */
interface Stored {
  message: InboundMessage;
  mediaRef: StoredMediaRef | undefined;
  at: number;
}

export interface InboundOptions {
  redis: Redis;
  keyring: Keyring;
  prefix: string;
  sessions: SessionManager;
  edge: SignalEdge;
  accounts: Accounts;
  devices: DeviceDirectory;
  outbox: Outbox;
  statusLog: StatusLog;
  /** Hands a message (with its attachment's MediaRef, spec 11) to the adapter serving `user`. */
  deliver: (user: string, m: InboundMessage, media: MediaRef | undefined) => Promise<void>;
  onStatus: (user: string, s: MessageStatus) => void;
  onNotice: (user: string, n: Notice) => void;
  /** A contact's identity changed (spec 8 `identity`): see Core.identityChanged. */
  identityChanged: (user: string, peer: string) => Promise<unknown>;
  /** Outcome of each hub message, for metrics. */
  observe?: (outcome: 'delivered' | 'undecryptable' | 'duplicate' | 'not-handled', latencyMs: number | undefined) => void;
  logger: Logger;
}

/** A session's stanzas in flight: the last one per hub user, and the last one about no one in particular. */
interface SessionChains {
  byPeer: Map<string, Promise<void>>;
  barrier: Promise<void>;
  /** Stanzas of the session being handled now, at most SESSION_CONCURRENCY, and those waiting for a turn. */
  running: number;
  waiting: Array<() => void>;
}

/**
 * How many stanzas of one session are handled at once (different hub users'): enough to keep Redis
 * busy, few enough that a burst (a session opening on thousands of stored messages) neither
 * starves the other sessions nor makes units outlive their peer locks.
 */
const SESSION_CONCURRENCY = 32;

export class InboundHandler {
  readonly #o: InboundOptions;
  /** The inbound queue: stored messages whose hand-over to the adapter is retried. */
  readonly queue: InboundHandover['queue'];
  /** Per session: the stanzas about one hub user in arrival order, the others' alongside (#chain). */
  readonly #chains = new WeakMap<HubConnection, SessionChains>();
  /** Stanzas being handled (close waits for them, within its grace). */
  readonly #inflight = new Set<Promise<void>>();
  #closing = false;
  readonly #handover: InboundHandover;

  constructor(o: InboundOptions) {
    this.#o = o;
    this.#handover = new InboundHandover(o);
    this.queue = this.#handover.queue;
  }

  /** Messages being handed to the adapter in process (for the queue-depth metric). */
  get pending(): number {
    return this.#handover.pending;
  }

  start(): Promise<void> {
    return this.#handover.start();
  }

  /** Gives the inbound queue every stored message whose hand-over is overdue; returns how many. */
  sweep(): Promise<number> {
    return this.#handover.sweep();
  }

  /**
   * Stops handling what the hub pushes (a stanza arriving from now on is not acked: the hub
   * redelivers it to the next session), lets the stanzas being handled finish within `graceMs`,
   * then stops the hand-over's queue (its active jobs likewise bounded, bull.ts).
   */
  async close(graceMs = 10_000): Promise<void> {
    this.#closing = true;
    if (this.#inflight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.#inflight]), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    await this.#handover.close(graceMs);
  }

  /** Entry point from the session manager. */
  handle(conn: HubConnection, s: InboundStanza): void {
    if (this.#closing) {
      this.#o.logger.debug({ user: conn.user, kind: s.kind }, 'stopping: inbound stanza left to the hub to redeliver');
      return;
    }
    const work = async (): Promise<void> => {
      // The session closed while this stanza waited for its turn: it could not be acked, so it is
      // left to the hub, which redelivers it to the next session in order (spec 5) — handled here
      // it would run alongside that session's handling of the same hub user's stanzas.
      if (!conn.open) return;
      await this.#one(conn, s);
    };
    const next = this.#chain(conn, s, () => work().catch((err: unknown) => {
      // Not acked: the hub redelivers it on the next session, or after 60 s (spec 5). Counted, so
      // that one failing again and again (an error isUndecryptable does not know) can be alerted on.
      // (Whatever was thrown: a throw in here would break the chains of the session's stanzas.)
      this.#o.logger.warn({ user: conn.user, kind: s.kind, ...(s.kind === 'message' && 'from' in s ? { from: s.from, id: s.id } : {}), err: err instanceof Error ? err.message : String(err) }, 'inbound stanza not handled');
      if (s.kind === 'message') this.#o.observe?.('not-handled', undefined);
    }));
    this.#inflight.add(next);
    void next.finally(() => this.#inflight.delete(next));
  }

  /**
   * Runs `work` (which never rejects) after the stanzas of the same session it must follow: those
   * about the same hub user (a message, a receipt or a notification `from` it), so that one
   * conversation is handled in arrival order — its messages, their identity change, its retry
   * receipts — while different hub users' stanzas run alongside (each unit of Signal work holds its
   * peer's lock; what they share of the provider user's account is written field by field). A
   * stanza about no one in particular (prekeys running low, providers enrolled) waits for every
   * stanza before it, and every stanza after it waits for it. At most SESSION_CONCURRENCY run at once.
   */
  #chain(conn: HubConnection, s: InboundStanza, work: () => Promise<void>): Promise<void> {
    let c = this.#chains.get(conn);
    if (c === undefined) this.#chains.set(conn, (c = { byPeer: new Map(), barrier: Promise.resolve(), running: 0, waiting: [] }));
    const chains = c;
    const turn = async (): Promise<void> => {
      if (chains.running >= SESSION_CONCURRENCY) await new Promise<void>((r) => chains.waiting.push(r));
      else chains.running++;
      try {
        await work();
      } finally {
        // The turn passes to the first waiting stanza (the count stays), or is given back.
        const wake = chains.waiting.shift();
        if (wake) wake();
        else chains.running--;
      }
    };
    const peer = 'from' in s && typeof s.from === 'string' && s.from !== '' ? s.from : undefined;
    if (peer === undefined) {
      const next = Promise.all([chains.barrier, ...chains.byPeer.values()]).then(turn);
      chains.barrier = next;
      chains.byPeer.clear();
      return next;
    }
    const next = (chains.byPeer.get(peer) ?? chains.barrier).then(turn);
    chains.byPeer.set(peer, next);
    // Forgotten once done, unless a later stanza of the same hub user chained on it meanwhile.
    void next.then(() => {
      if (chains.byPeer.get(peer) === next) chains.byPeer.delete(peer);
    });
    return next;
  }

  async #one(conn: HubConnection, s: InboundStanza): Promise<void> {
    switch (s.kind) {
      case 'message':
        if ('from' in s) return this.#message(conn, s);
        return;
      case 'receipt':
        return this.#receipt(conn, s);
      case 'notification':
        return this.#notification(conn, s);
      default:
        return;
    }
  }

  #recordKey(user: string, from: string, id: string): string {
    return `${this.#o.prefix}:in:{${user}}:${createHash('sha256').update(`${from}|${id}`).digest('base64url')}`;
  }

  async #message(conn: HubConnection, m: IncomingMessage): Promise<void> {
    const user = conn.user;
    const key = this.#recordKey(user, m.from, m.id);
    const ack = () => conn.send({ kind: 'ack', class: 'message', id: m.id, to: m.from });
    // A group ciphertext (spec 12, phase 2) on a message to one user: it cannot be decrypted here.
    if (m.enc.type !== 'pkmsg' && m.enc.type !== 'msg') return this.#undecryptable(conn, m, key, new Error(`enc type ${m.enc.type} is for groups (phase 2)`), ack);
    const decrypt = () => this.#o.edge.decryptWith(this.#o.accounts.store(user), deviceAddress(user, 1), m.participant, m.enc, {
      guard: { key, field: 'state' },
      then: (plain) => this.#toStore(user, key, m, decodeContent(plain)),
    });
    let out;
    try {
      try {
        out = await decrypt();
      } catch (err) {
        if (!LibSignalErrorBase.is(err, ErrorCode.UntrustedIdentity)) throw err;
        // The contact's identity key changed (a reinstall, spec 7.1) and this message is the first
        // we hear of it: an identity change as on the `identity` notification (tell the provider
        // user, drop the old sessions and identity), then this message starts the new session.
        // Asking for retries instead could never succeed: every resend carries the new identity.
        await this.#o.identityChanged(user, m.from);
        out = await decrypt();
      }
    } catch (err) {
      // Only an error about the ciphertext makes it undecryptable (isUndecryptable). Anything else
      // (a lost lock: nothing was written; a Redis failure; a record sealed under a key this replica
      // lacks: fixed, it decrypts; a bug) is not acked, so the hub redelivers it (handle logs it).
      if (!isUndecryptable(err)) throw err;
      return this.#undecryptable(conn, m, key, err as Error, ack);
    }
    if (out.guarded) {
      // A stored one is being handed over, or will be by the sweep (pending set).
      this.#o.observe?.('duplicate', undefined);
      return ack();
    }
    const stored = out.value;
    if (!stored) return ack(); // relabelled on the way: dropped (spec 5, 11)
    await this.#handover.afterStored(key, async () => {
      // Stored: handed over even if the ack cannot go out because the session closed meanwhile. The
      // hub redelivers it to the next session, whose guard acks it as a duplicate; left to the
      // sweep, it would reach the adapter after that session's later messages of the conversation.
      try {
        ack();
      } catch (err) {
        if (conn.open) throw err;
        this.#o.logger.debug({ user, from: m.from, id: m.id, err: (err as Error).message }, 'stored message not acked (session closed); handed over anyway');
      }
      await this.#handover.handOver(conn, key, stored.message, stored.mediaRef ? loadMediaRef(stored.mediaRef) : undefined, stored.at);
    });
  }

  /** What the unit's COMMIT stores for a decrypted message; only a 'dropped' mark for one relabelled on the way. */
  #toStore(user: string, key: string, m: IncomingMessage, content: Content): { value: Stored | undefined; writes?: UnitWrites } {
    // Dropped, but remembered like a stored one: a redelivery (lost ack) is then a duplicate, not a
    // message whose key is spent, which would be answered with a retry receipt (spec 5: none).
    if (content.id !== m.id) return { value: undefined, writes: { hashes: [{ key, fields: { state: 'dropped' }, ttlS: KEEP_S }] } };
    const mediaRef = content.media ? storeMediaRef(content.media) : undefined;
    const message: InboundMessage = {
      id: m.id,
      from: m.from,
      fromDevice: m.participant,
      to: user,
      t: content.t,
      offline: m.offline === true,
      ...(content.text !== undefined ? { text: content.text } : {}),
      ...(content.reply ? { replyTo: { id: content.reply.to, sender: content.reply.sender } } : {}),
      ...(content.fallbacks ? { fallbacks: content.fallbacks.map((f) => ({ feature: f.for, text: f.text })) } : {}),
      // The attachment's description; its bytes are fetched by the media pipeline (src/media), which
      // is not wired to delivery yet — adapters that cannot show media get the policy's text line.
      ...(content.media
        ? {
            media: {
              kind: content.media.kind, mime: content.media.mime, size: content.media.size,
              ...(content.media.filename !== undefined ? { filename: content.media.filename } : {}),
              ...(content.media.caption !== undefined ? { caption: content.media.caption } : {}),
              ...(content.media.width !== undefined ? { width: content.media.width } : {}),
              ...(content.media.height !== undefined ? { height: content.media.height } : {}),
              ...(content.media.durationMs !== undefined ? { durationMs: content.media.durationMs } : {}),
            },
          }
        : {}),
    };
    const at = Date.now();
    const sealed = this.#o.keyring.seal(Buffer.from(JSON.stringify({ message, mediaRef })), `${key}|data`);
    return { value: { message, mediaRef, at }, writes: this.#handover.storeWrites(key, at, sealed, KEEP_S) };
  }

  async #undecryptable(conn: HubConnection, m: IncomingMessage, key: string, err: Error, ack: () => void): Promise<void> {
    const user = conn.user;
    this.#o.logger.warn({ user, from: m.participant, id: m.id, err: err.message }, 'undecryptable message; asking for a retry');
    // Counted before the ack: if Redis fails here the message stays unacked (the hub redelivers it)
    // rather than acked with no retry receipt, which would lose it for good.
    const [[failed, n] = [new Error('no reply')]] = (await this.#o.redis.multi().incr(`${key}:retry`).expire(`${key}:retry`, KEEP_S).exec()) ?? [];
    if (failed) throw failed;
    const count = Number(n);
    ack();
    if (count <= 5) {
      const registration = await this.#o.accounts.store(user).identities.getLocalRegistrationId();
      conn.send({ kind: 'receipt', id: m.id, to: m.from, participant: m.participant, type: 'retry', retry: { count, t: m.t }, registration });
    }
    this.#o.onNotice(user, { kind: 'undecryptable', user, peer: m.from, messageId: m.id });
    this.#o.observe?.('undecryptable', undefined);
  }

  async #receipt(conn: HubConnection, r: ReceiptStanza): Promise<void> {
    const user = conn.user;
    const ack = () => conn.send({ kind: 'ack', class: 'receipt', id: r.id, type: r.type, ...(r.from ? { from: r.from } : {}), ...(r.participant ? { participant: r.participant } : {}) });
    if (!r.from || r.type === 'retry') {
      ack();
      if (r.from) await this.#answerRetry(conn, r);
      return;
    }
    // Acked once its statuses are stored, each due for its report to the adapter until the adapter
    // took it (status-log.ts; a report lost or refused after the ack is made again by the outbound
    // sweep). If Redis fails first, the hub sends the receipt again (a repeat of a stored state
    // appends and marks nothing).
    const statuses: MessageStatus[] = [];
    const sender = user.slice(0, user.indexOf('@')); // statuses name our user by its local id
    for (const id of [r.id, ...(r.list ?? [])]) {
      const state = r.type === 'delivery' ? 'delivered' : r.type;
      const s = await this.#o.statusLog.appendReceipt(id, this.#o.outbox.recordKey(user, id), sender, { state, at: Date.now(), to: r.from, ...(r.participant ? { device: r.participant } : {}) });
      if (s) statuses.push(s);
    }
    ack();
    for (const s of statuses) this.#o.onStatus(user, s);
  }

  /**
   * A hub device could not decrypt one of our messages (spec 6.2): start a fresh session with it
   * (from the bundle in the receipt, else a fetched one), re-encrypt the same content, and resend
   * to that device only, under the same id, with `count`. Stops after count 5.
   */
  async #answerRetry(conn: HubConnection, r: ReceiptStanza): Promise<void> {
    const count = r.retry?.count ?? 1;
    if (!r.participant || count > 5) return;
    const loaded = await this.#o.outbox.load(conn.user, r.id);
    // The receipt can overtake our own bookkeeping of the server ack: a stored frame means it was sent.
    if (!loaded || (loaded.state !== 'sent' && loaded.frame === undefined)) return; // older than 24 h, or never sent
    // Only the recipient may ask, and only for one of its own devices: anyone else would be
    // handed the message's plaintext, encrypted for a device that was never meant to have it.
    if (r.from !== loaded.record.peer || userOf(r.participant) !== r.from) {
      this.#o.logger.warn({ user: conn.user, id: r.id, from: r.from, device: r.participant }, 'retry receipt from a device that was not a recipient; ignored');
      return;
    }
    const store = this.#o.accounts.store(conn.user);
    const local = deviceAddress(conn.user, 1);
    let bundle = r.keys;
    if (!bundle) {
      const res = await conn.iq({ xmlns: 'encrypt', op: 'fetch', jids: [r.participant] }, 'get');
      const u = res.op === 'bundles' ? res.users[0] : undefined;
      if (!u || !('bundle' in u)) return;
      bundle = u.bundle;
    }
    const enc = await this.#o.edge.startSessionAndEncrypt(store, local, r.participant, bundle, encodeContent(contentOf(loaded.record)));
    // Spec 4: the type and mediatype the original declared (encrypt-message.ts), not always text.
    const mediatype = loaded.record.media?.kind;
    const ack = await conn.sendMessage({
      kind: 'message', id: r.id, to: loaded.record.peer, type: mediatype ? 'media' : 'text', t: loaded.record.t,
      participants: [{ jid: r.participant, enc: { v: 1, ...enc, count, ...(mediatype ? { mediatype } : {}) } }],
    });
    this.#o.logger.info({ user: conn.user, id: r.id, device: r.participant, count, error: ack.error }, 'answered a retry receipt');
  }

  async #notification(conn: HubConnection, n: NotificationStanza): Promise<void> {
    const user = conn.user;
    switch (n.type) {
      case 'encrypt':
        await this.#o.accounts.replenish(conn, n.count);
        break;
      case 'identity':
        await this.#o.identityChanged(user, n.from);
        break;
      case 'devices':
        await this.#o.devices.invalidate(n.from);
        break;
      case 'interop':
        this.#o.onNotice(user, { kind: 'interop-changed', user, peer: n.from, enabled: n.state === 'enabled' });
        break;
      case 'providers':
        for (const p of n.providers) this.#o.onNotice(user, { kind: 'provider-enrolled', user, provider: p });
        break;
    }
    conn.send({ kind: 'ack', class: 'notification', id: n.id });
  }
}
