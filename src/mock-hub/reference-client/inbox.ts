// Receiving for the reference client (tests, demos, providers' CI — not the sidecar): decrypt,
// "store" (queue for nextMessage), then ack (spec 5); dedupe by (from, id); ack and answer a retry
// receipt when undecryptable (6.2); ack and drop content whose id differs (5, 11); ack receipts
// (6.1) and notifications (8), acting on `devices`, `identity` and `encrypt`.
import { decodeContent } from '../../protocol/index.ts';
import type { AckStanza, Content, IncomingMessage, NotificationStanza, ReceiptStanza } from '../../protocol/index.ts';
import { iqResult, rememberPeer } from './context.ts';
import type { ClientContext } from './context.ts';
import type { Outbox } from './outbox.ts';
import { WaitQueue } from './wait-queue.ts';

export interface ReceivedMessage { stanza: IncomingMessage; content: Content }

/** Spec 6.2: a sender stops after count 5, so asking more often is pointless. */
const MAX_RETRY_COUNT = 5;
/** One-time prekeys to top up to after a low-count notification (spec 8). */
const PREKEY_TARGET = 20;

export class Inbox {
  readonly messages = new WaitQueue<ReceivedMessage>();
  readonly receipts = new WaitQueue<ReceiptStanza>();
  readonly notifications = new WaitQueue<NotificationStanza>();
  readonly #ctx: ClientContext;
  readonly #outbox: Outbox;
  readonly #seen = new Set<string>();
  readonly #retries = new Map<string, number>();

  constructor(ctx: ClientContext, outbox: Outbox) {
    this.#ctx = ctx;
    this.#outbox = outbox;
  }

  async onMessage(m: IncomingMessage): Promise<void> {
    const key = `${m.from}\n${m.id}`;
    if (this.#seen.has(key)) {
      this.#ctx.stats.duplicates += 1;
      this.#ctx.emit({ type: 'dropped', id: m.id, from: m.from, why: 'duplicate' });
      this.#ack({ kind: 'ack', class: 'message', id: m.id, to: m.from });
      return;
    }
    let content: Content;
    try {
      const plaintext = await this.#ctx.device.decrypt(m.participant, m.enc);
      rememberPeer(this.#ctx, m.from, m.participant);
      content = decodeContent(plaintext);
    } catch (err) {
      // Spec 5: an undecryptable message is still acked, and answered with a retry receipt.
      this.#ack({ kind: 'ack', class: 'message', id: m.id, to: m.from });
      await this.#askRetry(m, err);
      return;
    }
    if (content.id !== m.id) {
      this.#ctx.stats.droppedMismatchedId += 1;
      this.#ctx.emit({ type: 'dropped', id: m.id, from: m.from, why: 'mismatched-id' });
      this.#ack({ kind: 'ack', class: 'message', id: m.id, to: m.from });
      return;
    }
    this.#seen.add(key);
    this.#retries.delete(key);
    this.messages.push({ stanza: m, content }); // "stored" before the ack, as spec 5 requires
    this.#ack({ kind: 'ack', class: 'message', id: m.id, to: m.from });
  }

  async onReceipt(r: ReceiptStanza): Promise<void> {
    this.#ack({
      kind: 'ack', class: 'receipt', id: r.id,
      ...(r.type === 'delivery' ? {} : { type: r.type }),
      ...(r.from === undefined ? {} : { from: r.from }),
      ...(r.participant === undefined ? {} : { participant: r.participant }),
    });
    if (r.type === 'retry') {
      await this.#outbox.answerRetry(r);
      return;
    }
    this.#ctx.emit({ type: 'receipt', receipt: r });
    this.receipts.push(r);
  }

  async onNotification(n: NotificationStanza): Promise<void> {
    this.#ack({ kind: 'ack', class: 'notification', id: n.id });
    this.#ctx.emit({ type: 'notification', notification: n });
    this.notifications.push(n);
    if (n.type === 'devices' && this.#ctx.followDeviceNotifications) this.#outbox.invalidate(n.from);
    if (n.type === 'identity') {
      this.#ctx.stats.safetyNumberChanges += 1;
      this.#outbox.invalidate(n.from);
      for (const d of this.#ctx.peers.get(n.from) ?? []) await this.#ctx.device.dropSession(d);
      this.#ctx.peers.delete(n.from);
    }
    if (n.type === 'encrypt') {
      // The hub's counts, not the device's: the hub hands uploaded keys out without telling us.
      this.#ctx.device.addPreKeys(Math.max(0, PREKEY_TARGET - n.count.value), Math.max(0, PREKEY_TARGET - n.count.kyber));
      const { preKeys, kyberPreKeys } = this.#ctx.device.uploadPayload();
      await iqResult(this.#ctx, { xmlns: 'encrypt', op: 'upload', preKeys, kyberPreKeys }, 'empty');
    }
  }

  /** Fails pending waiters (the client is closing for good). */
  end(err: Error): void {
    this.messages.end(err);
    this.receipts.end(err);
    this.notifications.end(err);
  }

  async #askRetry(m: IncomingMessage, err: unknown): Promise<void> {
    const key = `${m.from}\n${m.id}`;
    const count = (this.#retries.get(key) ?? 0) + 1;
    this.#ctx.stats.undecryptable += 1;
    if (count > MAX_RETRY_COUNT) {
      this.#ctx.emit({ type: 'dropped', id: m.id, from: m.from, why: 'retries-exhausted' });
      return;
    }
    this.#retries.set(key, count);
    const { device } = this.#ctx;
    let keys;
    if (count >= 2) {
      // Spec 6.2: from count 2 on, a bundle with one-time prekeys the hub was never given.
      device.addPreKeys(1, 1);
      keys = device.takeBundle();
    }
    const receipt: ReceiptStanza = {
      kind: 'receipt', id: m.id, to: m.from, participant: m.participant, type: 'retry',
      retry: { count, t: m.t }, registration: device.registrationId, ...(keys === undefined ? {} : { keys }),
    };
    const conn = this.#ctx.conn();
    conn.send(receipt);
    this.#ctx.stats.retriesSent += 1;
    this.#ctx.emit({ type: 'retry-sent', id: m.id, from: m.from, participant: m.participant, count, error: err instanceof Error ? err.message : String(err) });
    await conn.next((s) => s.kind === 'ack' && s.class === 'receipt' && s.id === m.id && s.type === 'retry', 5000).catch(() => undefined);
  }

  #ack(a: AckStanza): void {
    this.#ctx.conn().send(a);
  }
}
