// The status history of each provider user's message (queued → sent → delivered/read, or failed),
// kept for the idempotence window and handed to the adapter as it grows. Statuses carry addresses
// and reasons, never content, so they are stored as plain JSON.
import type { Redis } from 'ioredis';
import type { MessageStatus } from '../../adapters/contract.ts';

export const STATUS_RETENTION_S = 7 * 24 * 3600;

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

  /** Appends a status; `multi` lets callers make it part of a larger atomic write. */
  append(s: MessageStatus, multi?: ReturnType<Redis['multi']>): Promise<unknown> | void {
    const m = multi ?? this.#redis.multi();
    m.rpush(this.key(s.messageId), JSON.stringify(s)).expire(this.key(s.messageId), STATUS_RETENTION_S);
    if (!multi) return m.exec();
  }

  async history(messageId: string): Promise<MessageStatus[]> {
    return (await this.#redis.lrange(this.key(messageId), 0, -1)).map((j) => JSON.parse(j) as MessageStatus);
  }
}
