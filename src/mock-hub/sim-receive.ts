// What a simulated hub device does with an enc it gets (sim-users.ts routes them, one at a time
// per device): it decrypts it, decodes the content (spec 11; content whose id differs from the
// stanza's is dropped), fetches and verifies media through the proxy, records the result in the
// user's inbox, and follows the user's script: delivery receipts from that device, then — once per
// message and user, after delay_ms — a read receipt and an echo reply. An undecryptable enc is
// answered with a retry receipt (count 1, then with <keys> from count 2, never beyond 5; spec 6.2).
// Bench mode (config `simulation.decrypt_sample_rate` < 1): only a sample of sessions is decrypted,
// the rest is counted, so that the simulated users do not eat the CPU of what is measured.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { decodeContent, userOf } from '../protocol/index.ts';
import type { Content, Enc, MediaKind, MessageType, ReceiptStanza, Stanza } from '../protocol/index.ts';
import type { HubUser } from './directory.ts';
import { MediaError, decryptMedia, fetchCapped } from './media.ts';
import { summarize } from './sim-inbox.ts';
import type { InboxEntry } from './sim-inbox.ts';
import type { SimDevice } from './sim-device.ts';
import type { Timers } from './timers.ts';

/** What receiving needs of the hub (a part of SimEnv, sim-users.ts). */
export interface ReceiveEnv {
  timers: Timers;
  logger: Logger;
  maxMediaBytes(kind: MediaKind): number;
  signal: AbortSignal;
  /** Routes a stanza to a provider user (faults gate, mailbox, push). */
  toProvider(user: string, stanza: Stanza): void;
  /** Share of sessions decrypted in full (config `simulation.decrypt_sample_rate`); default 1. */
  decryptSampleRate?: number;
}

/** What receiving needs of the users (SimUsers). */
export interface ReceiveHost {
  device(user: HubUser, n: number): SimDevice | undefined;
  /** Records an inbox entry (and tells the observers). */
  record(jid: string, entry: InboxEntry): void;
  /** The scripted echo reply. */
  send(user: HubUser, req: { to: string; text: string; from_device: number }): Promise<{ ok: true } | { ok: false; error: string }>;
}

/** An enc routed to one hub device. */
export interface RoutedEnc {
  id: string;
  from: string;
  participant: string;
  type: MessageType;
  t: number;
  enc: Enc;
  sentAtMs: number;
  offline: boolean;
}

/** Spec 6.2: stop after count 5. */
export const MAX_RETRY = 5;
/** Messages remembered per user as handled (read receipt and echo sent once). */
const MAX_HANDLED = 10_000;

export class SimReceiver {
  readonly #env: ReceiveEnv;
  readonly #host: ReceiveHost;
  readonly #handled = new Map<string, Set<string>>();
  readonly #retryCounts = new Map<string, number>();

  constructor(env: ReceiveEnv, host: ReceiveHost) {
    this.#env = env;
    this.#host = host;
  }

