// Key-encryption-key rotation: re-seals every sealed record under the active key. Every sealed
// value lives in a Redis hash with `${key}|${field}` as its associated data (keyring.ts), so one
// walk over the hashes under the prefix finds them all. A field is replaced only if it still holds
// the value that was read (compare-and-set in Lua), so records written meanwhile are never lost.
import type { Redis } from 'ioredis';
import { KeyNotConfiguredError, KeyringError, type Keyring } from './keyring.ts';
import { setIfUnchanged } from './sealed-hash.ts';

export interface RewrapReport {
  hashes: number;
  rewrapped: number;
  current: number;
  /** Changed by someone else between read and write (the new value was then handled in turn). */
  raced: number;
  /** Sealed with a key that is not configured: cannot be read until that key is added back. */
  unknownKey: Array<{ key: string; field: string; kid: string }>;
}

// How often one field is read again after someone else rewrote it before our compare-and-set.
const MAX_TRIES = 20;

/**
 * Re-seals one field. When the compare-and-set finds the field changed, the new value is read and
 * handled in turn rather than taken to be re-sealed already: a replica whose config does not yet
 * make the new key active still seals with the old one, and a record left under the old key is
 * lost once that key is removed from the config.
 */
async function rewrapField(redis: Redis, ring: Keyring, key: string, field: string, first: Buffer, report: RewrapReport, dryRun: boolean): Promise<void> {
  let value: Buffer | null = first;
  for (let tries = 0; value !== null; tries++) {
    let kid: string;
    try {
      kid = ring.keyIdOf(value);
    } catch {
      return; // not a sealed value (counters, states, JSON metadata)
    }
    if (kid === ring.activeId) {
      if (tries === 0) report.current++;
      return;
    }
    let fresh: Buffer | undefined;
    try {
      fresh = ring.rewrap(value, `${key}|${field}`);
    } catch (err) {
      if (err instanceof KeyNotConfiguredError) report.unknownKey.push({ key, field, kid });
      return; // a plain value that only looks sealed fails authentication: leave it
    }
    if (!fresh) return;
    if (dryRun) {
      report.rewrapped++;
      return;
    }
    if (await setIfUnchanged(redis, key, field, value, fresh)) {
      report.rewrapped++;
      return;
    }
    report.raced++;
    if (tries + 1 >= MAX_TRIES) {
      throw new KeyringError(`${key} field ${field} keeps being rewritten under key "${kid}": is a replica still configured with it as active?`);
    }
    value = await redis.hgetBuffer(key, field);
  }
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
      for (const [field, value] of Object.entries(all)) await rewrapField(redis, ring, key, field, value, report, o.dryRun === true);
    }
  } while (cursor !== '0');
  return report;
}
