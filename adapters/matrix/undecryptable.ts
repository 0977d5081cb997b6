// Events the bridge could not decrypt yet (their Megolm key has not arrived: to-device messages
// and room events travel separately). Kept in Redis and retried after every transaction that
// brought to-device events; one still undecryptable after `undecryptable_timeout_s` is reported to
// its sender (a send-status failure and a notice, certain: the hub never got it; a bot command in
// a management room, a notice from the bot) and dropped.
import type { Redis } from 'ioredis';
import type { Bridge } from './bridge.ts';
import { handledKey } from './matrix-inbound.ts';
import type { Json } from './matrix-api.ts';
import { bestEffort, postNotice, sendStatus } from './to-hub.ts';
import { failureNotice } from './send-status.ts';

interface Pending {
  roomId: string;
  event: Json;
  at: number;
}

export class Undecryptable {
  readonly #r: Redis;
  readonly #key: string;
  readonly #timeoutMs: number;

  constructor(redis: Redis, base: string, timeoutS: number) {
    this.#r = redis;
    this.#key = `${base}:utd`;
    this.#timeoutMs = timeoutS * 1000;
  }

  /** Keeps an event (the first time only: its age counts from then). */
  async defer(roomId: string, event: Json): Promise<void> {
    const id = String(event.event_id);
    await this.#r.hsetnx(this.#key, id, JSON.stringify({ roomId, event, at: Date.now() } satisfies Pending));
  }

  async count(): Promise<number> {
    return this.#r.hlen(this.#key);
  }

  /** Retries every kept event; reports and drops those past the timeout. */
  async retry(b: Bridge, handle: (event: Json) => Promise<'deferred' | undefined>): Promise<void> {
    const all = await this.#r.hgetall(this.#key);
    for (const [id, v] of Object.entries(all)) {
      const p = JSON.parse(v) as Pending;
      const r = await handle(p.event);
      if (r !== 'deferred') {
        await this.#r.hdel(this.#key, id);
        continue;
      }
      if (Date.now() - p.at < this.#timeoutMs) continue;
      await this.#r.hdel(this.#key, id);
      // The periodic sweep and a transaction's retry may both get here for one event (and a retry
      // still running may keep it again): the event's handled record, taken with SET NX, decides
      // who reports it, so its sender is told once, and a replay of it is not handled again.
      if (!(await b.portals.claimHandled(handledKey(id)))) continue;
      await report(b, id, p);
    }
  }
}

const NEVER_DECRYPTED = 'the bridge could not decrypt it (its keys never arrived); please send it again';

/**
 * Tells the sender of an event that never became decryptable: in a portal, a certain failure
 * status and a notice from the puppet; in its sender's management room (a bot command), a notice
 * from the bot. Matrix errors are logged (to-hub.ts, `refuse`).
 */
async function report(b: Bridge, id: string, p: Pending): Promise<void> {
  const portal = await b.portals.byRoom(p.roomId);
  if (portal) {
    b.log.warn({ eventId: id, roomId: p.roomId }, 'event never became decryptable; reported to its sender');
    await sendStatus(b, portal, { eventId: id, status: 'FAIL_PERMANENT', reason: 'undecryptable', message: 'the bridge never received the keys of this message', certain: true });
    await postNotice(b, portal, failureNotice(true, NEVER_DECRYPTED));
    return;
  }
  const owner = await b.portals.isManagementRoom(p.roomId);
  // Only the owner's messages are commands (matrix-inbound.ts); the room is encrypted (the event was).
  if (owner === undefined || owner !== p.event.sender) return;
  b.log.warn({ eventId: id, roomId: p.roomId }, 'command never became decryptable; reported to its sender');
  await bestEffort(b, 'failure notice to the management room', () => b.botNotice(p.roomId, owner, `⚠️ Your command was not handled: ${NEVER_DECRYPTED}`, true));
}
