// A provider user as the conformance suite plays it: a real libsignal device (SimDevice) plus one
// HIP/1 session, with helpers for the iqs of spec 7/10, for encrypting and sending messages to a
// hub user's current devices (spec 4) and for receiving and decrypting what the hub delivers (spec 5).
import { IQ_OP_TYPE, decodeContent, encodeContent, newId } from '../../../../src/protocol/index.ts';
import type {
  AckStanza, Content, DeviceList, IncomingMessage, IqError, IqQuery, IqResult, IqResultPayload, IqStanza, KeyBundle,
  MediaKind, OpenedStanza, OutgoingMessage, Stanza, StanzaErrorBody,
} from '../../../../src/protocol/index.ts';
import { SimDevice } from '../../../../src/mock-hub/sim-device.ts';
import { HipConn, binReplacer } from './hip-conn.ts';
import { devAddr, dhashOfDevices, freshLocal, nowSeconds } from './names.ts';
import type { HubTarget } from './target.ts';
import { mintToken, type ProviderCreds, type TokenOverrides } from './tokens.ts';

export interface OpenResult { conn: HipConn; first: Stanza }

/** Connects and sends `<open>`; resolves with the hub's first answer (opened or failure). */
export async function openRaw(t: HubTarget, user: string, provider: ProviderCreds, token?: TokenOverrides | string): Promise<OpenResult> {
  const conn = await HipConn.connect(t.wsUrl);
  const jwt = typeof token === 'string' ? token : await mintToken(provider, user, t.hubId, token);
  conn.send({ kind: 'open', user, token: jwt });
  const first = await conn.next((s) => s.kind === 'opened' || s.kind === 'failure', 5000, 'opened or failure');
  return { conn, first };
}

export interface ProviderUserOptions {
  provider?: ProviderCreds;
  local?: string;
  /** Upload keys after opening (default true). */
  upload?: boolean;
  /** Enlist after uploading (default true). */
  enlist?: boolean;
  /** Open a session at all (default true). */
  open?: boolean;
  oneTimePreKeys?: number;
  oneTimeKyberPreKeys?: number;
}

export interface Received {
  stanza: IncomingMessage;
  plaintext: Uint8Array;
  content: Content;
}

export class ProviderUser {
  readonly t: HubTarget;
  readonly provider: ProviderCreds;
  readonly jid: string;
  readonly device: string;
  readonly sim: SimDevice;
  #conn: HipConn | undefined;

  private constructor(t: HubTarget, provider: ProviderCreds, jid: string, sim: SimDevice) {
    this.t = t;
    this.provider = provider;
    this.jid = jid;
    this.device = devAddr(jid, 1);
    this.sim = sim;
  }

  static async create(t: HubTarget, o: ProviderUserOptions = {}): Promise<ProviderUser> {
    const provider = o.provider ?? t.birdy;
    const jid = `${o.local ?? freshLocal()}@${provider.id}.interop`;
    const simOpts: { oneTimePreKeys?: number; oneTimeKyberPreKeys?: number } = {};
    if (o.oneTimePreKeys !== undefined) simOpts.oneTimePreKeys = o.oneTimePreKeys;
    if (o.oneTimeKyberPreKeys !== undefined) simOpts.oneTimeKyberPreKeys = o.oneTimeKyberPreKeys;
    const sim = await SimDevice.create(devAddr(jid, 1), simOpts);
    const u = new ProviderUser(t, provider, jid, sim);
    if (o.open === false) return u;
    await u.open();
    if (o.upload !== false) {
      await u.uploadKeys();
      if (o.enlist !== false) await u.enlist();
    }
    return u;
  }

