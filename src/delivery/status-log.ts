// The status history of each provider user's message (queued → sent → delivered/read, or failed),
// kept for the idempotence window and handed to the adapter as it grows. Statuses carry addresses
// and reasons, never content, so they are stored as plain JSON.
//
// The statuses handed to the adapter — final ones (sent, failed) and hub receipts' (delivered,
// read, played) — are reported at least once: the script that appends one also marks it due in
// one sorted set (dueKey), under a member that names that one status (dueMember); the report
// clears the mark once the adapter took it (outbound-worker.ts), and a sweep takes the statuses
// due too long (takeDue) to report them again, as stored.
import type { Redis } from 'ioredis';
import type { MessageStatus } from '../../adapters/contract.ts';
import { RedisScript } from '../redis-script.ts';

export const STATUS_RETENTION_S = 7 * 24 * 3600;

// KEYS: the message's record, its status list, the due set. ARGV: state, at (ms), to, device ('' if
// none), the local id of the user whose session the receipt came on, now (ms). Appends a status
// that takes the message's id, idempotency key and sender from its first (queued) status, marks it
// due for its report (member `id|state|device`, dueMember) and returns it, when:
// the receipt comes from the hub user the message was sent to; the message is this user's (its
// record, kept 24 h, is under the user's key, or once it is gone, the first status names the user
// as sender: statuses are kept 7 days and a hub user may read a message days later); and the same
// state for the same device is not there yet (the hub resends a receipt whose ack was lost: a
// repeat appends and marks nothing).
const APPEND_RECEIPT = new RedisScript(`local first = redis.call('lindex', KEYS[2], 0)
if not first then return false end
local q = cjson.decode(first)
if q.state ~= 'queued' or q.to ~= ARGV[3] then return false end
if redis.call('exists', KEYS[1]) == 0 and q.from ~= ARGV[5] then return false end
local device = ARGV[4] ~= '' and ARGV[4] or nil
for _, j in ipairs(redis.call('lrange', KEYS[2], 1, -1)) do
  local e = cjson.decode(j)
  if e.state == ARGV[1] and e.device == device then return false end
end
local s = { messageId = q.messageId, idempotencyKey = q.idempotencyKey, from = q.from, to = ARGV[3], state = ARGV[1], at = tonumber(ARGV[2]) }
if device then s.device = device end
local j = cjson.encode(s)
redis.call('rpush', KEYS[2], j)
redis.call('expire', KEYS[2], ${STATUS_RETENTION_S})
redis.call('zadd', KEYS[3], ARGV[6], q.messageId .. '|' .. ARGV[1] .. '|' .. ARGV[4])
return j`);

// KEYS: the due set. ARGV: due before (ms), now (ms), limit. Takes up to `limit` statuses due
// before that time and makes them due again from now, so that replicas sweeping at once do not all
// report the same ones. → their members (dueMember).
const TAKE_DUE = new RedisScript(`local ids = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('zadd', KEYS[1], ARGV[2], id) end
return ids`);

/**
 * The member of the due set that names the status `s`: its message id for the final status (sent,
 * failed: the one a message has, and the only kind marked before receipts were), `id|state|device`
 * (device '' if none) for a receipt's, which is one per state and device (APPEND_RECEIPT). Message
 * ids have no `|` (newId).
 */
export function dueMember(s: Pick<MessageStatus, 'messageId' | 'state' | 'device'>): string {
  return s.state === 'sent' || s.state === 'failed' ? s.messageId : `${s.messageId}|${s.state}|${s.device ?? ''}`;
}

/** The status a due member names, in a message's status list; undefined when it is gone. */
function named(member: string, list: MessageStatus[]): MessageStatus | undefined {
  const bar = member.indexOf('|');
  if (bar < 0) return list.findLast((x) => x.state === 'sent' || x.state === 'failed');
  const rest = member.slice(bar + 1);
  const state = rest.slice(0, rest.indexOf('|'));
  const device = rest.slice(rest.indexOf('|') + 1);
  return list.find((x) => x.state === state && (x.device ?? '') === device && x.state !== 'sent' && x.state !== 'failed');
}

