// Per provider user mailbox (spec 2, 5, 6, 8): every stanza the hub sends to a provider user that
// needs an ack (message, receipt, notification) waits here until the client acks it with a
// matching ack. With a session open it is sent at once; without one it is stored (offline queue)
// and the caller is told so it can push (spec 9). On open everything queued is delivered, messages
// stored while offline with offline="1"; unacked entries are redelivered on the next open and,
// on the same session, after `redeliver_after_s`. In memory (mock hub). No IO.
import type { AckStanza, Stanza } from '../protocol/index.ts';

/** An open session as seen by the mailbox. */
export interface Outlet {
  send(stanza: Stanza): void;
}

interface Entry {
  /** What a matching ack looks like (see ackKeyOf); undefined = fire and forget. */
  key: string | undefined;
  stanza: Stanza;
  enqueuedAtMs: number;
  /** Stored while the user had no session (or left unacked by a closed one): offline="1". */
  stored: boolean;
  sentAtMs: number | undefined;
}

interface Box {
  entries: Entry[];
  outlet: Outlet | undefined;
}

export interface MailboxOptions {
  retentionMs: number;
  now?: () => number;
  /** A stanza was stored for a user with no open session. */
  onStored?: (user: string, pending: number) => void;
  /** A message left the mailbox acked by the client. */
  onAcked?: (user: string, stanza: Stanza) => void;
}

/** The ack that removes a stanza: spec 5 (messages, `to`), 6.1 (receipts, type/from/participant), 8. */
export function stanzaKey(s: Stanza): string | undefined {
  switch (s.kind) {
    case 'message':
      return 'from' in s ? `message|${s.id}|${s.from}` : undefined;
    case 'receipt':
      return `receipt|${s.id}|${s.type}|${s.from ?? ''}|${s.participant ?? ''}`;
    case 'notification':
      return `notification|${s.id}`;
    default:
      return undefined;
  }
}

export function ackKey(a: AckStanza): string | undefined {
  if (a.id === undefined) return undefined;
  switch (a.class) {
    case 'message':
      return `message|${a.id}|${a.to ?? ''}`;
    case 'receipt':
      return `receipt|${a.id}|${a.type ?? 'delivery'}|${a.from ?? ''}|${a.participant ?? ''}`;
    case 'notification':
      return `notification|${a.id}`;
    default:
      return undefined;
  }
}

export class Mailboxes {
  readonly #boxes = new Map<string, Box>();
  readonly #opts: MailboxOptions;
  readonly #now: () => number;

  constructor(opts: MailboxOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Queues a stanza for a user; sends it now when a session is attached. Returns true if stored offline. */
  enqueue(user: string, stanza: Stanza): boolean {
    const box = this.#box(user);
    const key = stanzaKey(stanza);
    // a newer stanza with the same ack key (e.g. a retry resend, spec 6.2) replaces the older one
    if (key !== undefined) box.entries = box.entries.filter((e) => e.key !== key);
    const entry: Entry = { key, stanza, enqueuedAtMs: this.#now(), stored: box.outlet === undefined, sentAtMs: undefined };
    if (key !== undefined) box.entries.push(entry);
    if (box.outlet !== undefined) {
      this.#send(box.outlet, entry);
      return false;
    }
    if (key !== undefined) this.#opts.onStored?.(user, this.pending(user));
    return true;
  }

  /** A session opened: deliver everything queued, oldest first. */
  attach(user: string, outlet: Outlet): void {
    const box = this.#box(user);
    box.outlet = outlet;
    this.#expire(box);
    for (const e of [...box.entries]) this.#send(outlet, e);
  }

  /** The session closed: what is still unacked counts as stored (offline="1" next time). */
  detach(user: string, outlet: Outlet): void {
    const box = this.#boxes.get(user);
    if (box === undefined || box.outlet !== outlet) return;
    box.outlet = undefined;
    for (const e of box.entries) {
      e.stored = true;
      e.sentAtMs = undefined;
    }
  }

  hasOutlet(user: string): boolean {
    return this.#boxes.get(user)?.outlet !== undefined;
  }

  /** Removes what a client ack matches; false when it matched nothing. */
  ack(user: string, ack: AckStanza): boolean {
    const box = this.#boxes.get(user);
    const key = ackKey(ack);
    if (box === undefined || key === undefined) return false;
    const i = box.entries.findIndex((e) => e.key === key);
    if (i < 0) return false;
    const [e] = box.entries.splice(i, 1);
    if (e !== undefined) this.#opts.onAcked?.(user, e.stanza);
    return true;
  }

  /** Resends entries sent on the current session more than `afterMs` ago and not acked (spec 5). */
  redeliver(user: string, afterMs: number): number {
    const box = this.#boxes.get(user);
    if (box?.outlet === undefined) return 0;
    this.#expire(box);
    const now = this.#now();
    let n = 0;
    for (const e of box.entries) {
      if (e.sentAtMs !== undefined && now - e.sentAtMs >= afterMs) {
        this.#send(box.outlet, e);
        n += 1;
      }
    }
    return n;
  }

  /** Stored stanzas of every kind (spec 9 `pending`). */
  pending(user: string): number {
    const box = this.#boxes.get(user);
    if (box === undefined) return 0;
    this.#expire(box);
    return box.entries.length;
  }

  /** Drops everything queued for a user (delist, spec 10). */
  clear(user: string): void {
    const box = this.#boxes.get(user);
    if (box !== undefined) box.entries = [];
  }

  #send(outlet: Outlet, e: Entry): void {
    e.sentAtMs = this.#now();
    const s = e.stanza;
    outlet.send(e.stored && s.kind === 'message' && 'from' in s ? { ...s, offline: true } : s);
  }

  /** Spec 2: stored at least `offline_retention_days`; older entries are dropped. */
  #expire(box: Box): void {
    const limit = this.#now() - this.#opts.retentionMs;
    if (box.entries.some((e) => e.enqueuedAtMs < limit)) box.entries = box.entries.filter((e) => e.enqueuedAtMs >= limit);
  }

  #box(user: string): Box {
    let b = this.#boxes.get(user);
    if (b === undefined) {
      b = { entries: [], outlet: undefined };
      this.#boxes.set(user, b);
    }
    return b;
  }
}
