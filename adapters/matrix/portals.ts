// The bridge's rooms, in Redis: portals (one Matrix room per conversation between a Matrix user
// and a hub user, found from either side), management rooms (a user's DM with the bot), per-user
// settings (inbox mode, space), and the mapping between Matrix event ids and hub message ids that
// receipts, replies and send statuses need. Metadata only: no message content or keys.
import type { Redis } from 'ioredis';
import { RedisScript } from '../../src/redis-script.ts';

export interface Portal {
  roomId: string;
  /** The Matrix user (of this homeserver) and its provider local id. */
  userId: string;
  local: string;
  /** The hub user (`447700900123@hub`) and its puppet. */
  hubUser: string;
  puppet: string;
  encrypted: boolean;
}

/** Trims a portal's unread list after the given message (KEYS: the list; ARGV: the message id). */
const DROP_UNREAD = new RedisScript(`local pos = redis.call('LPOS', KEYS[1], ARGV[1])
if pos then redis.call('LTRIM', KEYS[1], pos + 1, -1) end
return 1`);

/** How many recent message → event links are kept in memory. */
const RECENT_LINKS = 10_000;

export type InboxMode = 'combined' | 'space';

/** A Matrix event and the hub message it is (`Portals#link`). */
export interface EventLink {
  eventId: string;
  roomId: string;
  messageId: string;
  /** The message's HIP sender. */
  sender: string;
  handledKey?: string;
}

export class Portals {
  readonly #r: Redis;
  readonly #b: string;
  readonly #retentionS: number;
  /** Portals by room: a portal record never changes once saved (cleared when the lease moves). */
  readonly #cache = new Map<string, Portal>();
  /** The latest links made here, message id → event (a link never changes; oldest dropped first). */
  readonly #recent = new Map<string, { roomId: string; eventId: string }>();

  constructor(redis: Redis, base: string, retentionS = 30 * 86_400) {
    this.#r = redis;
    this.#b = base;
    this.#retentionS = retentionS;
  }

  async byRoom(roomId: string): Promise<Portal | undefined> {
    const cached = this.#cache.get(roomId);
    if (cached) return cached;
    const v = await this.#r.get(`${this.#b}:portal:${roomId}`);
    if (!v) return undefined;
    const p = JSON.parse(v) as Portal;
    this.#cache.set(roomId, p);
    return p;
  }

  /** Forgets the portals read so far (another replica may have created some since). */
  forget(): void {
    this.#cache.clear();
    this.#recent.clear();
  }

  async byPair(local: string, hubUser: string): Promise<Portal | undefined> {
    const roomId = await this.#r.get(`${this.#b}:pair:${local}|${hubUser}`);
    return roomId ? this.byRoom(roomId) : undefined;
  }

  async save(p: Portal): Promise<void> {
    await this.#r.multi().set(`${this.#b}:portal:${p.roomId}`, JSON.stringify(p)).set(`${this.#b}:pair:${p.local}|${p.hubUser}`, p.roomId).exec();
    this.#cache.set(p.roomId, p);
  }

