// One provider user with one SimDevice over one HIP/1 session: open with a signed token, upload
// keys, enlist, look up, send, receive. A reference client for tests, demos and providers' CI —
// not the sidecar (no durability: its "store" is memory; no backoff beyond re-encrypting on 409).
import { newId } from '../../protocol/index.ts';
import type { AckStanza, Content, IncomingMessage, NotificationStanza, ReceiptStanza, ReceiptType, Stanza } from '../../protocol/index.ts';
import { SimDevice } from '../sim-device.ts';
import { HipConnection } from './connection.ts';
import type { FrameLogEntry } from './connection.ts';
import { HipAckError, HipSessionError, iqResult, newStats } from './context.ts';
import type { ClientContext, ClientEvent, ClientStats } from './context.ts';
import { Inbox } from './inbox.ts';
import type { ReceivedMessage } from './inbox.ts';
import { Outbox } from './outbox.ts';
import { mintSessionToken } from './token.ts';
import type { JWK, MintOptions } from './token.ts';

export interface ReferenceClientOptions {
  wsUrl: string;
  providerId: string;
  /** JWT `aud`; default `hub`. */
  hubId?: string;
  /** The local part: `alice` for `alice@birdy.interop`. */
  local: string;
  privateJwk: JWK;
  kid?: string;
  /** Token `alg`; default EdDSA. */
  alg?: string;
  /** Reuse a device (e.g. to keep keys across clients); default a new one. */
  device?: SimDevice;
  /** Keep a frame log on each connection (`client.connection.log`). */
  log?: boolean;
  /**
   * Refresh the cached device list on a `devices` notification (spec 8); default true. `false`
   * keeps it until the hub answers 409, like a client that missed the notification.
   */
  followDeviceNotifications?: boolean;
}

type Inbound = IncomingMessage | ReceiptStanza | NotificationStanza;
const isInbound = (s: Stanza): s is Inbound =>
  (s.kind === 'message' && 'from' in s) || (s.kind === 'receipt' && s.from !== undefined) || s.kind === 'notification';

export class ReferenceProviderClient {
  readonly address: string;
  readonly device: SimDevice;
  readonly stats: ClientStats = newStats();
  /** Everything notable, in order (409s, retries, receipts, notifications, errors). */
  readonly events: ClientEvent[] = [];
  /** The `session` of the last `<opened>`. */
  session: string | undefined;
  readonly #o: ReferenceClientOptions;
  readonly #listeners = new Set<(e: ClientEvent) => void>();
  readonly #outbox: Outbox;
  readonly #inbox: Inbox;
  readonly #ctx: ClientContext;
  #conn: HipConnection | undefined;

