// Message idempotence (spec 4): the hub remembers (sender, id) and a fingerprint of the accepted
// stanza for `idempotence_days`. The same stanza again gets the same ack (same `t`) and is not
// delivered twice; a different body is `id-reused`. The fingerprint covers recipient, type,
// mediatypes and per-device ciphertexts; `t`, `dhash` and `enc/@count` are not compared.
// Retry resends (spec 6.2) are remembered per (device, count) so that a lost ack of a resend is
// answered the same way too. Pure state, no IO.
import { createHash } from 'node:crypto';
import type { OutgoingMessage } from '../protocol/index.ts';

export interface AcceptedMessage {
  /** The recipient, so that a retry resend (exempt from the body check) cannot change it. */
  to: string;
  fingerprint: string;
  /** The `t` of the positive ack, repeated on duplicates. */
  t: number;
  acceptedAtMs: number;
  /** `${device jid}|${count}` → fingerprint and ack `t` of a retry resend. */
  retries: Map<string, { fingerprint: string; t: number }>;
}

export function messageFingerprint(m: OutgoingMessage): string {
  const h = createHash('sha256');
  h.update(`${m.to}\n${m.type}\n`);
  const parts = [...m.participants].sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0));
  for (const p of parts) {
    h.update(`${p.jid}\n${p.enc.type}\n${p.enc.mediatype ?? ''}\n${p.enc.ciphertext.length}\n`);
    h.update(p.enc.ciphertext);
  }
  return h.digest('base64');
}

export class IdempotenceStore {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #accepted = new Map<string, AcceptedMessage>();
  #lastSweep = 0;

  constructor(ttlMs: number, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  get(sender: string, id: string): AcceptedMessage | undefined {
    this.#sweep();
    const a = this.#accepted.get(key(sender, id));
    if (a === undefined || this.#now() - a.acceptedAtMs >= this.#ttlMs) return undefined;
    return a;
  }

  put(sender: string, id: string, to: string, fingerprint: string, t: number): AcceptedMessage {
    const a: AcceptedMessage = { to, fingerprint, t, acceptedAtMs: this.#now(), retries: new Map() };
    // delete first so that insertion order stays acceptance order (the sweep relies on it)
    this.#accepted.delete(key(sender, id));
    this.#accepted.set(key(sender, id), a);
    return a;
  }

  get size(): number {
    return this.#accepted.size;
  }

  /** Drops expired entries, at most once a minute (Map iteration order = insertion order). */
  #sweep(): void {
    const now = this.#now();
    if (now - this.#lastSweep < 60_000) return;
    this.#lastSweep = now;
    for (const [k, a] of this.#accepted) {
      if (now - a.acceptedAtMs < this.#ttlMs) break;
      this.#accepted.delete(k);
    }
  }
}

const key = (sender: string, id: string): string => `${sender}\n${id}`;
