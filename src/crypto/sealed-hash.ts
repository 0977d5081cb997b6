// One Redis hash of sealed records: every value is sealed with the Keyring, its Redis key and
// field as associated data (keyring.ts), so a value cannot be moved to another slot unnoticed.
import type { Redis } from 'ioredis';
import { RedisScript } from '../redis-script.ts';
import type { Keyring } from './keyring.ts';

// Sets a field only if it still holds what was read ('' for absent; a sealed blob is never empty).
// Sealed blobs carry a random nonce, so equal bytes mean nobody wrote in between.
const SET_IF_UNCHANGED = new RedisScript(`local cur = redis.call('hget', KEYS[1], ARGV[1])
if (cur or '') ~= ARGV[2] then return 0 end
redis.call('hset', KEYS[1], ARGV[1], ARGV[3])
return 1`);

/** Compare-and-set of one hash field: writes `value` only if the field still holds `read` (null: absent). */
export async function setIfUnchanged(redis: Redis, key: string, field: string, read: Buffer | null, value: Buffer): Promise<boolean> {
  return (await SET_IF_UNCHANGED.run(redis, [key], [field, read ?? '', value])) === 1;
}

/** Sealed hash access shared by the Signal stores and the unit of work (signal-unit.ts). */
export class SealedHash {
  readonly key: string;
  readonly redis: Redis;
  readonly #ring: Keyring;
  constructor(redis: Redis, ring: Keyring, key: string) {
    this.redis = redis;
    this.#ring = ring;
    this.key = key;
  }
  /** Opens a blob read from `field` of this hash (its location is the associated data). */
  open(field: string, blob: Uint8Array): Buffer<ArrayBuffer> {
    return this.#ring.open(blob, `${this.key}|${field}`);
  }
  seal(field: string, value: Uint8Array): Buffer {
    return this.#ring.seal(value, `${this.key}|${field}`);
  }
  async get(field: string): Promise<Buffer<ArrayBuffer> | undefined> {
    const blob = await this.redis.hgetBuffer(this.key, field);
    return blob ? this.open(field, blob) : undefined;
  }
  async getMany(fields: string[]): Promise<Array<Buffer<ArrayBuffer> | undefined>> {
    if (fields.length === 0) return [];
    const blobs = await this.redis.hmgetBuffer(this.key, ...fields);
    return blobs.map((b, i) => (b ? this.open(fields[i] as string, b) : undefined));
  }
  async set(field: string, value: Uint8Array): Promise<void> {
    await this.redis.hset(this.key, field, this.seal(field, value));
  }
  async del(...fields: string[]): Promise<void> {
    if (fields.length > 0) await this.redis.hdel(this.key, ...fields);
  }
  async count(): Promise<number> {
    return this.redis.hlen(this.key);
  }
  async fields(): Promise<string[]> {
    return this.redis.hkeys(this.key);
  }
}