/** What a hub receipt says about one of our messages (the rest of its status is the message's own). */
export interface ReceiptStatus {
  state: Extract<MessageStatus['state'], 'delivered' | 'read' | 'played'>;
  at: number;
  /** The hub user who sent the receipt. */
  to: string;
  device?: string;
}

export class StatusLog {
  readonly #redis: Redis;
  readonly #prefix: string;
  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  key(messageId: string): string {
    return `${this.#prefix}:status:${messageId}`;
  }

  /**
   * Statuses not yet confirmed as handed to the adapter, final ones (sent, failed) and hub
   * receipts' (delivered, read, played): member (dueMember) → when it was recorded or last taken
   * for a report (ms). The script that records one adds it (Outbox's FINISH; SUBMIT and SUBMIT_MANY
   * for a message the policy ended; APPEND_RECEIPT); the outbound worker removes it once the
   * adapter's `status` resolved (OutboundDelivery#reportDue).
   */
  get dueKey(): string {
    return `${this.#prefix}:status-due`;
  }

  /** The adapter has the statuses these members name (dueMember): one command for the batch. */
  async reported(members: string[]): Promise<void> {
    if (members.length > 0) await this.#redis.zrem(this.dueKey, ...members);
  }

  /**
   * Statuses due for `olderThanMs` or longer (a report lost with its process, or refused by the
   * adapter), up to `limit`, each exactly as stored (the same status again, so an adapter that
   * derives an event id from it sees a repeat); each is due again `olderThanMs` from now unless
   * reported. Entries whose statuses are gone (7 days) are dropped.
   */
  async takeDue(olderThanMs: number, limit = 500): Promise<MessageStatus[]> {
    const now = Date.now();
    const members = ((await TAKE_DUE.run(this.#redis, [this.dueKey], [now - olderThanMs, now, limit])) as Buffer[]).map((b) => b.toString('utf8'));
    if (members.length === 0) return [];
    const ids = [...new Set(members.map((m) => m.split('|', 1)[0] as string))];
    const p = this.#redis.pipeline();
    for (const id of ids) p.lrange(this.key(id), 0, -1);
    const res = (await p.exec()) ?? [];
    const lists = new Map<string, MessageStatus[]>();
    ids.forEach((id, i) => {
      const [err, list] = res[i] ?? [new Error('no reply')];
      if (err) throw err;
      lists.set(id, (list as string[]).map((j) => JSON.parse(j) as MessageStatus));
    });
    const out: MessageStatus[] = [];
    const gone: string[] = [];
    for (const m of members) {
      const s = named(m, lists.get(m.split('|', 1)[0] as string) ?? []);
      if (s) out.push(s);
      else gone.push(m);
    }
    await this.reported(gone);
    return out;
  }

  /** Appends a status as part of the caller's larger atomic write. */
  append(s: MessageStatus, multi: ReturnType<Redis['multi']>): void {
    multi.rpush(this.key(s.messageId), JSON.stringify(s)).expire(this.key(s.messageId), STATUS_RETENTION_S);
  }

  /**
   * A receipt's status for the message `messageId` whose record would be `recordKey` (the record of
   * the user whose session the receipt came on, whose local id is `sender`, as statuses name it),
   * in one round trip without opening the sealed record, due for its report to the adapter until
   * `reported`; undefined when nothing is appended (see APPEND_RECEIPT: not from the recipient, not
   * this user's message, unknown, or a repeat).
   */
  async appendReceipt(messageId: string, recordKey: string, sender: string, r: ReceiptStatus): Promise<MessageStatus | undefined> {
    const j = (await APPEND_RECEIPT.run(this.#redis, [recordKey, this.key(messageId), this.dueKey], [r.state, r.at, r.to, r.device ?? '', sender, Date.now()])) as Buffer | null;
    return j ? (JSON.parse(j.toString('utf8')) as MessageStatus) : undefined;
  }

  async history(messageId: string): Promise<MessageStatus[]> {
    return (await this.#redis.lrange(this.key(messageId), 0, -1)).map((j) => JSON.parse(j) as MessageStatus);
  }
}
