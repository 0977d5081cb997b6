// Durable store of the webhook adapter's outgoing events, in Redis, sealed at rest (the bodies hold
// message text). Events of one provider user form a lane (a list, oldest first); only a lane's
// first events are ever POSTed, by the replica that holds the lane's lease, which keeps each
// user's events in order. Every state change is one Lua script, so a crash leaves either the old
// or the new state, never half of one; the scripts also hand back the lane's next events, so that
// working a lane costs one round trip per POST after the POST itself (dispatcher.ts).
//
// Keys under `base` = `${prefix}:webhook-events:${adapterId}`:
//   :ev         hash   event id → sealed body (AAD = key|event id, see src/crypto/keyring.ts)
//   :meta       hash   event id → {user, type, created_at} (no content: needed to list and replay)
//   :lane:USER  list   event ids of USER, oldest first
//   :lanes      set    users whose lane is not empty
//   :lease:USER string the token of the replica working USER's lane (SET NX PX, renewed)
//   :retry      hash   event id → "attempts|due ms" once a POST of it failed
//   :dead       zset   dead-lettered event ids, by time dead-lettered (ms)
//   :dead-info  hash   event id → {attempts, last_error, dead_at}
import type { Redis } from 'ioredis';
import type { Keyring } from '../../src/crypto/keyring.ts';
import type { EventType, PreparedEvent } from './events.ts';
import { ENQUEUE, FINISH, RELEASE, RENEW, REPLAY, TAKE, type Script } from './scripts.ts';

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

/** A lane head handed to the lease holder: its id, its sealed body (undefined if gone), its retry state. */
export interface Head {
  eventId: string;
  blob?: Buffer;
  /** The plaintext body when the caller already has it (the event it just stored). */
  body?: string;
  /** Failed attempts so far. */
  attempts: number;
  /** Not before this time (ms since the epoch); 0: at once. */
  dueMs: number;
}

/** The lease holder's token, the lease duration, and how many heads to read at a time (≥ 1). */
export interface LeaseArgs {
  token: string;
  ms: number;
  count: number;
}

/** What finishing events found: the `next` heads (lease kept), lane `empty` (lease released), or the lease was `lost`. */
export type FinishResult = { removed: number } & ({ lane: 'next'; next: Head[] } | { lane: 'empty' } | { lane: 'lost' });

type Reply = Buffer | number | null | Reply[];
const str = (r: Reply | undefined): string => (Buffer.isBuffer(r) ? r.toString('utf8') : String(r));

/** Heads from a flat reply (id, blob, retry, …). */
function headsOf(flat: Reply | undefined): Head[] {
  const r = Array.isArray(flat) ? flat : [];
  const out: Head[] = [];
  for (let i = 0; i < r.length; i += 3) {
    const [blob, retry] = [r[i + 1], r[i + 2]];
    const [attempts, due] = Buffer.isBuffer(retry) ? retry.toString('utf8').split('|').map(Number) : [0, 0];
    out.push({ eventId: str(r[i]), ...(Buffer.isBuffer(blob) ? { blob } : {}), attempts: attempts || 0, dueMs: due || 0 });
  }
  return out;
}

export class EventStore {
  readonly base: string;
  readonly #redis: Redis;
  readonly #keyring: Keyring | undefined;
  readonly #k: { ev: string; meta: string; lanes: string; retry: string; dead: string; deadInfo: string };

  /** `keyring` may be left out only to list and replay dead letters (no body is read or written). */
  constructor(redis: Redis, keyring: Keyring | undefined, base: string) {
    this.#redis = redis;
    this.#keyring = keyring;
    this.base = base;
    this.#k = { ev: `${base}:ev`, meta: `${base}:meta`, lanes: `${base}:lanes`, retry: `${base}:retry`, dead: `${base}:dead`, deadInfo: `${base}:dead-info` };
  }

  lane(user: string): string {
    return `${this.base}:lane:${user}`;
  }

  lease(user: string): string {
    return `${this.base}:lease:${user}`;
  }

  #run(s: Script, keys: string[], args: Array<string | number | Buffer>): Promise<Reply> {
    return s.run(this.#redis, keys, args) as Promise<Reply>;
  }

