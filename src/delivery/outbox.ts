// Durable outbound messages. A provider's message is written once, sealed (AES-256-GCM, see
// crypto/keyring.ts), into its record and appended to its conversation's lane (a Redis list per
// provider user and hub user) in one MULTI, so it is either wholly accepted or not at all. The
// lane orders the conversation: only its head is worked on (outbound-worker.ts).
//
// Idempotence: the provider's key maps to the message id with SET NX for 7 days; a repeat answers
// the same id, also once a sent record is gone (kept 24 h, or `limits.sent_retention_h`) while its
// statuses remain. A crash between that SET and the record's write leaves a key without a record
// or statuses; the repeat then writes the record under the id the key already names.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { MessageStatus, OutboundMessage } from '../../adapters/contract.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { UnitWrites } from '../crypto/unit-writes.ts';
import { newId, type MediaRef } from '../protocol/index.ts';
import { CLAIM, FINISH, HEAD_OR_FORGET, POP_IF_HEAD, RELEASE, RENEW, SUBMIT, SUBMIT_MANY } from './outbox-scripts.ts';
import type { StatusLog } from './status-log.ts';

const IDEMPOTENCE_S = 7 * 24 * 3600;
/** Lanes read per round trip by the sweep (laneHeads). */
const SWEEP_CHUNK = 500;
/** Sent messages are kept this long to answer retry receipts (spec 6.2: at least 24 h); config `limits.sent_retention_h`. */
export const SENT_RETENTION_S = 24 * 3600;

/** What is sealed in the record: the message as the adapter gave it, plus its stamp. */
export interface OutboundRecord {
  id: string;
  adapterId: string;
  idempotencyKey: string;
  /** Provider user address (`alice@birdy.interop`) and hub user address. */
  user: string;
  peer: string;
  /** Local id as the adapter named the sender. */
  from: string;
  t: number;
  /** Milliseconds, when the provider handed it over (for latency metrics). */
  submittedAt?: number;
  /** What is sent: the adapter's message, or its conversion by the downgrade policy (src/policy). */
  message: Omit<OutboundMessage, 'media'> & { media?: undefined };
  /** The adapter's message before conversion, kept for the 406 path (spec 4: downgrade and resend once). */
  original?: OutboundMessage;
  /** `<fallback for>` entries of the content (spec 11) and the conversions, for the sender's status. */
  fallbacks?: Array<{ for: string; text: string }>;
  downgraded?: Array<{ feature: string; to: string }>;
  /** A sentence for the sender about the conversion (e.g. the timer does not apply). */
  notice?: string;
  /** Already sent again after a 406: a second 406 fails it. */
  resent406?: boolean;
  /** The prepared attachment (spec 11 `<media>`): encrypted and hosted once, reused by every retry. */
  media?: StoredMediaRef;
}

/** A MediaRef with its binary fields in base64, as JSON inside the sealed record. */
export type StoredMediaRef = Omit<MediaRef, 'sha256' | 'encSha256' | 'key' | 'nonce'> & { sha256: string; encSha256: string; key: string; nonce: string };

export function storeMediaRef(m: MediaRef): StoredMediaRef {
  const b = (u: Uint8Array) => Buffer.from(u).toString('base64');
  return { ...m, sha256: b(m.sha256), encSha256: b(m.encSha256), key: b(m.key), nonce: b(m.nonce) };
}

export function loadMediaRef(m: StoredMediaRef): MediaRef {
  const u = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
  return { ...m, sha256: u(m.sha256), encSha256: u(m.encSha256), key: u(m.key), nonce: u(m.nonce) };
}

/** A message the policy rejected or dropped before sending: recorded with its final status only. */
export interface FinalOutcome {
  reason: string;
  message: string;
}

/** What `submit` made of a message. */
export interface Submitted {
  id: string;
  duplicate: boolean;
  head: boolean;
  /**
   * The final status written with a FinalOutcome, as stored: due for its report to the adapter
   * (StatusLog#dueKey) until the caller's report is confirmed. Absent for a repeat.
   */
  failed?: MessageStatus;
}

export type OutboundState = 'queued' | 'sent' | 'failed';

/** A loaded record (Outbox#load), or one loaded for a delivery attempt under the lane's lease (Outbox#claim). */
export interface Claimed {
  record: OutboundRecord;
  state: OutboundState;
  frame?: string;
  attempts: number;
  /** Milliseconds, when a dead letter was last replayed: its age counts from then. */
  replayedAt?: number;
  /** The lane's next id, when the claimed record was its head. */
  next?: string;
}