  async managementRoom(userId: string): Promise<string | undefined> {
    return (await this.#r.hget(`${this.#b}:mgmt`, userId)) ?? undefined;
  }

  async isManagementRoom(roomId: string): Promise<string | undefined> {
    return (await this.#r.hget(`${this.#b}:mgmt-room`, roomId)) ?? undefined;
  }

  async setManagementRoom(userId: string, roomId: string): Promise<void> {
    await this.#r.multi().hset(`${this.#b}:mgmt`, userId, roomId).hset(`${this.#b}:mgmt-room`, roomId, userId).exec();
  }

  async inboxMode(userId: string, fallback: InboxMode): Promise<InboxMode> {
    const v = await this.#r.hget(`${this.#b}:inbox`, userId);
    return v === 'space' || v === 'combined' ? v : fallback;
  }

  async setInboxMode(userId: string, mode: InboxMode): Promise<void> {
    await this.#r.hset(`${this.#b}:inbox`, userId, mode);
  }

  async space(userId: string): Promise<string | undefined> {
    return (await this.#r.hget(`${this.#b}:space`, userId)) ?? undefined;
  }

  async setSpace(userId: string, roomId: string): Promise<void> {
    await this.#r.hset(`${this.#b}:space`, userId, roomId);
  }

  /**
   * Links a Matrix event and a hub message id (and the message's HIP sender), both ways; with
   * `handledKey`, records that key as handled in the same write (see `markHandled`).
   */
  async link(eventId: string, roomId: string, messageId: string, sender: string, handledKey?: string): Promise<void> {
    await this.linkMany([{ eventId, roomId, messageId, sender, ...(handledKey !== undefined ? { handledKey } : {}) }]);
  }

  /** `link` for several events in one write (the messages of one `submitMany`). */
  async linkMany(links: ReadonlyArray<EventLink>): Promise<void> {
    if (links.length === 0) return;
    const ttl = this.#retentionS;
    const m = this.#r.multi();
    for (const l of links) {
      m.set(`${this.#b}:ev2msg:${l.eventId}`, `${l.messageId}|${l.sender}`, 'EX', ttl).set(`${this.#b}:msg2ev:${l.messageId}`, `${l.roomId}|${l.eventId}`, 'EX', ttl);
      if (l.handledKey !== undefined) m.set(`${this.#b}:once:${l.handledKey}`, '1', 'EX', ttl);
    }
    await m.exec();
    // The messages' statuses follow within moments: they find their events here without a read.
    for (const l of links) this.#recent.set(l.messageId, { roomId: l.roomId, eventId: l.eventId });
    while (this.#recent.size > RECENT_LINKS) this.#recent.delete(this.#recent.keys().next().value as string);
  }

  async messageOf(eventId: string): Promise<{ id: string; sender: string } | undefined> {
    const v = await this.#r.get(`${this.#b}:ev2msg:${eventId}`);
    if (!v) return undefined;
    const i = v.indexOf('|');
    return { id: v.slice(0, i), sender: v.slice(i + 1) };
  }

  /** Hub messages shown in a portal and not yet read by the Matrix user, oldest first. */
  async addUnread(roomId: string, messageId: string): Promise<void> {
    await this.#r.multi().rpush(`${this.#b}:unread:${roomId}`, messageId).ltrim(`${this.#b}:unread:${roomId}`, -500, -1).exec();
  }

  /** The unread hub messages up to and including `messageId` (a read receipt covers them); [] if it is not unread. */
  async unreadUpTo(roomId: string, messageId: string): Promise<string[]> {
    const all = await this.#r.lrange(`${this.#b}:unread:${roomId}`, 0, -1);
    const i = all.indexOf(messageId);
    return i < 0 ? [] : all.slice(0, i + 1);
  }

  /**
   * Forgets the unread hub messages up to and including `messageId`, once the hub has their read
   * receipt (so that a failed hand-over is sent again when the homeserver retries). Found by
   * value in the same step: messages added (and the oldest trimmed) meanwhile are kept.
   */
  async dropUnreadUpTo(roomId: string, messageId: string): Promise<void> {
    await DROP_UNREAD.run(this.#r, [`${this.#b}:unread:${roomId}`], [messageId]);
  }

  async handled(key: string): Promise<boolean> {
    return (await this.#r.exists(`${this.#b}:once:${key}`)) === 1;
  }

  /** Which of `keys` were handled, in one read (a transaction's events at once). */
  async handledOf(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const v = await this.#r.mget(keys.map((k) => `${this.#b}:once:${k}`));
    return new Set(keys.filter((_, i) => v[i] !== null));
  }

  async markHandled(key: string): Promise<void> {
    await this.#r.set(`${this.#b}:once:${key}`, '1', 'EX', this.#retentionS);
  }

  /** Records a key as handled unless it was already: true for the one caller that recorded it. */
  async claimHandled(key: string): Promise<boolean> {
    return (await this.#r.set(`${this.#b}:once:${key}`, '1', 'EX', this.#retentionS, 'NX')) === 'OK';
  }

  async eventOf(messageId: string): Promise<{ roomId: string; eventId: string } | undefined> {
    const recent = this.#recent.get(messageId);
    if (recent) return recent;
    const v = await this.#r.get(`${this.#b}:msg2ev:${messageId}`);
    if (!v) return undefined;
    const i = v.indexOf('|');
    return { roomId: v.slice(0, i), eventId: v.slice(i + 1) };
  }

  /** True the first time `key` is claimed (per-event idempotence of side effects). */
  async once(key: string): Promise<boolean> {
    return (await this.#r.set(`${this.#b}:once:${key}`, '1', 'EX', this.#retentionS, 'NX')) === 'OK';
  }
}
