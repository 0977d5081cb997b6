// The simulated hub users: their devices, inboxes and received receipts, and what they send.
// Every device is a SimDevice (a real libsignal client). What a device does with an enc it gets
// (decrypt, inbox, the user's script, retry receipts) is sim-receive.ts; deliveries are serialized
// per device here. What a user sends is kept 24 h to answer a provider client's retry receipts by
// re-encrypting the same plaintext after a fresh session from a new bundle.
import { Buffer } from 'node:buffer';
import { MEDIA_KINDS, ProtocolError, buildStanza, deviceAddress, encodeContent, newId, parseAddress } from '../protocol/index.ts';
import type { IncomingMessage, KeyBundle, ReceiptStanza, ReceiptType } from '../protocol/index.ts';
import type { Directory, HubUser, Script, ThirdParty } from './directory.ts';
import type { MediaStore } from './media.ts';
import { BoundedList } from './sim-inbox.ts';
import type { InboxEntry, ReceivedReceipt } from './sim-inbox.ts';
import { SimDevice } from './sim-device.ts';
import { MAX_RETRY, SimReceiver } from './sim-receive.ts';
import type { ReceiveEnv, RoutedEnc } from './sim-receive.ts';
import { SentStore, SerialChains, composeContent, encryptFor, hubMessage } from './sim-support.ts';
import type { OutgoingMedia, SentRecord } from './sim-support.ts';
import type { Counters } from './stats.ts';

export interface SimEnv extends ReceiveEnv {
  directory: Directory;
  media: MediaStore;
  mediaUrl(token: string): string;
  counters: Counters;
  /** Spec 2: the largest frame a client accepts (`limits.max_frame_bytes`). */
  maxFrameBytes: number;
  /** Hands a provider user's bundle to a hub user: consumes one-time keys, makes them contacts. */
  providerBundle(hubUser: string, providerUser: string): KeyBundle | undefined;
}

export interface SendRequest {
  to: string;
  text?: string;
  media?: OutgoingMedia;
  reply_to?: string;
  from_device?: number;
}

/** Called with every inbox entry as it is recorded (benchmarks time deliveries with it). */
export type InboxObserver = (jid: string, entry: InboxEntry) => void;

export type SimResult<T> = ({ ok: true } & T) | { ok: false; status: 400 | 403 | 404 | 413; error: string; field?: string };

const MAX_LIST = 10_000;
/** A simulated device tops up its one-time prekeys when fewer than this are left. */
const REFILL_BELOW = 5;

export class SimUsers {
  readonly #env: SimEnv;
  readonly #devices = new Map<string, SimDevice>();
  readonly #inbox = new Map<string, BoundedList<InboxEntry>>();
  readonly #receipts = new Map<string, BoundedList<ReceivedReceipt>>();
  readonly #sent = new SentStore();
  readonly #chains: SerialChains;
  readonly #observers = new Set<InboxObserver>();
  readonly #receiver: SimReceiver;

  constructor(env: SimEnv) {
    this.#env = env;
    this.#chains = new SerialChains(env.logger);
    this.#receiver = new SimReceiver(env, {
      device: (user, n) => this.device(user, n),
      record: (jid, entry) => {
        list(this.#inbox, jid).push(entry);
        for (const fn of this.#observers) fn(jid, entry);
      },
      send: (user, req) => this.send(user, req),
    });
  }

  async createUser(u: { digits: string; name?: string; devices: number[]; thirdParty: ThirdParty; script: Script }): Promise<HubUser> {
    const devices = await Promise.all(u.devices.map((n) => SimDevice.create(deviceAddress(`${u.digits}@hub`, n))));
    const user = this.#env.directory.addHubUser({ digits: u.digits, name: u.name, devices: u.devices, thirdParty: u.thirdParty, script: u.script });
    for (const d of devices) this.#devices.set(d.address, d);
    return user;
  }

  device(user: HubUser, n: number): SimDevice | undefined {
    return user.devices.includes(n) ? this.#devices.get(deviceAddress(user.jid, n)) : undefined;
  }

  async addDevice(user: HubUser, n: number): Promise<void> {
    const d = await SimDevice.create(deviceAddress(user.jid, n));
    this.#env.directory.addDevice(user, n);
    this.#devices.set(d.address, d);
  }

  removeDevice(user: HubUser, n: number): void {
    this.#env.directory.removeDevice(user, n);
    this.#devices.delete(deviceAddress(user.jid, n));
  }

  async resetIdentity(user: HubUser, n?: number): Promise<void> {
    const ns = n === undefined ? user.devices : [n];
    await Promise.all(ns.map((d) => this.device(user, d)?.resetIdentity()));
  }

