// Durable store of the webhook adapter's outgoing events, in Redis, sealed at rest (the bodies hold
// message text). Events of one provider user form a lane (a list, oldest first); only a lane's
// head is ever POSTed, which keeps each user's events in order. Every state change is one Lua
// script, so a crash leaves either the old or the new state, never half of one.
//
// Keys under `base` = `${prefix}:webhook:${adapterId}`:
//   :ev        hash  event id → sealed body (AAD = key|event id, see src/crypto/keyring.ts)
//   :meta      hash  event id → {user, type, created_at} (no content: needed to list and replay)
//   :lane:USER list  event ids of USER, oldest first
//   :lanes     set   users whose lane is not empty
//   :dead      zset  dead-lettered event ids, by time dead-lettered (ms)
//   :dead-info hash  event id → {attempts, last_error, dead_at}
import type { Redis } from 'ioredis';
import type { Keyring } from '../../src/crypto/keyring.ts';
import type { EventType, PreparedEvent } from './events.ts';

export interface EventMeta {
  user: string;
  type: EventType;
  created_at: string;
}

export interface DeadInfo {
  attempts: number;
  last_error: string;
  dead_at: string;
}

// KEYS: ev, meta, lane, lanes. ARGV: id, blob, meta, user. → lane length, or -1 if already stored.
const ENQUEUE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
return redis.call('RPUSH', KEYS[3], ARGV[1])`;

// KEYS: ev, meta, lane, lanes, dead, dead-info. ARGV: id, user, mode (done|dead), info, now ms.
// Removes the lane's head if it is `id`; → {0} if it was not, else {1, next head or nil}.
const FINISH = `
if redis.call('LINDEX', KEYS[3], 0) ~= ARGV[1] then return {0} end
redis.call('LPOP', KEYS[3])
if ARGV[3] == 'done' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[5], ARGV[5], ARGV[1])
  redis.call('HSET', KEYS[6], ARGV[1], ARGV[4])
end
local nxt = redis.call('LINDEX', KEYS[3], 0)
if not nxt then
  redis.call('SREM', KEYS[4], ARGV[2])
  return {1}
end
return {1, nxt}`;

// KEYS: ev, lane, lanes, dead, dead-info. ARGV: id, user. Puts a dead letter back at the end of
// its lane; → lane length, -1 if it is not a dead letter, -2 if its body is gone.
const REPLAY = `
if redis.call('ZSCORE', KEYS[4], ARGV[1]) == false then return -1 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -2 end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
return redis.call('RPUSH', KEYS[2], ARGV[1])`;

export class EventStore {
  readonly base: string;
  readonly #redis: Redis;
  readonly #keyring: Keyring | undefined;
  readonly #k: { ev: string; meta: string; lanes: string; dead: string; deadInfo: string };

  /** `keyring` may be left out only to list and replay dead letters (no body is read or written). */
  constructor(redis: Redis, keyring: Keyring | undefined, base: string) {
    this.#redis = redis;
    this.#keyring = keyring;
    this.base = base;
    this.#k = { ev: `${base}:ev`, meta: `${base}:meta`, lanes: `${base}:lanes`, dead: `${base}:dead`, deadInfo: `${base}:dead-info` };
  }

  lane(user: string): string {
    return `${this.base}:lane:${user}`;
  }

  /** Stores an event durably. `head`: it is first in its lane (nobody is POSTing that lane). */
  async enqueue(e: PreparedEvent): Promise<{ duplicate: boolean; head: boolean }> {
    const blob = this.#ring().seal(Buffer.from(e.body, 'utf8'), `${this.#k.ev}|${e.eventId}`);
    const meta: EventMeta = { user: e.user, type: e.type, created_at: e.createdAt };
    const n = (await this.#redis.eval(ENQUEUE, 4, this.#k.ev, this.#k.meta, this.lane(e.user), this.#k.lanes, e.eventId, blob, JSON.stringify(meta), e.user)) as number;
    return { duplicate: n === -1, head: n === 1 };
  }

  /** The body of a stored event (unsealed); undefined if it is gone. Throws KeyringError if it cannot be opened. */
  async body(eventId: string): Promise<string | undefined> {
    const blob = await this.#redis.hgetBuffer(this.#k.ev, eventId);
    return blob ? this.#ring().open(blob, `${this.#k.ev}|${eventId}`).toString('utf8') : undefined;
  }

  #ring(): Keyring {
    if (!this.#keyring) throw new Error('this event store was opened without a keyring');
    return this.#keyring;
  }

  async meta(eventId: string): Promise<EventMeta | undefined> {
    const raw = await this.#redis.hget(this.#k.meta, eventId);
    return raw === null ? undefined : (JSON.parse(raw) as EventMeta);
  }

  async head(user: string): Promise<string | undefined> {
    return (await this.#redis.lindex(this.lane(user), 0)) ?? undefined;
  }

  /** Acknowledged: drops the event. Returns whether it was the head, and the lane's next head. */
  complete(user: string, eventId: string): Promise<{ removed: boolean; next?: string }> {
    return this.#finish(user, eventId, 'done', '');
  }

  /** Gave up: moves the event to the dead letters (its body stays, sealed, for a replay). */
  deadLetter(user: string, eventId: string, info: DeadInfo): Promise<{ removed: boolean; next?: string }> {
    return this.#finish(user, eventId, 'dead', JSON.stringify(info));
  }

  async #finish(user: string, eventId: string, mode: 'done' | 'dead', info: string): Promise<{ removed: boolean; next?: string }> {
    const k = this.#k;
    const r = (await this.#redis.eval(FINISH, 6, k.ev, k.meta, this.lane(user), k.lanes, k.dead, k.deadInfo, eventId, user, mode, info, Date.now())) as [number, string?];
    return r[0] === 1 ? { removed: true, ...(r[1] !== undefined ? { next: r[1] } : {}) } : { removed: false };
  }

  /** Users with pending events (SSCAN: safe on large sets). */
  async *users(): AsyncGenerator<string> {
    let cursor = '0';
    do {
      const [next, batch] = await this.#redis.sscan(this.#k.lanes, cursor, 'COUNT', 200);
      cursor = next;
      yield* batch;
    } while (cursor !== '0');
  }

  /** Dead letters, oldest first. */
  async deadLetters(offset: number, limit: number): Promise<Array<{ eventId: string; meta?: EventMeta; info?: DeadInfo }>> {
    const ids = await this.#redis.zrange(this.#k.dead, offset, offset + limit - 1);
    if (ids.length === 0) return [];
    const [metas, infos] = await Promise.all([this.#redis.hmget(this.#k.meta, ...ids), this.#redis.hmget(this.#k.deadInfo, ...ids)]);
    return ids.map((eventId, i) => {
      const m = metas[i];
      const d = infos[i];
      return {
        eventId,
        ...(typeof m === 'string' ? { meta: JSON.parse(m) as EventMeta } : {}),
        ...(typeof d === 'string' ? { info: JSON.parse(d) as DeadInfo } : {}),
      };
    });
  }

  /** Puts a dead letter back in its user's lane (at the end). `head`: nothing is ahead of it. */
  async replay(eventId: string): Promise<{ user: string; head: boolean } | undefined> {
    const meta = await this.meta(eventId);
    if (!meta) return undefined;
    const k = this.#k;
    const n = (await this.#redis.eval(REPLAY, 5, k.ev, this.lane(meta.user), k.lanes, k.dead, k.deadInfo, eventId, meta.user)) as number;
    return n < 0 ? undefined : { user: meta.user, head: n === 1 };
  }
}
