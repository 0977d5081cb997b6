// Redis persistence of the bridge's crypto devices: for each bridge user (bot or puppet) one hash
// holding its device id, the IndexedDB schema of its crypto store and one sealed field per record
// of its object stores (`rec|DB|STORE|KEY`: the Olm account, each Olm session, each Megolm
// session, each tracked user…), so that a flush writes the records that changed, not whole stores
// (a puppet's outbound group sessions of all its portals are one store). Every field is sealed
// with the Keyring (AES-256-GCM, the hash key and field as associated data): key material is
// never at rest in clear. A flush is one Lua script (its deletions and writes together), so a
// replica that takes over reads either the state before or after a transaction, never a mix.
// Writes are fenced by the bridge lease (lease.ts): they happen only while the lease's value is
// this replica's token, checked in the same script; a device's writes name the holding it was
// opened under (`holding()`), whose token each acquisition of the lease renews, so that a write
// started in an earlier holding is refused even when this replica holds the lease again (another
// replica may have written newer state in between). Database names are stored relative to the
// device's database prefix (which holds a per-process namespace), so that any replica restores
// them under its own. A hash written by an earlier version (one `store|DB|STORE` blob per store)
// is read as well, and rewritten record by record at the device's first flush.
import type { Redis } from 'ioredis';
import type { Keyring } from '../../src/crypto/keyring.ts';
import { RedisScript } from '../../src/redis-script.ts';
import { databasesWith, dirtyWith, dropDatabase, legacyRecords, markChanged, restore, snapshot, takeDirty, type DatabaseSchema, type StoreChanges } from './idb-snapshot.ts';
import { LeaseLostError } from './lease.ts';

/** The lease that fences writes: its Redis key, and the token of this replica's current holding while it holds it. */
export interface WriteFence {
  readonly key: string;
  heldToken(): string | undefined;
}

/**
 * KEYS: the device hash, then the lease (absent: not fenced). ARGV: the lease token, the number of
 * field prefixes to purge and those prefixes, the number of fields to delete and those fields,
 * then field/value pairs to set (in chunks: Lua's unpack has a stack limit).
 */
const WRITE = new RedisScript(`if #KEYS > 1 and redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local i = 2
local np = tonumber(ARGV[i])
if np > 0 then
  local fields = redis.call('HKEYS', KEYS[1])
  for p = i + 1, i + np do
    local pre = ARGV[p]
    for _, f in ipairs(fields) do
      if string.sub(f, 1, #pre) == pre then redis.call('HDEL', KEYS[1], f) end
    end
  end
end
i = i + np + 1
local nd = tonumber(ARGV[i])
for d = i + 1, i + nd do redis.call('HDEL', KEYS[1], ARGV[d]) end
i = i + nd + 1
while i <= #ARGV do
  local last = math.min(i + 199, #ARGV)
  redis.call('HSET', KEYS[1], unpack(ARGV, i, last))
  i = last + 1
end
return 1`);

/** One write of a device hash: prefixes whose fields go, fields that go, fields set. */
interface Write {
  purge: string[];
  del: string[];
  set: Array<string | Buffer>;
}