export class Outbox {
  readonly #redis: Redis;
  readonly #ring: Keyring;
  readonly #p: string;
  readonly #status: StatusLog;
  readonly #sentRetentionS: number;

  /** `sentRetentionS`: how long a sent record is kept (default SENT_RETENTION_S). */
  constructor(redis: Redis, ring: Keyring, prefix: string, status: StatusLog, o: { sentRetentionS?: number } = {}) {
    this.#redis = redis;
    this.#ring = ring;
    this.#p = prefix;
    this.#status = status;
    this.#sentRetentionS = o.sentRetentionS ?? SENT_RETENTION_S;
  }

  recordKey(user: string, id: string): string {
    return `${this.#p}:out:{${user}}:${id}`;
  }
  laneKey(user: string, peer: string): string {
    return `${this.#p}:lane:{${user}}:${peer}`;
  }
  get lanesKey(): string {
    return `${this.#p}:lanes`;
  }
  idemKey(adapterId: string, key: string): string {
    return `${this.#p}:idem:${adapterId}:${createHash('sha256').update(key).digest('base64url')}`;
  }

  /**
   * Accepts a message durably; the caller then makes sure the lane is being worked on. A fresh
   * key is claimed and the message written in one script (one round trip, all or nothing); one
   * with a final outcome is written with its failed status, due for its report (Submitted#failed).
   */
  async submit(r: Omit<OutboundRecord, 'id' | 't'>, final?: FinalOutcome): Promise<Submitted> {
    const idem = this.idemKey(r.adapterId, r.idempotencyKey);
    const id = newId();
    const w = this.#writing(r, id, final);
    const res = (await SUBMIT.run(this.#redis, [idem, w.key, this.#status.key(id), this.laneKey(r.user, r.peer), this.lanesKey, this.#status.dueKey], [
      `${r.user}|${id}`, IDEMPOTENCE_S, w.data, JSON.stringify(w.status), id, `${r.user}|${r.peer}`, w.failed ? JSON.stringify(w.failed) : '', Date.now(),
    ])) as [number, Buffer | null];
    if (res[0] === 1) return { id, duplicate: false, head: res[1]?.toString() === id };
    if (res[0] === 2 && w.failed) return { id, duplicate: false, head: false, failed: w.failed };
    const existing = await this.#redis.get(idem);
    const [user, prior] = (existing ?? '').split('|');
    if (user && prior && (await this.#accepted(user, prior))) return { id: prior, duplicate: true, head: false };
    if (!prior) return this.submit(r, final); // expired in between: start over
    return this.#write(r, prior, final); // the key was taken but the record never written (crash): write it now
  }

  /**
   * `submit` for several messages in one script (one round trip): each is claimed and written as
   * `submit` does — a fresh key with its record and lane entry, a final outcome with its statuses —
   * in the given order, so messages of one conversation keep it. Keys already claimed are answered
   * as `submit` answers them (a repeat, or the record of an interrupted claim written now).
   */
  async submitMany(items: ReadonlyArray<{ record: Omit<OutboundRecord, 'id' | 't'>; final?: FinalOutcome }>): Promise<Submitted[]> {
    if (items.length === 0) return [];
    const keys = [this.lanesKey, this.#status.dueKey];
    const args: Array<string | number | Buffer> = [IDEMPOTENCE_S, Date.now()];
    const ws = items.map(({ record: r, final }) => {
      const id = newId();
      const w = this.#writing(r, id, final);
      keys.push(this.idemKey(r.adapterId, r.idempotencyKey), w.key, this.#status.key(id), this.laneKey(r.user, r.peer));
      args.push(`${r.user}|${id}`, w.data, JSON.stringify(w.status), id, `${r.user}|${r.peer}`, w.failed ? JSON.stringify(w.failed) : '');
      return { id, failed: w.failed };
    });
    const res = (await SUBMIT_MANY.run(this.#redis, keys, args)) as Array<[number, number | Buffer | null]>;
    const out = res.map(([written, head], i): Submitted => {
      const { id, failed } = ws[i] as (typeof ws)[number];
      return { id, duplicate: written === 0, head: written === 1 && head === 1, ...(written === 2 && failed ? { failed } : {}) };
    });
    // Keys that were taken: whether their record exists, for all of them in one round trip.
    const taken = out.flatMap((o, i) => (o.duplicate ? [{ i, value: (res[i]?.[1] ?? '').toString() }] : []));
    if (taken.length === 0) return out;
    const p = this.#redis.pipeline();
    for (const t of taken) {
      const [user, prior] = t.value.split('|');
      p.exists(this.recordKey(user ?? '', prior ?? ''), this.#status.key(prior ?? ''));
    }
    const exists = (await p.exec()) ?? [];
    for (const [k, t] of taken.entries()) {
      const [, prior] = t.value.split('|');
      const item = items[t.i] as (typeof items)[number];
      if (prior && Number(exists[k]?.[1]) > 0) out[t.i] = { id: prior, duplicate: true, head: false };
      else out[t.i] = await this.submit(item.record, item.final); // an interrupted claim: as `submit` recovers it
    }
    return out;
  }

  /**
   * Whether the message a taken key names was written: its record, or its statuses once a sent
   * record is gone (kept 24 h, the key and the statuses 7 days). Neither: the claim was interrupted.
   */
  async #accepted(user: string, id: string): Promise<boolean> {
    return (await this.#redis.exists(this.recordKey(user, id), this.#status.key(id))) > 0;
  }

  /** The sealed record and its queued status; with a final outcome, its failed status too. */
  #writing(r: Omit<OutboundRecord, 'id' | 't'>, id: string, final?: FinalOutcome): { key: string; data: Buffer; status: MessageStatus; failed?: MessageStatus } {
    const now = Date.now();
    const record: OutboundRecord = { ...r, id, t: Math.floor(now / 1000), submittedAt: now };
    const key = this.recordKey(r.user, id);
    const status: MessageStatus = { messageId: id, idempotencyKey: r.idempotencyKey, from: r.from, to: r.peer, state: 'queued', at: now };
    const data = this.#ring.seal(Buffer.from(JSON.stringify(record)), `${key}|data`);
    if (!final) return { key, data, status };
    return { key, data, status, failed: { ...status, state: 'failed', reason: final.reason, message: final.message, certain: true } };
  }

  /** Writes the record of a message whose idempotency key is already claimed for `id`. */
  async #write(r: Omit<OutboundRecord, 'id' | 't'>, id: string, final?: FinalOutcome): Promise<Submitted> {
    const w = this.#writing(r, id, final);
    const lane = this.laneKey(r.user, r.peer);
    const m = this.#redis.multi();
    m.hset(w.key, { data: w.data, state: final ? 'failed' : 'queued', attempts: 0 });
    m.expire(w.key, IDEMPOTENCE_S);
    this.#status.append(w.status, m);
    if (w.failed) {
      // Due for its report with its write, as SUBMIT makes it.
      this.#status.append(w.failed, m);
      m.zadd(this.#status.dueKey, Date.now(), id);
      await m.exec();
      return { id, duplicate: false, head: false, failed: w.failed };
    }
    m.rpush(lane, id);
    m.sadd(this.lanesKey, `${r.user}|${r.peer}`);
    m.lindex(lane, 0);
    const res = await m.exec();
    return { id, duplicate: false, head: res?.[6]?.[1] === id };
  }

  async load(user: string, id: string): Promise<Claimed | undefined> {
    const key = this.recordKey(user, id);
    return this.#decode(key, await this.#redis.hmgetBuffer(key, 'data', 'state', 'frame', 'attempts', 'replayed'));
  }

  leaseKey(user: string, peer: string): string {
    return `${this.#p}:lease:{${user}}:${peer}`;
  }

  /**
   * `load` for a delivery attempt, under the lane's lease (lanes.ts): takes or renews the lease for
   * `token` and counts the attempt (a queued record only), in one round trip. 'busy' when another
   * process holds the lane.
   */
  async claim(user: string, peer: string, id: string, token: string, leaseMs: number): Promise<'busy' | Claimed | undefined> {
    const key = this.recordKey(user, id);
    const res = (await CLAIM.run(this.#redis, [key, this.leaseKey(user, peer), this.laneKey(user, peer)], [token, leaseMs, id])) as Array<Buffer | null> | number;
    if (!Array.isArray(res)) return 'busy';
    return this.#claimed(key, res);
  }

  #claimed(key: string, res: Array<Buffer | null>): Claimed | undefined {
    const loaded = this.#decode(key, res);
    const next = res[5];
    return loaded && next ? { ...loaded, next: next.toString() } : loaded;
  }

  /** Gives the lane's lease up if `token` still holds it. */
  async release(user: string, peer: string, token: string): Promise<void> {
    await this.#redis.eval(RELEASE, 1, this.leaseKey(user, peer), token);
  }

  /** Extends the leases `token` holds (one round trip for all of them). */
  async renew(lanes: Array<{ user: string; peer: string }>, token: string, leaseMs: number): Promise<void> {
    if (lanes.length === 0) return;
    const p = this.#redis.pipeline();
    for (const l of lanes) p.eval(RENEW, 1, this.leaseKey(l.user, l.peer), token, leaseMs);
    await p.exec();
  }

  /** The lane's head, if any. */
  async head(user: string, peer: string): Promise<string | undefined> {
    return (await this.#redis.lindex(this.laneKey(user, peer), 0)) ?? undefined;
  }

  #decode(key: string, [data, state, frame, attempts, replayed]: Array<Buffer | null>): Claimed | undefined {
    if (!data) return undefined;
    const record = JSON.parse(this.#ring.open(data, `${key}|data`).toString('utf8')) as OutboundRecord;
    return {
      record,
      state: (state?.toString() ?? 'queued') as OutboundState,
      ...(frame ? { frame: this.#ring.open(frame, `${key}|frame`).toString('utf8') } : {}),
      attempts: Number(attempts?.toString() ?? 0),
      ...(replayed ? { replayedAt: Number(replayed.toString()) } : {}),
    };
  }

  /**
   * The built stanza, stored before its first send (spec 4: a lost ack is answered by resending
   * it), as writes for the Signal unit that made its last ciphertexts to commit (unit-writes.ts);
   * a frame already stored is kept.
   */
  frameWrites(user: string, id: string, frame: string): UnitWrites {
    const key = this.recordKey(user, id);
    // Set only if absent: another holder of the lane (its lease lapsed) may have stored, and sent,
    // its own frame first; that one stays, since only it can be resent byte-identical (spec 4).
    return { hashes: [{ key, fields: { frame: this.#ring.seal(Buffer.from(frame, 'utf8'), `${key}|frame`) }, nx: true }] };
  }

  /** The stored frame, if any (one whose `frameWrites` found another stored first: that one is sent). */
  async storedFrame(user: string, id: string): Promise<string | undefined> {
    const key = this.recordKey(user, id);
    const sealed = await this.#redis.hgetBuffer(key, 'frame');
    return sealed ? this.#ring.open(sealed, `${key}|frame`).toString('utf8') : undefined;
  }

  /** Replaces the sealed record (a 406 downgrade); the stored frame goes too. */
  async rewrite(r: OutboundRecord): Promise<void> {
    const key = this.recordKey(r.user, r.id);
    await this.#redis.multi().hset(key, 'data', this.#ring.seal(Buffer.from(JSON.stringify(r)), `${key}|data`)).hdel(key, 'frame').exec();
  }

  /** After a 409 the id is unused again (spec 4): the next attempt re-encrypts. */
  async dropFrame(user: string, id: string): Promise<void> {
    await this.#redis.hdel(this.recordKey(user, id), 'frame');
  }

  /**
   * Final outcome: the record keeps its sealed content for the sent retention (24 h unless
   * configured: retry receipts), the lane moves on, and the status is due for its report to the
   * adapter (StatusLog#dueKey) until the worker says it was handed over. Returns the next message
   * id of the lane, if any. Idempotent: only pops if `id` is the head.
   */
  async finish(user: string, peer: string, id: string, state: 'sent' | 'failed', status: MessageStatus, token = ''): Promise<string | undefined> {
    return (await this.finishAndClaim(user, peer, id, state, status, token)).next;
  }

  /**
   * `finish`, and with `claimNext` (the id `claim` said follows `id` in the lane) the next message
   * claimed for `token` as `claim` would, in the same script: one round trip instead of two while
   * a conversation has messages waiting. `claimed` is set only when that id is the new head and
   * nobody else holds the lane. `stale` when the message was no longer queued (finished by another
   * holder of the lane): nothing of it was changed, and its status is not to be reported again.
   */
  async finishAndClaim(user: string, peer: string, id: string, state: 'sent' | 'failed', status: MessageStatus, token = '', claimNext?: { id: string; leaseMs: number }): Promise<{ next?: string; claimed?: Claimed; stale?: true }> {
    const key = this.recordKey(user, id);
    const nextKey = this.recordKey(user, claimNext?.id ?? id);
    const res = (await FINISH.run(this.#redis, [key, this.#status.key(id), this.laneKey(user, peer), this.leaseKey(user, peer), `${this.#p}:dead`, nextKey, this.#status.dueKey], [
      state, state === 'sent' ? this.#sentRetentionS : IDEMPOTENCE_S, JSON.stringify(status), id, token,
      state === 'failed' ? `${user}|${peer}|${id}` : '', Date.now(), claimNext?.id ?? '', claimNext?.leaseMs ?? 0,
    ])) as [number, ...Array<Buffer | null>];
    const stale = res[0] === 1 ? {} : { stale: true as const };
    const next = res[1]?.toString();
    if (next === undefined || res.length < 3) return next === undefined ? stale : { next, ...stale };
    const claimed = this.#claimed(nextKey, res.slice(2) as Array<Buffer | null>);
    return claimed ? { next, claimed, ...stale } : { next, ...stale };
  }

  /** The adapter took the statuses these due members name: no longer due (StatusLog#reported). */
  statusesReported(members: string[]): Promise<void> {
    return this.#status.reported(members);
  }

  /** Statuses (final ones, hub receipts') whose report has been due for `olderThanMs` (StatusLog#takeDue). */
  dueStatuses(olderThanMs: number, limit?: number): Promise<MessageStatus[]> {
    return this.#status.takeDue(olderThanMs, limit);
  }

  /** Moves the lane past `id` if it is still the head (a finished message seen again); the next id. */
  async advance(user: string, peer: string, id: string, token = ''): Promise<string | undefined> {
    const next = await this.#redis.eval(POP_IF_HEAD, 2, this.laneKey(user, peer), this.leaseKey(user, peer), id, token);
    return typeof next === 'string' ? next : undefined;
  }

  /**
   * The head of every non-empty lane and whether some process holds it (start-up and periodic
   * sweep), read in one round trip per `SWEEP_CHUNK` lanes; empty lanes are forgotten.
   */
  async laneHeads(): Promise<Array<{ user: string; peer: string; id: string; leased: boolean }>> {
    const heads: Array<{ user: string; peer: string; id: string; leased: boolean }> = [];
    const lanes = (await this.#redis.smembers(this.lanesKey)).map((lane) => lane.split('|') as [string, string]);
    for (let i = 0; i < lanes.length; i += SWEEP_CHUNK) {
      const chunk = lanes.slice(i, i + SWEEP_CHUNK);
      const p = this.#redis.pipeline();
      for (const [user, peer] of chunk) p.eval(HEAD_OR_FORGET, 3, this.laneKey(user, peer), this.lanesKey, this.leaseKey(user, peer), `${user}|${peer}`);
      const res = (await p.exec()) ?? [];
      chunk.forEach(([user, peer], j) => {
        const [err, v] = res[j] ?? [new Error('no reply')];
        if (err) throw err;
        const [head, leased] = v as [string?, number?];
        if (head !== undefined) heads.push({ user, peer, id: head, leased: leased === 1 });
      });
    }
    return heads;
  }

  async deadLetters(limit = 100): Promise<Array<{ user: string; peer: string; id: string; at: number }>> {
    const rows = await this.#redis.zrange(`${this.#p}:dead`, 0, limit - 1, 'WITHSCORES');
    const out = [];
    for (let i = 0; i < rows.length; i += 2) {
      const [user, peer, id] = (rows[i] as string).split('|') as [string, string, string];
      out.push({ user, peer, id, at: Number(rows[i + 1]) });
    }
    return out;
  }

  /**
   * Puts a dead-lettered message back at the end of its lane, as a fresh start (attempts, and its
   * age for the maximum queue age, count from now); returns whether it is the head. A stored frame
   * is kept unless the hub refused it for certain: one that may have been accepted must be resent
   * byte-identical (spec 4), since a re-encryption under an accepted id is refused as `id-reused`.
   */
  async replay(user: string, peer: string, id: string): Promise<boolean> {
    const key = this.recordKey(user, id);
    if ((await this.#redis.zscore(`${this.#p}:dead`, `${user}|${peer}|${id}`)) === null) {
      throw new Error(`${id} is not a dead letter of ${user} → ${peer}`);
    }
    const last = (await this.#status.history(id)).findLast((s) => s.state === 'failed');
    const m = this.#redis.multi();
    m.zrem(`${this.#p}:dead`, `${user}|${peer}|${id}`);
    m.hset(key, { state: 'queued', attempts: 0, replayed: Date.now() });
    if (last?.certain === true) m.hdel(key, 'frame'); // refused, the id unused: encrypt afresh
    m.expire(key, IDEMPOTENCE_S);
    m.rpush(this.laneKey(user, peer), id);
    m.sadd(this.lanesKey, `${user}|${peer}`);
    m.lindex(this.laneKey(user, peer), 0);
    const res = await m.exec();
    return res?.at(-1)?.[1] === id;
  }
}