  /**
   * Stores an event durably. With a `lease` it also tries to take its user's lane: `heads` are
   * then the lane's first events to POST (the event itself when nothing was ahead of it).
   */
  async enqueue(e: PreparedEvent, lease?: LeaseArgs): Promise<{ duplicate: boolean; heads?: Head[] }> {
    const blob = this.#ring().seal(Buffer.from(e.body, 'utf8'), `${this.#k.ev}|${e.eventId}`);
    const meta: EventMeta = { user: e.user, type: e.type, created_at: e.createdAt };
    const k = this.#k;
    const r = (await this.#run(ENQUEUE, [k.ev, k.meta, this.lane(e.user), k.lanes, this.lease(e.user), k.retry],
      [e.eventId, blob, JSON.stringify(meta), e.user, lease?.token ?? '', lease?.ms ?? 0, lease?.count ?? 1])) as Reply[];
    if (r[0] === -1) return { duplicate: true };
    if (r.length === 1) return { duplicate: false };
    if (Array.isArray(r[1])) return { duplicate: false, heads: headsOf(r[1]) };
    return { duplicate: false, heads: [{ eventId: e.eventId, body: e.body, attempts: 0, dueMs: 0 }] };
  }

  /** Opens a head's body; undefined if it is gone. Throws KeyringError if it cannot be opened. */
  open(h: Head): string | undefined {
    if (h.body !== undefined) return h.body;
    return h.blob ? this.#ring().open(h.blob, `${this.#k.ev}|${h.eventId}`).toString('utf8') : undefined;
  }

  /** The body of a stored event (unsealed); undefined if it is gone. Throws KeyringError if it cannot be opened. */
  async body(eventId: string): Promise<string | undefined> {
    const blob = await this.#redis.hgetBuffer(this.#k.ev, eventId);
    return blob ? this.open({ eventId, blob, attempts: 0, dueMs: 0 }) : undefined;
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

  /** Acknowledged: drops the events (the lane's first ones, in order); with `keep` the lease is kept when more are pending. */
  complete(user: string, eventIds: string[], lease: LeaseArgs, keep = true): Promise<FinishResult> {
    return this.#finish(user, eventIds, 'done', '', lease, keep);
  }

  /** Gave up: moves the event to the dead letters (its body stays, sealed, for a replay). */
  deadLetter(user: string, eventId: string, info: DeadInfo, lease: LeaseArgs, keep = true): Promise<FinishResult> {
    return this.#finish(user, [eventId], 'dead', JSON.stringify(info), lease, keep);
  }

  async #finish(user: string, ids: string[], mode: 'done' | 'dead', info: string, lease: LeaseArgs, keep: boolean): Promise<FinishResult> {
    const k = this.#k;
    const r = (await this.#run(FINISH, [k.ev, k.meta, this.lane(user), k.lanes, k.dead, k.deadInfo, k.retry, this.lease(user)],
      [user, mode, info, Date.now(), lease.token, lease.ms, keep ? '1' : '0', lease.count, ...ids])) as Reply[];
    const removed = Number(r[0]);
    const lane = str(r[1]);
    if (lane === 'next') return { removed, lane, next: headsOf(r[2]) };
    return { removed, lane: lane === 'empty' ? 'empty' : 'lost' };
  }

  /** Records a failed attempt and when the next one is due (read back by whoever takes the lane). */
  async setRetry(eventId: string, attempts: number, dueMs: number): Promise<void> {
    await this.#redis.hset(this.#k.retry, eventId, `${attempts}|${dueMs}`);
  }

  /** Takes the lanes of `users` that are pending and free; → their first events. */
  async take(users: string[], lease: LeaseArgs): Promise<Array<{ user: string; heads: Head[] }>> {
    if (users.length === 0) return [];
    const k = this.#k;
    const keys = [k.ev, k.retry, k.lanes, ...users.flatMap((u) => [this.lane(u), this.lease(u)])];
    const r = (await this.#run(TAKE, keys, [lease.token, lease.ms, lease.count, ...users])) as Reply[][];
    return r.map(([user, heads]) => ({ user: str(user), heads: headsOf(heads) }));
  }

  /** Extends the leases of `users` held with `token`; → the users whose lease was lost. */
  async renew(users: string[], token: string, leaseMs: number): Promise<string[]> {
    if (users.length === 0) return [];
    const lost = (await this.#run(RENEW, users.map((u) => this.lease(u)), [token, leaseMs])) as number[];
    return lost.map((i) => users[i - 1] as string);
  }

  async release(user: string, token: string): Promise<void> {
    await this.#run(RELEASE, [this.lease(user)], [token]);
  }

  /** Users with pending events (SSCAN: safe on large sets), in batches. */
  async *users(batch = 200): AsyncGenerator<string[]> {
    let cursor = '0';
    do {
      const [next, users] = await this.#redis.sscan(this.#k.lanes, cursor, 'COUNT', batch);
      cursor = next;
      if (users.length > 0) yield users;
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

  /** Puts a dead letter back in its user's lane (at the end); → its user. */
  async replay(eventId: string): Promise<{ user: string } | undefined> {
    const meta = await this.meta(eventId);
    if (!meta) return undefined;
    const k = this.#k;
    const n = (await this.#run(REPLAY, [k.ev, this.lane(meta.user), k.lanes, k.dead, k.deadInfo], [eventId, meta.user])) as number;
    return n < 0 ? undefined : { user: meta.user };
  }
}
