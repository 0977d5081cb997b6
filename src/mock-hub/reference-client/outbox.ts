// Sending for the reference client (tests, demos, providers' CI — not the sidecar): encrypt for
// every current device of the recipient with the matching dhash, re-encrypt with the same id on 409
// stale-devices (spec 4), and answer the hub devices' retry receipts with a resend (spec 6.2).
import { computeDhash, deviceAddress, encodeContent } from '../../protocol/index.ts';
import type { AckStanza, Content, DeviceList, Enc, MessageType, OutgoingMessage, ReceiptStanza } from '../../protocol/index.ts';
import { iqResult, rememberPeer, startSessions } from './context.ts';
import type { ClientContext } from './context.ts';

/** What a sender keeps to answer retries (spec 6.2: at least 24 h; this client keeps it while alive). */
interface Sent { to: string; type: MessageType; t: number; plaintext: Uint8Array; mediatype: Enc['mediatype'] }

/** Re-encryptions after 409 before giving up (the list could keep changing under a flapping hub). */
const MAX_STALE_ROUNDS = 5;
/** Spec 6.2: senders stop after count 5. */
const MAX_RETRY_COUNT = 5;

export class Outbox {
  readonly #ctx: ClientContext;
  readonly #lists = new Map<string, DeviceList>();
  readonly #sent = new Map<string, Sent>();
  readonly #chains = new Map<string, Promise<unknown>>();
  ackTimeoutMs = 10_000;

  constructor(ctx: ClientContext) {
    this.#ctx = ctx;
  }

  /** The recipient's device list (spec 7.3), cached until a `devices` notification or a 409. */
  async deviceList(user: string): Promise<DeviceList> {
    const cached = this.#lists.get(user);
    if (cached !== undefined) return cached;
    const { list } = await iqResult(this.#ctx, { xmlns: 'devices', op: 'devices', jid: user }, 'devices');
    this.#lists.set(user, list);
    return list;
  }

  /** Forget the cached device list (a `devices` notification, spec 8). */
  invalidate(user: string): void {
    this.#lists.delete(user);
  }

  /**
   * Encrypts `content` for every device of `to` and sends it; on 409 re-encrypts for the list in
   * the answer and sends again with the same id. Returns the final ack, error or not.
   */
  send(to: string, content: Content, type: MessageType = 'text', mediatype?: Enc['mediatype']): Promise<AckStanza> {
    // One send per recipient at a time: keeps the conversation in order and starts sessions once.
    const prev = this.#chains.get(to) ?? Promise.resolve();
    const run = prev.then(() => this.#send(to, content, type, mediatype));
    const tail = run.catch(() => undefined);
    this.#chains.set(to, tail);
    void tail.then(() => {
      if (this.#chains.get(to) === tail) this.#chains.delete(to);
    });
    return run;
  }

  async #send(to: string, content: Content, type: MessageType, mediatype: Enc['mediatype']): Promise<AckStanza> {
    const plaintext = encodeContent(content);
    for (let round = 0; ; round++) {
      const list = await this.deviceList(to);
      const jids = list.devices.map((n) => deviceAddress(to, n));
      const participants = await this.#encryptFor(to, jids, plaintext, mediatype);
      const stanza: OutgoingMessage = { kind: 'message', id: content.id, to, type, t: content.t, dhash: computeDhash(jids), participants };
      const ack = await this.#sendAndWait(stanza);
      if (ack.error === 409 && round < MAX_STALE_ROUNDS) {
        this.#ctx.stats.staleDevices += 1;
        this.#ctx.emit({ type: 'stale-devices', id: content.id, to, devices: ack.devices });
        if (ack.devices === undefined) this.#lists.delete(to);
        else this.#lists.set(to, ack.devices);
        continue;
      }
      if (ack.error === undefined) this.#sent.set(content.id, { to, type, t: content.t, plaintext, mediatype });
      return ack;
    }
  }

  /** Answers a retry receipt about one of our messages: fresh session, same plaintext, same id. */
  async answerRetry(r: ReceiptStanza): Promise<void> {
    const sent = this.#sent.get(r.id);
    const device = r.participant;
    const count = r.retry?.count ?? 1;
    if (sent === undefined || device === undefined || sent.to !== r.from || count > MAX_RETRY_COUNT) {
      this.#ctx.emit({ type: 'dropped', id: r.id, from: r.from ?? '', why: 'retries-exhausted' });
      return;
    }
    await startSessions(this.#ctx, sent.to, [device], r.keys === undefined ? undefined : new Map([[device, r.keys]]));
    const [participant] = await this.#encryptFor(sent.to, [device], sent.plaintext, sent.mediatype);
    if (participant === undefined) return;
    participant.enc.count = count;
    const list = this.#lists.get(sent.to);
    const stanza: OutgoingMessage = {
      kind: 'message', id: r.id, to: sent.to, type: sent.type, t: sent.t,
      ...(list === undefined ? {} : { dhash: list.dhash }),
      participants: [participant],
    };
    const ack = await this.#sendAndWait(stanza);
    if (ack.error !== undefined) throw new Error(`resend of ${r.id} to ${device} refused: ${ack.error} ${ack.reason ?? ''}`);
    this.#ctx.stats.retriesAnswered += 1;
    this.#ctx.emit({ type: 'retry-answered', id: r.id, to: sent.to, participant: device, count });
  }

  async #encryptFor(user: string, jids: string[], plaintext: Uint8Array, mediatype: Enc['mediatype']): Promise<OutgoingMessage['participants']> {
    const { device } = this.#ctx;
    const missing: string[] = [];
    for (const jid of jids) if (!(await device.hasSession(jid))) missing.push(jid);
    if (missing.length > 0) await startSessions(this.#ctx, user, missing);
    return Promise.all(jids.map(async (jid) => {
      rememberPeer(this.#ctx, user, jid);
      const { type, ciphertext } = await device.encrypt(jid, plaintext);
      const enc: Enc = { v: 1, type, ciphertext, ...(mediatype === undefined ? {} : { mediatype }) };
      return { jid, enc };
    }));
  }

  async #sendAndWait(stanza: OutgoingMessage): Promise<AckStanza> {
    const conn = this.#ctx.conn();
    conn.send(stanza);
    return conn.next((s): s is AckStanza => s.kind === 'ack' && s.class === 'message' && s.id === stanza.id, this.ackTimeoutMs);
  }
}
