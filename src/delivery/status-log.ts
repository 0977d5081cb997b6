// The status history of each provider user's message (queued → sent → delivered/read, or failed),
// kept for the idempotence window and handed to the adapter as it grows. Statuses carry addresses
// and reasons, never content, so they are stored as plain JSON.
import type { Redis } from 'ioredis';
import type { MessageStatus } from '../../adapters/contract.ts';
import { RedisScript } from '../redis-script.ts';

export const STATUS_RETENTION_S = 7 * 24 * 3600;

// KEYS: the message's record, its status list. ARGV: state, at (ms), to, device ('' if none).
// Unless the record is gone (older than its retention, or not ours), appends a status that takes
// the message's id, idempotency key and sender from its first (queued) status, and returns it.
const APPEND_RECEIPT = new RedisScript(`if redis.call('exists', KEYS[1]) == 0 then return false end
local first = redis.call('lindex', KEYS[2], 0)
if not first then return false end
local q = cjson.decode(first)
local s = { messageId = q.messageId, idempotencyKey = q.idempotencyKey, from = q.from, to = ARGV[3], state = ARGV[1], at = tonumber(ARGV[2]) }
if ARGV[4] ~= '' then s.device = ARGV[4] end
local j = cjson.encode(s)
redis.call('rpush', KEYS[2], j)
redis.call('expire', KEYS[2], ${STATUS_RETENTION_S})
return j`);

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

  /** Appends a status as part of the caller's larger atomic write. */
  append(s: MessageStatus, multi: ReturnType<Redis['multi']>): void {
    multi.rpush(this.key(s.messageId), JSON.stringify(s)).expire(this.key(s.messageId), STATUS_RETENTION_S);
  }

  /**
   * A receipt's status for the message `messageId` whose record is `recordKey`, in one round trip
   * without opening the sealed record; undefined when the record is gone (nothing is appended).
   */
  async appendReceipt(messageId: string, recordKey: string, r: ReceiptStatus): Promise<MessageStatus | undefined> {
    const j = (await APPEND_RECEIPT.run(this.#redis, [recordKey, this.key(messageId)], [r.state, r.at, r.to, r.device ?? ''])) as Buffer | null;
    return j ? (JSON.parse(j.toString('utf8')) as MessageStatus) : undefined;
  }

  async history(messageId: string): Promise<MessageStatus[]> {
    return (await this.#redis.lrange(this.key(messageId), 0, -1)).map((j) => JSON.parse(j) as MessageStatus);
  }
}
