// Key-encryption-key rotation: re-seals every sealed record under the active key. Every sealed
// value lives in a Redis hash with `${key}|${field}` as its associated data (keyring.ts), so one
// walk over the hashes under the prefix finds them all. A field is replaced only if it still holds
// the value that was read (compare-and-set in Lua), so records written meanwhile are never lost.
import type { Redis } from 'ioredis';
import type { Keyring} from './keyring.ts';
import { KeyringError } from './keyring.ts';

const SET_IF_UNCHANGED = `if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('hset', KEYS[1], ARGV[1], ARGV[3]) return 1 end return 0`;

export interface RewrapReport {
  hashes: number;
  rewrapped: number;
  current: number;
  /** Changed by someone else between read and write: already re-sealed by its writer. */
  raced: number;
  /** Sealed with a key that is not configured: cannot be read until that key is added back. */
  unknownKey: Array<{ key: string; field: string; kid: string }>;
}

/** Walks `${prefix}:*`; with `dryRun` it only counts. */
export async function rewrapAll(redis: Redis, ring: Keyring, prefix: string, o: { dryRun?: boolean } = {}): Promise<RewrapReport> {
  const report: RewrapReport = { hashes: 0, rewrapped: 0, current: 0, raced: 0, unknownKey: [] };
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500, 'TYPE', 'hash');
    cursor = next;
    for (const key of keys) {
      report.hashes++;
      const all = await redis.hgetallBuffer(key);
      for (const [field, value] of Object.entries(all)) {
        let kid: string;
        try {
          kid = ring.keyIdOf(value);
        } catch {
          continue; // not a sealed value (counters, states, JSON metadata)
        }
        if (kid === ring.activeId) {
          report.current++;
          continue;
        }
        let fresh: Buffer | undefined;
        try {
          fresh = ring.rewrap(value, `${key}|${field}`);
        } catch (err) {
          if (err instanceof KeyringError && /not configured/.test(err.message)) report.unknownKey.push({ key, field, kid });
          continue; // a plain value that only looks sealed fails authentication: leave it
        }
        if (!fresh) continue;
        if (o.dryRun) {
          report.rewrapped++;
          continue;
        }
        const done = (await redis.eval(SET_IF_UNCHANGED, 1, key, field, value, fresh)) as number;
        if (done === 1) report.rewrapped++;
        else report.raced++;
      }
    }
  } while (cursor !== '0');
  return report;
}
