// Which of the core's statuses of a Matrix user's message reach the portal, and when (config
// `send_statuses`, docs/matrix-adapter.md "Statuses"). Each send-status event is an encrypted
// event in the portal (a Megolm encryption, a device-state write, a request), so:
// - `failures`: a success ("the hub accepted it", "a hub device got it") posts nothing, except the
//   policy's notice of a conversion that comes with "sent". Failures, read receipts: as they come.
// - `all`: a "sent" is held for `holdMs`; a "delivered" of the same message arriving meanwhile
//   replaces it (one SUCCESS event with `delivered_to_users`, keeping what "sent" carried), and a
//   message's success never goes back (a late "sent", or a second device's "delivered", is
//   dropped). A failure posts at once and drops a held success (it would only be stale).
// Posts of one message run in order. The core hands statuses over without waiting for them
// (src/core.ts), so holding one delays nothing else; `flush` posts what is held (stop).
import type { MessageStatus } from '../contract.ts';

export const SEND_STATUSES = ['failures', 'all'] as const;
export type SendStatuses = (typeof SEND_STATUSES)[number];
/** Every status: the sender is told sent, delivered and failed (config.ts says why). */
export const DEFAULT_SEND_STATUSES: SendStatuses = 'all';

/** How long a "sent" waits for its delivery before it is posted on its own. */
export const SENT_HOLD_MS = 500;

/** How many messages' last posted success are remembered (recent messages are the ones that get statuses). */
const REMEMBERED = 10_000;

const RANK: Partial<Record<MessageStatus['state'], number>> = { sent: 1, delivered: 2 };

interface Held {
  status: MessageStatus;
  timer: NodeJS.Timeout;
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class StatusCoalescer {
  readonly #post: (s: MessageStatus) => Promise<void>;
  readonly #mode: SendStatuses;
  readonly #holdMs: number;
  readonly #held = new Map<string, Held>();
  /** Per message: the rank of the success posted (or being posted) last. */
  readonly #posted = new Map<string, number>();
  /** Per message: the post running now; the next one of that message starts after it. */
  readonly #running = new Map<string, Promise<void>>();

  constructor(o: { mode: SendStatuses; post: (s: MessageStatus) => Promise<void>; holdMs?: number }) {
    this.#post = o.post;
    this.#mode = o.mode;
    this.#holdMs = o.holdMs ?? SENT_HOLD_MS;
  }

  /** Resolves once the status was posted, merged into a later one, or found not to be posted. */
  submit(s: MessageStatus): Promise<void> {
    const rank = RANK[s.state];
    if (rank === undefined) {
      if (s.state === 'failed') this.#drop(s.messageId);
      return this.#inOrder(s);
    }
    if (this.#mode === 'failures') return s.state === 'sent' && s.message ? this.#inOrder(s) : Promise.resolve();
    if ((this.#posted.get(s.messageId) ?? 0) >= rank) return Promise.resolve();
    const held = this.#held.get(s.messageId);
    if (held) {
      if (rank <= (RANK[held.status.state] ?? 0)) return held.done;
      // The delivery replaces the held acceptance, with what the acceptance said about the message.
      held.status = { ...s, ...(held.status.message ? { message: held.status.message } : {}), ...(s.downgraded ?? held.status.downgraded ? { downgraded: s.downgraded ?? held.status.downgraded } : {}) };
      this.#release(s.messageId);
      return held.done;
    }
    if (s.state === 'delivered') return this.#success(s);
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const timer = setTimeout(() => this.#release(s.messageId), this.#holdMs);
    this.#held.set(s.messageId, { status: s, timer, done, resolve, reject });
    return done;
  }

  /** Posts every held status now (the connector stops). */
  async flush(): Promise<void> {
    const all = [...this.#held.values()].map((h) => h.done.catch(() => undefined));
    for (const id of [...this.#held.keys()]) this.#release(id);
    await Promise.all(all);
  }

  #release(messageId: string): void {
    const h = this.#held.get(messageId);
    if (!h) return;
    clearTimeout(h.timer);
    this.#held.delete(messageId);
    this.#success(h.status).then(h.resolve, h.reject);
  }

  /** A failure makes a held success pointless: it is dropped (its caller is told it is done). */
  #drop(messageId: string): void {
    const h = this.#held.get(messageId);
    if (!h) return;
    clearTimeout(h.timer);
    this.#held.delete(messageId);
    h.resolve();
  }

  #success(s: MessageStatus): Promise<void> {
    this.#posted.delete(s.messageId);
    this.#posted.set(s.messageId, RANK[s.state] ?? 0);
    if (this.#posted.size > REMEMBERED) this.#posted.delete(this.#posted.keys().next().value as string);
    return this.#inOrder(s);
  }

  #inOrder(s: MessageStatus): Promise<void> {
    const before = this.#running.get(s.messageId);
    const p = (before ? before.catch(() => undefined) : Promise.resolve()).then(() => this.#post(s));
    const mine = p.catch(() => undefined);
    this.#running.set(s.messageId, mine);
    void mine.then(() => {
      if (this.#running.get(s.messageId) === mine) this.#running.delete(s.messageId);
    });
    return p;
  }
}