  private constructor(o: ReferenceClientOptions, device: SimDevice) {
    this.#o = o;
    this.address = `${o.local}@${o.providerId}.interop`;
    this.device = device;
    const ctx: ClientContext = {
      device,
      followDeviceNotifications: o.followDeviceNotifications ?? true,
      stats: this.stats,
      peers: new Map(),
      conn: () => {
        if (this.#conn === undefined || !this.#conn.isOpen) throw new HipSessionError('not open');
        return this.#conn;
      },
      emit: (e) => {
        this.events.push(e);
        for (const l of this.#listeners) l(e);
      },
    };
    this.#outbox = new Outbox(ctx);
    this.#inbox = new Inbox(ctx, this.#outbox);
    this.#ctx = ctx;
  }

  static async create(o: ReferenceClientOptions): Promise<ReferenceProviderClient> {
    const device = o.device ?? (await SimDevice.create(`${o.local}:1@${o.providerId}.interop`));
    return new ReferenceProviderClient(o, device);
  }

  /** The current connection (for raw frames in tests); throws when not open. */
  get connection(): HipConnection {
    return this.#ctx.conn();
  }

  get isOpen(): boolean {
    return this.#conn?.isOpen ?? false;
  }

  /** Calls `fn` for every event from now on; returns the unsubscribe function. */
  onEvent(fn: (e: ClientEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * Opens a session (spec 2) with a fresh token (override claims with `token`, or pass a ready
   * `rawToken`). Throws HipSessionError on `<failure>`. May be called again after close().
   */
  async open(opts: { token?: Partial<MintOptions>; rawToken?: string; timeoutMs?: number } = {}): Promise<void> {
    if (this.isOpen) throw new HipSessionError('already open');
    const token = opts.rawToken ?? (await mintSessionToken({
      providerId: this.#o.providerId, hubId: this.#o.hubId ?? 'hub', user: this.address, privateJwk: this.#o.privateJwk,
      ...(this.#o.kid === undefined ? {} : { kid: this.#o.kid }), ...(this.#o.alg === undefined ? {} : { alg: this.#o.alg }),
      ...opts.token,
    }));
    const conn = await HipConnection.connect(this.#o.wsUrl, { log: this.#o.log ?? false });
    conn.send({ kind: 'open', user: this.address, token });
    const first = await conn.next((s) => s.kind === 'opened' || s.kind === 'failure', opts.timeoutMs ?? 5000).catch((err: unknown) => {
      conn.terminate();
      throw err;
    });
    if (first.kind === 'failure') {
      const closed = await closedWithin(conn, 2000);
      conn.terminate();
      throw new HipSessionError(first.reason, closed?.code);
    }
    this.session = first.session;
    this.#conn = conn;
    void this.#pump(conn);
  }

  /** Uploads the device's keys (spec 7.1): the full set the first time, then new one-time prekeys. */
  async uploadKeys(): Promise<void> {
    await iqResult(this.#ctx, this.device.uploadPayload(), 'empty');
  }

  /** Spec 10: after keys are uploaded. */
  async enlist(): Promise<void> {
    await iqResult(this.#ctx, { xmlns: 'interop', op: 'enlist' }, 'empty');
  }

  async delist(): Promise<void> {
    await iqResult(this.#ctx, { xmlns: 'interop', op: 'delist' }, 'empty');
  }

  /** Spec 10: the hub user's jid for an E.164 phone (`+447700900123`); HipIqError 404 if unreachable. */
  async lookup(phone: string): Promise<string> {
    return (await iqResult(this.#ctx, { xmlns: 'directory', op: 'lookup', phone }, 'lookup')).jid;
  }

  /** One-time prekeys the hub still holds for this device (spec 7.1). */
  async preKeyCount(): Promise<{ value: number; kyber: number }> {
    const { value, kyber } = await iqResult(this.#ctx, { xmlns: 'encrypt', op: 'count' }, 'count');
    return { value, kyber };
  }

  /**
   * Sends a text (spec 4, 11). Resolves with the final server ack, which may carry an error (403,
   * 406…): check `ack.error`. 409 stale-devices is handled inside (counted in stats.staleDevices).
   */
  async sendText(to: string, text: string, opts: { id?: string; t?: number; reply?: { to: string; sender: string } } = {}): Promise<{ id: string; ack: AckStanza }> {
    const content: Content = {
      id: opts.id ?? newId(), t: opts.t ?? Math.floor(Date.now() / 1000), text,
      ...(opts.reply === undefined ? {} : { reply: opts.reply }),
    };
    return { id: content.id, ack: await this.#outbox.send(to, content, 'text') };
  }

  /** Sends any content (e.g. with `media`, spec 11.1); `type` is `media` when content.media is set. */
  async sendContent(to: string, content: Content): Promise<AckStanza> {
    const media = content.media;
    return media === undefined ? this.#outbox.send(to, content, 'text') : this.#outbox.send(to, content, 'media', media.kind);
  }

  /** The next decrypted message (already acked). */
  nextMessage(timeoutMs = 5000): Promise<ReceivedMessage> {
    return this.#inbox.messages.next(undefined, timeoutMs, 'a message');
  }

  /** The next delivery/read/played receipt about this user's messages (already acked). */
  nextReceipt(match?: (r: ReceiptStanza) => boolean, timeoutMs = 5000): Promise<ReceiptStanza> {
    return this.#inbox.receipts.next(match, timeoutMs, 'a receipt');
  }

  /** The next notification (already acked and acted on). */
  nextNotification(match?: (n: NotificationStanza) => boolean, timeoutMs = 5000): Promise<NotificationStanza> {
    return this.#inbox.notifications.next(match, timeoutMs, 'a notification');
  }

  /** Spec 6.1: `ids[0]` is the receipt's id, the rest go in `<list>`. Waits for the hub's ack. */
  async sendReceipt(to: string, ids: string[], type: Exclude<ReceiptType, 'retry'>, timeoutMs = 5000): Promise<AckStanza> {
    const [id, ...rest] = ids;
    if (id === undefined) throw new Error('sendReceipt needs at least one id');
    const conn = this.#ctx.conn();
    conn.send({ kind: 'receipt', id, to, type, t: Math.floor(Date.now() / 1000), ...(rest.length === 0 ? {} : { list: rest }) });
    const ack = await conn.next((s): s is AckStanza => s.kind === 'ack' && s.class === 'receipt' && s.id === id && (s.type ?? 'delivery') === type, timeoutMs);
    if (ack.error !== undefined) throw new HipAckError(ack);
    return ack;
  }

  /** The frame log of the current connection (when created with `log: true`). */
  frameLog(): FrameLogEntry[] {
    return this.#conn?.log ?? [];
  }

  /** Ends the session with `<close/>` and waits for the socket to close. The client can open() again. */
  async close(timeoutMs = 2000): Promise<void> {
    const conn = this.#conn;
    if (conn === undefined) return;
    conn.close();
    const done = await closedWithin(conn, timeoutMs);
    if (done === undefined) conn.terminate();
  }

  async #pump(conn: HipConnection): Promise<void> {
    for (;;) {
      let s: Inbound;
      try {
        s = await conn.next(isInbound, Infinity);
      } catch {
        return; // closed
      }
      try {
        if (s.kind === 'message') await this.#inbox.onMessage(s);
        else if (s.kind === 'receipt') await this.#inbox.onReceipt(s);
        else await this.#inbox.onNotification(s);
      } catch (err) {
        this.#ctx.emit({ type: 'error', error: err instanceof Error ? err : new Error(String(err)) });
      }
    }
  }
}

/** The close of `conn`, or undefined if it has not closed within `ms` (the timer does not hold the process). */
async function closedWithin(conn: HipConnection, ms: number): Promise<{ code: number; reason: string } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => {
    timer = setTimeout(r, ms, undefined);
  });
  try {
    return await Promise.race([conn.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
