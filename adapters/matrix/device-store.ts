// Redis persistence of the bridge's crypto devices: for each bridge user (bot or puppet) one hash
// holding its device id, the IndexedDB schema of its crypto store and one sealed blob per object
// store (Olm account, Olm sessions, Megolm sessions, tracked devices…). Every blob is sealed with
// the Keyring (AES-256-GCM, the hash key and field as associated data): key material is never at
// rest in clear. A flush writes the changed stores in one HSET, so a replica that takes over reads
// either the state before or after a transaction, never a mix. Writes are fenced by the bridge
// lease (lease.ts): they happen only while the lease's value is this replica's token, checked in
// the same Lua script as the HSET, so a replica that lost the lease cannot overwrite newer state.
// Database names are stored relative to the device's database prefix (which holds a per-process
// namespace), so that any replica restores them under its own.
import type { Redis } from 'ioredis';
import type { Keyring } from '../../src/crypto/keyring.ts';
import { databasesWith, dirtyWith, dropDatabase, restore, snapshot, takeDirty, type DatabaseSchema, type StoreRecords } from './idb-snapshot.ts';
import { LeaseLostError } from './lease.ts';

/** The lease that fences writes: its Redis key, and this replica's token while it holds it. */
export interface WriteFence {
  readonly key: string;
  heldToken(): string | undefined;
}

const FENCED_HSET = `if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
return redis.call('HSET', KEYS[1], unpack(ARGV, 2))`;

export interface StoredDevice {
  deviceId: string;
}

export class DeviceStore {
  readonly #redis: Redis;
  readonly #keyring: Keyring;
  readonly #base: string;
  readonly #fence: WriteFence | undefined;
  /** The schema last written per device field by this process (see flush). */
  readonly #schemas = new Map<string, string>();

  constructor(redis: Redis, keyring: Keyring, base: string, fence?: WriteFence) {
    this.#redis = redis;
    this.#keyring = keyring;
    this.#base = base;
    this.#fence = fence;
  }

  key(userId: string): string {
    return `${this.#base}:dev:${userId}`;
  }

  async deviceId(userId: string): Promise<string | undefined> {
    return (await this.#redis.hget(this.key(userId), 'device_id')) ?? undefined;
  }

  /** Records the device id before the device's keys exist anywhere (so a crash reuses it). */
  async setDeviceId(userId: string, deviceId: string): Promise<void> {
    await this.#hset(this.key(userId), ['device_id', deviceId]);
  }

  /**
   * Recreates the IndexedDB databases of `userId`'s crypto store (named `dbPrefix…`) from Redis;
   * false when nothing was stored.
   */
  async load(userId: string, dbPrefix: string): Promise<boolean> {
    const key = this.key(userId);
    // Redis is the source of truth: a copy left in this process by an earlier instance goes.
    for (const name of await databasesWith(dbPrefix)) await dropDatabase(name);
    const all = await this.#redis.hgetallBuffer(key);
    const schemas = Object.keys(all).filter((f) => f.startsWith('schema|'));
    for (const field of schemas) {
      // The stored name is relative to the database prefix (`::matrix-sdk-crypto`…).
      const text = this.#open(key, field, all[field] as Buffer).toString('utf8');
      this.#schemas.set(`${key}|${field}`, text);
      const schema = JSON.parse(text) as DatabaseSchema;
      const records = new Map<string, StoreRecords>();
      for (const s of schema.stores) {
        const f = `store|${schema.name}|${s.name}`;
        const blob = all[f];
        if (blob) records.set(s.name, this.#open(key, f, blob));
      }
      await restore({ ...schema, name: `${dbPrefix}${schema.name}` }, records);
    }
    return schemas.length > 0;
  }

  /** Writes the stores of `userId`'s databases that changed since the last flush (all when `full`). */
  async flush(userId: string, dbPrefix: string, full = false): Promise<number> {
    const key = this.key(userId);
    const fields: Array<string | Buffer> = [];
    const written: Array<[string, string]> = [];
    // Only databases with writes are opened (listing every database of the process costs more).
    for (const name of full ? await databasesWith(dbPrefix) : dirtyWith(dbPrefix)) {
      const dirty = takeDirty(name);
      if (!full && dirty.length === 0) continue;
      const snap = await snapshot(name, full ? undefined : dirty);
      if (!snap) continue;
      const rel = name.slice(dbPrefix.length);
      const schemaField = `schema|${rel}`;
      const schema = JSON.stringify({ ...snap.schema, name: rel });
      // The schema changes only when the library upgrades its database: not rewritten otherwise.
      if (full || this.#schemas.get(`${key}|${schemaField}`) !== schema) {
        fields.push(schemaField, this.#seal(key, schemaField, Buffer.from(schema)));
        written.push([`${key}|${schemaField}`, schema]);
      }
      for (const [store, records] of snap.records) {
        const f = `store|${rel}|${store}`;
        fields.push(f, this.#seal(key, f, records));
      }
    }
    if (fields.length > 0) await this.#hset(key, fields);
    for (const [k, v] of written) this.#schemas.set(k, v);
    return fields.length / 2;
  }

  /** HSET, fenced by the lease when there is one: refused (LeaseLostError) unless this replica holds it. */
  async #hset(key: string, fields: Array<string | Buffer>): Promise<void> {
    if (!this.#fence) {
      await this.#redis.hset(key, ...fields);
      return;
    }
    const token = this.#fence.heldToken();
    const r = token === undefined ? -1 : Number(await this.#redis.eval(FENCED_HSET, 2, key, this.#fence.key, token, ...fields));
    if (r === -1) throw new LeaseLostError('the bridge lease is not held here: device state not written');
  }

  #seal(key: string, field: string, plain: Buffer): Buffer {
    return this.#keyring.seal(plain, `${key}|${field}`);
  }

  #open(key: string, field: string, blob: Buffer): Buffer {
    return this.#keyring.open(blob, `${key}|${field}`);
  }
}
