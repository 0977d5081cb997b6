// What the simulated hub users record, for the control API (GET /control/users/{jid}/inbox and
// /receipts): one inbox entry per device per delivered message, with timings and a summary of the
// decrypted content (media as kind/mime/size/sha256 of the verified plaintext, never the bytes),
// and the receipts provider clients sent about the user's own messages.
import type { Content } from '../protocol/index.ts';
import { hex } from './media.ts';

export interface InboxMedia {
  kind: string;
  mime: string;
  size: number;
  /** Hex SHA-256 of the plaintext, as verified after download through the media proxy. */
  sha256: string;
  filename?: string;
}

export interface InboxContent {
  text?: string;
  media?: InboxMedia;
  reply?: { to: string; sender: string };
  fallbacks?: Array<{ for: string; text: string }>;
}

export interface InboxEntry {
  id: string;
  /** The provider user. */
  from: string;
  /** The provider user's device. */
  participant: string;
  /** The hub device number that received it. */
  device: number;
  t: number;
  received_at_ms: number;
  /** When the hub accepted the message. */
  sent_at_ms: number;
  /** Delivery was held (stop_routing fault) before it reached the device. */
  offline: boolean;
  decrypted: boolean;
  /** Bench mode (config `simulation.decrypt_sample_rate`): received and counted, not decrypted. */
  skipped?: true;
  error?: string;
  content?: InboxContent;
  /** enc/@count of a resend answering a retry receipt (spec 6.2). */
  count?: number;
}

export interface ReceivedReceipt {
  /** The hub user's message id. */
  id: string;
  /** The provider user who sent the receipt. */
  from: string;
  type: 'delivery' | 'read' | 'played' | 'retry';
  /** The hub device named by `participant` (retry receipts). */
  participant?: string;
  count?: number;
  t?: number;
  received_at_ms: number;
}

export function summarize(c: Content): InboxContent {
  const out: InboxContent = {};
  if (c.text !== undefined) out.text = c.text;
  if (c.media !== undefined) {
    out.media = { kind: c.media.kind, mime: c.media.mime, size: c.media.size, sha256: hex(c.media.sha256) };
    if (c.media.filename !== undefined) out.media.filename = c.media.filename;
  }
  if (c.reply !== undefined) out.reply = { ...c.reply };
  if (c.fallbacks !== undefined && c.fallbacks.length > 0) out.fallbacks = c.fallbacks.map((f) => ({ ...f }));
  return out;
}

/** Bounded per-user lists (a mock: the oldest entries go first). */
export class BoundedList<T> {
  readonly #max: number;
  items: T[] = [];
  constructor(max: number) {
    this.#max = max;
  }
  push(v: T): void {
    this.items.push(v);
    if (this.items.length > this.#max) this.items.splice(0, this.items.length - this.#max);
  }
  clear(): number {
    const n = this.items.length;
    this.items = [];
    return n;
  }
}