  /** A bundle of a hub device for a provider client's fetch (spec 7.2); tops up one-time keys. */
  takeBundle(user: HubUser, n: number): KeyBundle | undefined {
    const d = this.device(user, n);
    if (d === undefined) return undefined;
    const b = d.takeBundle();
    const c = d.preKeyCounts();
    if (c.ec < REFILL_BELOW || c.kyber < REFILL_BELOW) d.addPreKeys(c.ec < REFILL_BELOW ? 20 : 0, c.kyber < REFILL_BELOW ? 20 : 0);
    return b;
  }

  /** Spec 8 identity notification, as a phone handles it: drop the sessions with that peer. */
  async peerIdentityChanged(providerUser: string): Promise<void> {
    const peer = deviceAddress(providerUser, 1);
    for (const jid of this.#env.directory.hubContactsOf(providerUser)) {
      const u = this.#env.directory.hubUser(jid);
      if (u === undefined) continue;
      await Promise.all(u.devices.map((n) => this.device(u, n)?.dropSession(peer)));
    }
  }

  /** Hands an enc to one device; processed in order per device. */
  deliver(user: HubUser, n: number, m: RoutedEnc): void {
    this.#chains.run(deviceAddress(user.jid, n), () => this.#receiver.receive(user, n, m));
  }

  inbox(jid: string): InboxEntry[] {
    return this.#inbox.get(jid)?.items ?? [];
  }

  /** Observes every inbox entry as it is recorded; returns the function that stops observing. */
  onInbox(fn: InboxObserver): () => void {
    this.#observers.add(fn);
    return () => void this.#observers.delete(fn);
  }

  clearInbox(jid: string): number {
    return this.#inbox.get(jid)?.clear() ?? 0;
  }

  receipts(jid: string): ReceivedReceipt[] {
    return this.#receipts.get(jid)?.items ?? [];
  }

