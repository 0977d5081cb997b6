// Helpers of the simulated hub users (sim-users.ts): per-device serial task chains, the 24 h store
// of what users sent (spec 6.2: kept to answer retry receipts), and composing outgoing content
// (spec 11; media encrypted and hosted by the hub, spec 11.1).
import type { Logger } from 'pino';
import { deviceAddress } from '../protocol/index.ts';
import type { Content, Enc, IncomingMessage, KeyBundle, MediaKind, MessageType } from '../protocol/index.ts';
import { encryptMedia } from './media.ts';
import type { MediaStore } from './media.ts';
import type { SimDevice } from './sim-device.ts';

/** Spec 6.2: senders keep what they sent at least 24 h. */
export const KEEP_SENT_MS = 24 * 3600_000;

export interface SentRecord {
  to: string;
  device: number;
  plaintext: Uint8Array;
  type: MessageType;
  mediatype: MediaKind | undefined;
  t: number;
  atMs: number;
}

export class SentStore {
  readonly #sent = new Map<string, SentRecord>();

  keep(user: string, id: string, rec: SentRecord): void {
    this.#sent.set(`${user}|${id}`, rec);
    const limit = Date.now() - KEEP_SENT_MS;
    for (const [k, r] of this.#sent) {
      if (r.atMs >= limit) break;
      this.#sent.delete(k);
    }
  }

  get(user: string, id: string): SentRecord | undefined {
    const r = this.#sent.get(`${user}|${id}`);
    return r === undefined || Date.now() - r.atMs > KEEP_SENT_MS ? undefined : r;
  }
}

/** Runs tasks one after the other per key (a device); a failed task is logged, the chain goes on. */
export class SerialChains {
  readonly #chains = new Map<string, Promise<void>>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#chains.get(key) ?? Promise.resolve();
    const run = prev.then(fn);
    const tail = run.then(() => undefined, (err: unknown) => this.#log.warn({ err, device: key }, 'simulated device task failed'));
    this.#chains.set(key, tail);
    void tail.then(() => {
      if (this.#chains.get(key) === tail) this.#chains.delete(key);
    });
    return run;
  }

  async idle(): Promise<void> {
    while (this.#chains.size > 0) await Promise.all([...this.#chains.values()]);
  }
}

export interface OutgoingMedia {
  kind: MediaKind;
  mime: string;
  data: Uint8Array;
  filename?: string;
}

/** The content of a simulated user's message; media is encrypted and hosted at `mediaUrl(token)`. */
export function composeContent(
  id: string, t: number, to: string,
  req: { text?: string; media?: OutgoingMedia; reply_to?: string },
  media: Pick<MediaStore, 'put'>, mediaUrl: (token: string) => string,
): Content {
  const content: Content = { id, t };
  if (req.text !== undefined) content.text = req.text;
  if (req.reply_to !== undefined) content.reply = { to: req.reply_to, sender: to };
  if (req.media !== undefined) {
    const m = req.media;
    const e = encryptMedia(m.data);
    const url = mediaUrl(media.put(e.blob));
    content.media = { kind: m.kind, mime: m.mime, size: m.data.length, sha256: e.sha256, encSha256: e.encSha256, key: e.key, nonce: e.nonce, url };
    if (m.filename !== undefined) content.media.filename = m.filename;
  }
  return content;
}

type Ciphertext = { type: 'pkmsg' | 'msg'; ciphertext: Uint8Array };

/**
 * Encrypts for a provider user's device (always device 1, spec 1), starting a session from a
 * bundle when there is none or when `fresh` (a retry answer, spec 6.2). Undefined without a bundle.
 */
export async function encryptFor(dev: SimDevice, to: string, plaintext: Uint8Array, bundle: () => KeyBundle | undefined, fresh: boolean): Promise<Ciphertext | undefined> {
  const peer = deviceAddress(to, 1);
  if (fresh || !(await dev.hasSession(peer))) {
    const b = bundle();
    if (b === undefined) return undefined;
    await dev.dropSession(peer);
    await dev.startSession(peer, b);
  }
  return dev.encrypt(peer, plaintext);
}

/** The hub → client message of spec 5 for one simulated device's ciphertext. */
export function hubMessage(from: string, participant: string, id: string, rec: SentRecord, c: Ciphertext): IncomingMessage {
  const enc: Enc = { v: 1, type: c.type, ciphertext: c.ciphertext };
  if (rec.mediatype !== undefined) enc.mediatype = rec.mediatype;
  return { kind: 'message', id, from, participant, type: rec.type, t: rec.t, enc };
}