const storeField = (rel: string, store: string): string => `store|${rel}|${store}`;
const recordPrefix = (rel: string, store: string): string => `rec|${rel}|${store}|`;

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

  /**
   * The holding of the lease that a device opened now works under (this replica's current token,
   * which each acquisition renews): given to its writes, they are refused once that holding has
   * ended, even if this replica holds the lease again. Undefined when writes are not fenced;
   * LeaseLostError when this replica does not hold the lease.
   */
  holding(): string | undefined {
    return this.#token(undefined) || undefined;
  }

  /** Records the device id before the device's keys exist anywhere (so a crash reuses it); fenced by `holding` when given. */
  async setDeviceId(userId: string, deviceId: string, holding?: string): Promise<void> {
    await this.#write(this.key(userId), { purge: [], del: [], set: ['device_id', deviceId] }, holding);
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
    const fields = Object.keys(all);
    const schemas = fields.filter((f) => f.startsWith('schema|'));
    for (const field of schemas) {
      // The stored name is relative to the database prefix (`::matrix-sdk-crypto`…).
      const text = this.#open(key, field, all[field] as Buffer).toString('utf8');
      this.#schemas.set(`${key}|${field}`, text);
      const schema = JSON.parse(text) as DatabaseSchema;
      const records = new Map<string, Buffer[]>();
      const legacy: string[] = [];
      for (const s of schema.stores) {
        const list: Buffer[] = [];
        const blobField = storeField(schema.name, s.name);
        const blob = all[blobField];
        if (blob) {
          list.push(...legacyRecords(this.#open(key, blobField, blob), s.keyPath));
          legacy.push(s.name);
        }
        const prefix = recordPrefix(schema.name, s.name);
        for (const f of fields) if (f.startsWith(prefix)) list.push(this.#open(key, f, all[f] as Buffer));
        records.set(s.name, list);
      }
      const name = `${dbPrefix}${schema.name}`;
      await restore({ ...schema, name }, records);
      // Stores in the earlier layout are rewritten record by record by the next flush.
      for (const s of legacy) markChanged(name, s);
    }
    return schemas.length > 0;
  }

  /**
   * Writes the records of `userId`'s databases that changed since the last flush (every record
   * when `full`); returns how many fields were written or deleted. With `holding` (see holding()),
   * refused unless that holding of the lease is still the current one.
   */
  async flush(userId: string, dbPrefix: string, full = false, holding?: string): Promise<number> {
    const key = this.key(userId);
    const w: Write = { purge: [], del: [], set: [] };
    const written: Array<[string, string]> = [];
    const taken: Array<[string, Map<string, StoreChanges>]> = [];
    // A device of an ended holding writes nothing, and takes no changes that a device opened
    // since under the same database names has to write.
    if (holding !== undefined) this.#token(holding);
    try {
      await this.#collect(key, dbPrefix, full, w, written, taken);
      if (w.purge.length + w.del.length + w.set.length > 0) await this.#write(key, w, holding);
    } catch (err) {
      // Not written: what changed stays to be written by the next flush (a retried transaction's
      // flush finds nothing new, and acknowledging it must not leave these records in memory only).
      for (const [name, changes] of taken) {
        for (const [store, c] of changes) {
          if (c.all) markChanged(name, store);
          else for (const k of c.keys.values()) markChanged(name, store, k);
        }
      }
      throw err;
    }
    for (const [k, v] of written) this.#schemas.set(k, v);
    return w.del.length + w.set.length / 2;
  }

  /** The write of a flush: the changed records of each database (taken from the dirty marks, listed in `taken`). */
  async #collect(key: string, dbPrefix: string, full: boolean, w: Write, written: Array<[string, string]>, taken: Array<[string, Map<string, StoreChanges>]>): Promise<void> {
    // Only databases with writes are opened (listing every database of the process costs more).
    for (const name of full ? await databasesWith(dbPrefix) : dirtyWith(dbPrefix)) {
      const changes = takeDirty(name);
      taken.push([name, changes]);
      if (!full && changes.size === 0) continue;
      const snap = await snapshot(name, full ? 'all' : changes);
      if (!snap) continue;
      const rel = name.slice(dbPrefix.length);
      const schemaField = `schema|${rel}`;
      const schema = JSON.stringify({ ...snap.schema, name: rel });
      // The schema changes only when the library upgrades its database: not rewritten otherwise.
      if (full || this.#schemas.get(`${key}|${schemaField}`) !== schema) {
        w.set.push(schemaField, this.#seal(key, schemaField, Buffer.from(schema)));
        written.push([`${key}|${schemaField}`, schema]);
      }
      for (const [store, s] of snap.stores) {
        const prefix = recordPrefix(rel, store);
        if (s.all) {
          // A store written as a whole replaces every record it had (and its earlier-layout blob).
          w.purge.push(prefix);
          w.del.push(storeField(rel, store));
        }
        for (const token of s.gone) w.del.push(`${prefix}${token}`);
        for (const r of s.records) {
          const f = `${prefix}${r.token}`;
          w.set.push(f, this.#seal(key, f, r.data));
        }
      }
    }
  }

  /**
   * The token a write is fenced with ('' unfenced): that of `holding` when given, else of the
   * current holding; LeaseLostError when this replica does not hold the lease, or holds it in
   * another holding than `holding`.
   */
  #token(holding: string | undefined): string {
    if (!this.#fence) return '';
    const current = this.#fence.heldToken();
    if (current === undefined || (holding !== undefined && holding !== current)) throw new LeaseLostError('the bridge lease is not held here (or not in the holding the device was opened under): device state not written');
    return current;
  }

  /** One write script, fenced by the lease when there is one: refused (LeaseLostError) unless this replica holds it, in `holding` when given. */
  async #write(key: string, w: Write, holding?: string): Promise<void> {
    const args = [w.purge.length, ...w.purge, w.del.length, ...w.del, ...w.set];
    const token = this.#token(holding);
    const r = Number(await WRITE.run(this.#redis, this.#fence ? [key, this.#fence.key] : [key], [token, ...args]));
    if (r === -1) throw new LeaseLostError('the bridge lease is not held here: device state not written');
  }

  #seal(key: string, field: string, plain: Buffer): Buffer {
    return this.#keyring.seal(plain, `${key}|${field}`);
  }

  #open(key: string, field: string, blob: Buffer): Buffer {
    return this.#keyring.open(blob, `${key}|${field}`);
  }
}
