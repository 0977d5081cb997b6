// The messages of a transaction's events on their way to the core: prepared one by one, in the
// events' order (decrypted, converted, attachments uploaded: to-hub.ts), then handed over together
// in one `core.submitMany` — one durable write for all of them, in that order — and their outcomes
// recorded: the accepted ones linked to their events and marked handled in one Redis write, a
// refused one told to its sender (failure status and notice) as a lone `submit` would have been.
// Whoever queues here flushes before anything that must come after the earlier messages: an
// event naming one of them (a reply, reaction, edit or redaction needs its hub message id), a
// bot command (an "optout" after a message), a portal invite, a refusal posted in a portal, and
// the end of the event group (matrix-inbound.ts).
import type { SubmitOutcome } from '../contract.ts';
import { submitAll } from '../submit-all.ts';
import type { EventLink } from './portals.ts';
import { coreRefusal, refuse, type InboundDeps, type Pending, type Prepared } from './to-hub.ts';

/**
 * At most this many messages per `submitMany` (a transaction may hold more events: Synapse sends
 * up to 100, other homeservers are not bound by that).
 */
export const MAX_BATCH = 100;

export class HubBatch implements Pending {
  readonly #d: InboundDeps;
  #items: Prepared[] = [];
  #ids = new Set<string>();

  constructor(d: InboundDeps) {
    this.#d = d;
  }

  get size(): number {
    return this.#items.length;
  }

  has(eventId: string): boolean {
    return this.#ids.has(eventId);
  }

  /** Queues a message after the others; a full batch goes to the core at once. */
  async add(p: Prepared): Promise<void> {
    this.#items.push(p);
    this.#ids.add(p.eventId);
    if (this.#items.length >= MAX_BATCH) await this.flush();
  }

  /**
   * Hands the queued messages to the core, then records each outcome in order. Throws what the
   * core throws: what it did not accept is not recorded as handled, and a retry of the
   * transaction submits it again (the core answers a repeat as a duplicate).
   */
  async flush(): Promise<void> {
    const items = this.#items;
    if (items.length === 0) return;
    this.#items = [];
    this.#ids = new Set();
    const b = this.#d.bridge;
    const core = b.requireCore();
    const { outcomes, error } = await submitAll(core, b.adapterId, items.map((p) => p.message));
    const done = items.slice(0, outcomes.length);
    const links: EventLink[] = [];
    done.forEach((p, i) => {
      const r = outcomes[i] as SubmitOutcome;
      if ('refused' in r) return;
      links.push({ eventId: p.eventId, roomId: p.portal.roomId, messageId: r.messageId, sender: `${p.portal.local}@${core.providerId}.interop`, handledKey: p.handledKey });
    });
    // Written at once, before anything else is awaited: the core may report a message's status
    // right away (a policy's failure), and the status finds its event by this link.
    await b.portals.linkMany(links);
    for (const [i, p] of done.entries()) {
      const r = outcomes[i] as SubmitOutcome;
      if (!('refused' in r)) continue;
      await refuse(b, p.portal, p.eventId, coreRefusal(b, r.refused.field, r.refused.message));
      await b.portals.markHandled(p.handledKey);
    }
    if (error !== undefined) throw error;
  }
}