  get conn(): HipConn {
    if (this.#conn === undefined) throw new Error(`${this.jid} has no session`);
    return this.#conn;
  }

  get hasConn(): boolean {
    return this.#conn !== undefined && !this.#conn.isClosed;
  }

  /** Opens a (new) session and expects `<opened>`. */
  async open(token?: TokenOverrides): Promise<OpenedStanza> {
    const { conn, first } = await openRaw(this.t, this.jid, this.provider, token);
    if (first.kind !== 'opened') {
      await conn.drop();
      throw new Error(`open for ${this.jid} answered ${JSON.stringify(first)}`);
    }
    this.#conn = conn;
    return first;
  }

  /** Ends the session with `<close/>`. */
  async close(): Promise<void> {
    if (this.#conn !== undefined) await this.#conn.end();
    this.#conn = undefined;
  }

  /**
   * Sends an iq and waits for its answer. A frame the hub could not parse is answered with
   * `<ack class="iq" id error reason/>` instead of an iq (docs/protocol-notes.md); that is returned
   * as an iq error with the same code and reason.
   */
  async iq(query: IqQuery, id: string = newId(), timeoutMs = 5000): Promise<IqResult | IqError> {
    this.conn.send({ kind: 'iq', id, type: IQ_OP_TYPE[query.op], query });
    const answer = await this.conn.next<IqStanza | AckStanza>(
      (s) => (s.kind === 'iq' && s.id === id && (s.type === 'result' || s.type === 'error')) || (s.kind === 'ack' && s.class === 'iq' && s.id === id),
      timeoutMs, `answer to iq ${id}`,
    );
    if (answer.kind === 'ack') return { kind: 'iq', id, type: 'error', error: { code: answer.error ?? 0, reason: answer.reason ?? '' } };
    if (answer.type !== 'result' && answer.type !== 'error') throw new Error(`not an iq answer: ${answer.type}`);
    return answer;
  }

  /** An iq that must succeed; returns its payload. */
  async iqOk(query: IqQuery): Promise<IqResultPayload> {
    const a = await this.iq(query);
    if (a.type !== 'result') throw new Error(`iq ${query.xmlns}/${query.op} failed: ${JSON.stringify(a.error)}`);
    return a.result;
  }

  async uploadKeys(): Promise<void> {
    await this.iqOk(this.sim.uploadPayload());
  }

  async enlist(): Promise<void> {
    await this.iqOk({ xmlns: 'interop', op: 'enlist' });
  }

  async devicesOf(user: string): Promise<DeviceList> {
    const r = await this.iqOk({ xmlns: 'devices', op: 'devices', jid: user });
    if (r.op !== 'devices') throw new Error(`devices iq answered ${r.op}`);
    return r.list;
  }

  async fetchBundles(jids: string[]): Promise<Array<{ jid: string; bundle: KeyBundle } | { jid: string; error: StanzaErrorBody }>> {
    const r = await this.iqOk({ xmlns: 'encrypt', op: 'fetch', jids });
    if (r.op !== 'bundles') throw new Error(`fetch iq answered ${r.op}`);
    return r.users;
  }

  /** Makes sure a session exists with each device (fetching bundles for the missing ones). */
  async ensureSessions(deviceAddresses: string[]): Promise<void> {
    const missing: string[] = [];
    for (const d of deviceAddresses) if (!(await this.sim.hasSession(d))) missing.push(d);
    if (missing.length === 0) return;
    for (const entry of await this.fetchBundles(missing)) {
      if (!('bundle' in entry)) throw new Error(`no bundle for ${entry.jid}: ${JSON.stringify(entry.error)}`);
      await this.sim.startSession(entry.jid, entry.bundle);
    }
  }

  /**
   * Builds a message to `to` encrypted for `devices` (default: the hub's current list, read with a
   * devices iq) with a correct dhash unless `dhash` is given (null = leave it out).
   */
  async buildMessage(
    to: string,
    body: { text?: string; content?: Partial<Content>; plaintext?: Uint8Array },
    o: { id?: string; type?: string; mediatype?: MediaKind; devices?: number[]; dhash?: string | null; count?: number } = {},
  ): Promise<OutgoingMessage> {
    const id = o.id ?? newId();
    const t = nowSeconds();
    const devices = o.devices ?? (await this.devicesOf(to)).devices;
    const addrs = devices.map((d) => devAddr(to, d));
    await this.ensureSessions(addrs);
    const plaintext = body.plaintext ?? encodeContent({ id, t, ...(body.text === undefined ? {} : { text: body.text }), ...body.content });
    const participants: OutgoingMessage['participants'] = [];
    for (const jid of addrs) {
      const { type, ciphertext } = await this.sim.encrypt(jid, plaintext);
      participants.push({
        jid,
        enc: { v: 1, type, ciphertext, ...(o.mediatype === undefined ? {} : { mediatype: o.mediatype }), ...(o.count === undefined ? {} : { count: o.count }) },
      });
    }
    const msg: OutgoingMessage = { kind: 'message', id, to, type: o.type ?? (o.mediatype === undefined ? 'text' : 'media'), t, participants };
    const dhash = o.dhash === undefined ? dhashOfDevices(to, devices) : o.dhash;
    if (dhash !== null) msg.dhash = dhash;
    return msg;
  }

  /** Sends a message stanza and waits for its server ack. */
  async send(msg: OutgoingMessage, timeoutMs = 5000): Promise<AckStanza> {
    this.conn.send(msg);
    return this.conn.ack(msg.id, 'message', timeoutMs);
  }

  /** Builds, sends and expects a positive ack; returns the message and the ack. */
  async sendText(to: string, text: string, o: { id?: string } = {}): Promise<{ msg: OutgoingMessage; ack: AckStanza }> {
    const msg = await this.buildMessage(to, { text }, o);
    const ack = await this.send(msg);
    if (ack.error !== undefined) throw new Error(`message to ${to} refused: ${JSON.stringify(ack, binReplacer)}`);
    return { msg, ack };
  }

  /** Waits for the next incoming message matching `pred` (without acking or decrypting it). */
  nextMessage(pred: (m: IncomingMessage) => boolean = () => true, timeoutMs = 5000): Promise<IncomingMessage> {
    return this.conn.next<IncomingMessage>((s) => s.kind === 'message' && 'from' in s && pred(s), timeoutMs, 'an incoming message');
  }

  /** Waits for a message, decrypts it, checks the padding/content codec, and acks it (spec 5). */
  async receive(pred: (m: IncomingMessage) => boolean = () => true, o: { ack?: boolean; timeoutMs?: number } = {}): Promise<Received> {
    const stanza = await this.nextMessage(pred, o.timeoutMs ?? 5000);
    const plaintext = await this.sim.decrypt(stanza.participant, { type: stanza.enc.type, ciphertext: stanza.enc.ciphertext });
    const content = decodeContent(plaintext);
    if (o.ack !== false) this.ackMessage(stanza);
    return { stanza, plaintext, content };
  }

  ackMessage(m: IncomingMessage): void {
    this.conn.send({ kind: 'ack', class: 'message', id: m.id, to: m.from });
  }
}