  /** Handles an enc given to device `n` of `user` (the caller serializes per device). */
  async receive(user: HubUser, n: number, m: RoutedEnc): Promise<void> {
    const dev = this.#host.device(user, n);
    const entry: InboxEntry = {
      id: m.id, from: userOf(m.participant), participant: m.participant, device: n, t: m.t,
      received_at_ms: 0, sent_at_ms: m.sentAtMs, offline: m.offline, decrypted: false,
      ...(m.enc.count === undefined ? {} : { count: m.enc.count }),
    };
    const record = (): void => {
      entry.received_at_ms = Date.now();
      this.#host.record(user.jid, entry);
    };
    if (dev === undefined) {
      entry.error = 'no-such-device';
      return record();
    }
    if (!(await this.#mustDecrypt(dev, m.participant))) {
      // bench mode: counted; a delivery receipt per script, nothing that needs the content
      entry.skipped = true;
      record();
      if (user.script.receipts) this.#env.toProvider(m.from, { kind: 'receipt', id: m.id, from: user.jid, participant: dev.address, type: 'delivery', t: nowS() });
      return;
    }
    let content: Content;
    try {
      content = decodeContent(await dev.decrypt(m.participant, m.enc));
    } catch (err) {
      entry.error = err instanceof Error ? `${err.name}: ${err.message}` : 'undecryptable';
      record();
      return this.#askRetry(user, dev, m);
    }
    entry.decrypted = true;
    this.#retryCounts.delete(`${dev.address}|${m.from}|${m.id}`);
    if (content.id !== m.id) {
      // spec 5/11: acked (by the hub) and dropped, no delivery receipt, no retry receipt
      entry.error = 'content-id-mismatch';
      return record();
    }
    entry.content = summarize(content);
    if (content.media !== undefined) {
      try {
        const limit = this.#env.maxMediaBytes(content.media.kind) + 16;
        decryptMedia(content.media, await fetchCapped(content.media.url, limit, this.#env.signal));
      } catch (err) {
        entry.error = `media: ${err instanceof MediaError ? err.message : 'failed'}`;
      }
    }
    record();
    this.#afterReceive(user, dev, n, m, content);
  }

  #afterReceive(user: HubUser, dev: SimDevice, n: number, m: RoutedEnc, content: Content): void {
    const { script } = user;
    if (script.receipts) this.#env.toProvider(m.from, { kind: 'receipt', id: m.id, from: user.jid, participant: dev.address, type: 'delivery', t: nowS() });
    const handled = this.#handled.get(user.jid) ?? new Set<string>();
    this.#handled.set(user.jid, handled);
    const key = `${m.from}|${m.id}`;
    if (handled.has(key) || (!script.read && !script.echo)) return;
    handled.add(key);
    if (handled.size > MAX_HANDLED) handled.delete(handled.values().next().value ?? '');
    const act = async (): Promise<void> => {
      if (script.read) this.#env.toProvider(m.from, { kind: 'receipt', id: m.id, from: user.jid, participant: dev.address, type: 'read', t: nowS() });
      const text = content.text ?? (content.media === undefined ? undefined : `[${content.media.kind} ${content.media.size} bytes]`);
      if (script.echo && text !== undefined) {
        const r = await this.#host.send(user, { to: m.from, text: `echo: ${text}`, from_device: n });
        if (!r.ok) this.#env.logger.debug({ user: user.jid, error: r.error }, 'echo not sent');
      }
    };
    if (script.delay_ms > 0) this.#env.timers.after(script.delay_ms, act, (err) => this.#env.logger.warn({ err }, 'scripted action failed'));
    else void act().catch((err: unknown) => this.#env.logger.warn({ err }, 'scripted action failed'));
  }

  /**
   * Bench mode: a session outside the sample is decrypted only while the device has none with the
   * peer (its first message opens it). The sample is fixed per (device, peer), from a hash.
   */
  async #mustDecrypt(dev: SimDevice, peer: string): Promise<boolean> {
    const rate = this.#env.decryptSampleRate ?? 1;
    if (rate >= 1 || inSample(dev.address, peer, rate)) return true;
    return !(await dev.hasSession(peer));
  }

  /** Spec 6.2: count 1, then with a fresh bundle in <keys> from count 2 on; never beyond 5. */
  #askRetry(user: HubUser, dev: SimDevice, m: RoutedEnc): void {
    const k = `${dev.address}|${m.from}|${m.id}`;
    const count = (this.#retryCounts.get(k) ?? 0) + 1;
    if (count > MAX_RETRY) return;
    this.#retryCounts.set(k, count);
    const r: ReceiptStanza = {
      kind: 'receipt', id: m.id, from: user.jid, participant: dev.address, type: 'retry', t: nowS(),
      retry: { count, t: m.t }, registration: dev.registrationId,
    };
    if (count >= 2) r.keys = dev.takeBundle();
    this.#env.toProvider(m.from, r);
  }
}

const nowS = (): number => Math.floor(Date.now() / 1000);

/** Whether the session (device, peer) is in a sample of share `rate` (stable: from a hash). */
function inSample(device: string, peer: string, rate: number): boolean {
  return createHash('sha256').update(`${device}|${peer}`).digest().readUInt32BE(0) / 2 ** 32 < rate;
}