  recordReceipt(jid: string, r: ReceivedReceipt): void {
    list(this.#receipts, jid).push(r);
  }

  /** Resolves when every device has processed what it was given (tests, close). */
  async idle(): Promise<void> {
    await this.#chains.idle();
  }

  /** POST /control/users/{jid}/send: the user writes to a provider user from one of its devices. */
  async send(user: HubUser, req: SendRequest): Promise<SimResult<{ id: string }>> {
    const r = await this.prepareSend(user, req);
    if (!r.ok) return r;
    r.release();
    return { ok: true, id: r.id };
  }

  /**
   * `send` in two steps (benchmarks): checks, content and encryption now; the message goes to the
   * hub only on `release()`, so that a load generator can encrypt ahead and time delivery alone.
   * Messages of one device to one provider user must be released in the order they were prepared.
   */
  async prepareSend(user: HubUser, req: SendRequest): Promise<SimResult<{ id: string; release(): void }>> {
    const { directory } = this.#env;
    const addr = parseAddress(req.to);
    if (addr?.kind !== 'provider-user') return { ok: false, status: 400, error: 'not a provider user address', field: 'to' };
    const pu = directory.reachableProviderUser(req.to);
    if (pu === undefined) return { ok: false, status: 404, error: 'no-such-user', field: 'to' };
    if (!directory.reachable(user, pu.provider)) return { ok: false, status: 403, error: 'not-opted-in', field: 'to' };
    if (directory.isBlocked(user, req.to, pu.provider)) return { ok: false, status: 403, error: 'blocked', field: 'to' };
    const n = req.from_device ?? user.devices[0];
    const dev = n === undefined ? undefined : this.device(user, n);
    if (dev === undefined || n === undefined) return { ok: false, status: 400, error: 'no such device', field: 'from_device' };
    if (req.text === undefined && req.media === undefined) return { ok: false, status: 400, error: 'text or media is required', field: 'text' };
    const id = newId();
    const t = Math.floor(Date.now() / 1000);
    if (req.media !== undefined) {
      if (!MEDIA_KINDS.includes(req.media.kind)) return { ok: false, status: 400, error: 'unknown media kind', field: 'media.kind' };
      if (req.media.data.length > this.#env.maxMediaBytes(req.media.kind)) return { ok: false, status: 413, error: 'too-large', field: 'media.data' };
    }
    // A blob hosted for a message that is then not sent is dropped again: nothing will fetch it.
    let hosted: string | undefined;
    const media = { put: (blob: Uint8Array): string => (hosted = this.#env.media.put(blob)) };
    const failed = <R>(r: R): R => {
      if (hosted !== undefined) this.#env.media.delete(hosted);
      return r;
    };
    let plaintext: Uint8Array;
    try {
      plaintext = encodeContent(composeContent(id, t, req.to, req, media, (token) => this.#env.mediaUrl(token)));
    } catch (err) {
      failed(undefined);
      // content spec 11 does not allow (text too long, characters XML cannot carry, bad mime…)
      if (err instanceof ProtocolError) return { ok: false, status: 400, error: err.message, field: contentField(err.message) };
      throw err;
    }
    const mediatype = req.media?.kind;
    const rec: SentRecord = { to: req.to, device: n, plaintext, type: mediatype === undefined ? 'text' : 'media', mediatype, t, atMs: Date.now() };
    const enc = await this.#chains.run(dev.address, () => encryptFor(dev, req.to, plaintext, () => this.#env.providerBundle(user.jid, req.to), false)).catch((err: unknown) => {
      throw failed(err);
    });
    if (enc === undefined) return failed({ ok: false, status: 404, error: 'no-such-user', field: 'to' });
    const message = hubMessage(user.jid, dev.address, id, rec, enc);
    // A frame over the limit would make the client close its session (1009) and get it again on
    // every open. The ratchet step taken is lost, which the receiver handles as a skipped message.
    if (!this.#fits(message)) return failed({ ok: false, status: 413, error: 'too-large', field: req.text === undefined ? 'media' : 'text' });
    const release = (): void => {
      this.#sent.keep(user.jid, id, rec);
      directory.addContact(user.jid, req.to);
      this.#env.counters.messages_accepted += 1;
      this.#env.toProvider(req.to, message);
    };
    return { ok: true, id, release };
  }

  /** POST /control/users/{jid}/receipts: one receipt stanza (with `<list>` for several ids). */
  sendReceipts(user: HubUser, to: string, ids: string[], type: Exclude<ReceiptType, 'retry'>): SimResult<{ sent: number }> {
    const pu = this.#env.directory.reachableProviderUser(to);
    if (pu === undefined) return { ok: false, status: 404, error: 'no-such-user', field: 'to' };
    const n = user.devices[0];
    const [first, ...rest] = ids;
    if (n === undefined || first === undefined) return { ok: false, status: 400, error: 'ids must not be empty', field: 'ids' };
    const r: ReceiptStanza = { kind: 'receipt', id: first, from: user.jid, participant: deviceAddress(user.jid, n), type, t: Math.floor(Date.now() / 1000) };
    if (rest.length > 0) r.list = rest;
    this.#env.toProvider(to, r);
    return { ok: true, sent: ids.length };
  }

  /** A provider client's retry receipt about a message of this user (spec 6.2). */
  answerRetry(user: HubUser, from: string, r: ReceiptStanza): void {
    const rec = this.#sent.get(user.jid, r.id);
    const count = r.retry?.count ?? 1;
    if (rec === undefined || rec.to !== from || count < 1 || count > MAX_RETRY) return;
    let n = rec.device;
    const p = r.participant === undefined ? undefined : parseAddress(r.participant);
    if (p?.kind === 'hub-device' && `${p.phone}@hub` === user.jid) n = p.device;
    const dev = this.device(user, n);
    if (dev === undefined) return;
    this.#chains.run(dev.address, async () => {
      const enc = await encryptFor(dev, from, rec.plaintext, () => r.keys ?? this.#env.providerBundle(user.jid, from), true);
      if (enc === undefined) return;
      const s = hubMessage(user.jid, dev.address, r.id, rec, enc);
      s.enc.count = count;
      // a pkmsg is larger than the msg it replaces: never queue a frame the client must refuse
      if (!this.#fits(s)) return this.#env.logger.warn({ user: user.jid, id: r.id }, 'retry resend does not fit in a frame');
      this.#env.toProvider(from, s);
    });
  }

  /** Spec 2: the message, as delivered from the store (offline="1"), fits in one frame. */
  #fits(m: IncomingMessage): boolean {
    return Buffer.byteLength(buildStanza({ ...m, offline: true }), 'utf8') <= this.#env.maxFrameBytes;
  }
}

/** The control API field a content error is about (messages of src/protocol/content.ts). */
function contentField(message: string): string {
  if (message.startsWith('reply/')) return 'reply_to';
  const media = /^media\/@([a-z-]+)/.exec(message);
  return media === null ? 'text' : `media.${media[1] as string}`;
}

function list<T>(m: Map<string, BoundedList<T>>, jid: string): BoundedList<T> {
  let l = m.get(jid);
  if (l === undefined) {
    l = new BoundedList<T>(MAX_LIST);
    m.set(jid, l);
  }
  return l;
}
