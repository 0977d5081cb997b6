// Device state in Redis record by record (device-store.ts, idb-snapshot.ts): a flush writes the
// records that changed since the last one (puts, adds, deletes, cursor updates and deletes, by
// inline, out-of-line and compound keys), rewrites a store as a whole after a `clear` or a delete
// by key range, never writes the per-process lock store, and a database restored from Redis under
// another prefix has exactly the same records and indexes. A hash in the earlier layout (one blob
// per store) is restored and rewritten record by record by the next flush. A test database on
// the process's fake-indexeddb stands for the crypto library's, with real Redis.
import { randomBytes } from 'node:crypto';
import { serialize } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceStore } from '../../../adapters/matrix/device-store.ts';
import { installIndexedDb, keyToken } from '../../../adapters/matrix/idb-snapshot.ts';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { testRedis } from '../../support/redis.ts';

const t = testRedis();
const keyring = new Keyring([{ id: 'k', key: randomBytes(32) }], 'k');
let store: DeviceStore;
const USER = '@hub_1:x';
const REL = '::test-db';
const prefix = (n: string) => `cw|${t.prefix}|${n}|${USER}|DEV`;

type Req<T> = { result: T; error: unknown; onsuccess: (() => void) | null; onerror: (() => void) | null };
type Store = {
  put(v: unknown, k?: unknown): Req<unknown>; add(v: unknown, k?: unknown): Req<unknown>; delete(k: unknown): Req<unknown>; clear(): Req<unknown>;
  getAll(): Req<unknown[]>; getAllKeys(): Req<unknown[]>; openCursor(): Req<{ value: Record<string, unknown>; update(v: unknown): Req<unknown>; delete(): Req<unknown>; continue(): void } | null>;
  index(n: string): { getAll(k: unknown): Req<unknown[]> };
};
type Db = { transaction(s: string[], m: string): { objectStore(n: string): Store; oncomplete: (() => void) | null; onerror: (() => void) | null }; close(): void; createObjectStore(n: string, o: unknown): { createIndex(n: string, k: unknown, o: unknown): void } };
const idb = () => (globalThis as unknown as { indexedDB: { open(n: string, v?: number): Req<Db> & { onupgradeneeded: (() => void) | null } } }).indexedDB;
const req = <T>(r: Req<T>) => new Promise<T>((res, rej) => {
  r.onsuccess = () => res(r.result);
  r.onerror = () => rej(r.error);
});
const range = (lo: unknown, hi: unknown) => (globalThis as unknown as { IDBKeyRange: { bound(a: unknown, b: unknown): unknown } }).IDBKeyRange.bound(lo, hi);

async function open(name: string): Promise<Db> {
  const r = idb().open(name, 3);
  r.onupgradeneeded = () => {
    const db = r.result;
    db.createObjectStore('inline', { keyPath: 'id' }).createIndex('by_v', 'v', { unique: false });
    db.createObjectStore('outofline', { keyPath: null });
    db.createObjectStore('compound', { keyPath: ['a', 'b'] });
    db.createObjectStore('lease_locks', { keyPath: null });
  };
  return req(r);
}

/** Runs `fn` in a readwrite transaction over every store and waits for it to commit. */
async function write(db: Db, fn: (s: (n: string) => Store) => void | Promise<void>): Promise<void> {
  const tx = db.transaction(['inline', 'outofline', 'compound', 'lease_locks'], 'readwrite');
  const done = new Promise<void>((res, rej) => {
    tx.oncomplete = () => res();
    tx.onerror = () => rej(new Error('transaction failed'));
  });
  await fn((n) => tx.objectStore(n));
  await done;
}

async function contents(db: Db): Promise<Record<string, unknown>> {
  const tx = db.transaction(['inline', 'outofline', 'compound'], 'readonly');
  const out: Record<string, unknown> = {};
  for (const n of ['inline', 'outofline', 'compound']) {
    const s = tx.objectStore(n);
    out[n] = { keys: await req(s.getAllKeys()), values: await req(s.getAll()) };
  }
  out.byV = await req(tx.objectStore('inline').index('by_v').getAll('shared'));
  return out;
}

const fields = async () => (await t.redis.hkeys(store.key(USER))).sort();
const recs = async (s: string) => (await fields()).filter((f) => f.startsWith(`rec|${REL}|${s}|`));

/** Restores the stored device under a fresh prefix and returns that database's contents. */
async function reloaded(): Promise<Record<string, unknown>> {
  const p = prefix(randomBytes(3).toString('hex'));
  expect(await store.load(USER, p)).toBe(true);
  const db = await open(`${p}${REL}`);
  try {
    return await contents(db);
  } finally {
    db.close();
  }
}

beforeAll(() => {
  installIndexedDb();
  store = new DeviceStore(t.redis, keyring, `${t.prefix}:mx`);
});
afterAll(() => t.cleanup());

describe('device state record by record', () => {
  const p = prefix('a');
  let db: Db;

  it('writes every record once, then only the records that changed', async () => {
    db = await open(`${p}${REL}`);
    await write(db, (s) => {
      for (let i = 0; i < 5; i++) s('inline').put({ id: `k${i}`, v: i % 2 ? 'shared' : `v${i}`, blob: new Uint8Array([i, 1, 2]) });
      s('outofline').put({ n: 1 }, 'a');
      s('outofline').add({ n: 2 }, 'b');
      s('outofline').put({ n: 3 }, ['c', 1]);
      s('compound').put({ a: 'x', b: 1, note: 'one' });
      s('compound').put({ a: 'x', b: 2, note: 'two' });
      s('lease_locks').put({ holder: 'me' }, 'lock');
    });
    expect(await store.flush(USER, p)).toBe(11); // 10 records + the schema
    expect(await recs('inline')).toHaveLength(5);
    expect(await recs('lease_locks')).toEqual([]);
    expect(await fields()).toContain(`rec|${REL}|inline|${keyToken('k3')}`);

    await write(db, (s) => void s('inline').put({ id: 'k3', v: 'changed', blob: new Uint8Array([9]) }));
    expect(await store.flush(USER, p)).toBe(1);
    expect(await store.flush(USER, p)).toBe(0); // nothing changed since
    expect(await reloaded()).toEqual(await contents(db));
    // The lock store exists in a restored database, empty (its records are per process).
    const again = prefix('locks');
    await store.load(USER, again);
    const copy = await open(`${again}${REL}`);
    try {
      expect(await req(copy.transaction(['lease_locks'], 'readonly').objectStore('lease_locks').getAll())).toEqual([]);
    } finally {
      copy.close();
    }
  });

  it('deletes the field of a deleted record, and writes cursor updates and deletes by their key', async () => {
    await write(db, async (s) => {
      s('inline').delete('k0');
      const cur = s('compound').openCursor();
      await new Promise<void>((res) => {
        cur.onsuccess = () => {
          const c = cur.result;
          if (!c) return res();
          if (c.value.b === 1) c.update({ ...c.value, note: 'updated' });
          else c.delete();
          c.continue();
        };
      });
    });
    expect(await store.flush(USER, p)).toBe(3);
    expect(await recs('inline')).toHaveLength(4);
    expect(await recs('compound')).toEqual([`rec|${REL}|compound|${keyToken(['x', 1])}`]);
    expect(await reloaded()).toEqual(await contents(db));
  });

  it('rewrites a store as a whole after a delete by key range or a clear', async () => {
    await write(db, (s) => void s('outofline').delete(range('a', 'b')));
    await store.flush(USER, p);
    expect(await recs('outofline')).toEqual([`rec|${REL}|outofline|${keyToken(['c', 1])}`]);
    await write(db, (s) => void s('inline').clear());
    await store.flush(USER, p);
    expect(await recs('inline')).toEqual([]);
    expect(await recs('compound')).toHaveLength(1);
    expect(await reloaded()).toEqual(await contents(db));
    db.close();
  });

  it('names equal keys alike whatever their form, and refuses what is not a key', () => {
    expect(keyToken(new Uint8Array([1, 2]))).toBe(keyToken(new Uint8Array([0, 1, 2]).subarray(1)));
    expect(keyToken(new Uint8Array([1, 2]).buffer)).toBe(keyToken(new Uint8Array([1, 2])));
    expect(keyToken(1)).not.toBe(keyToken('1'));
    expect(keyToken(['a', 1])).not.toBe(keyToken('a,1'));
    expect(keyToken(-0)).toBe(keyToken(0));
    expect(keyToken({ a: 1 })).toBeUndefined();
    expect(keyToken(Number.NaN)).toBeUndefined();
    expect(keyToken([1, null])).toBeUndefined();
  });
});

describe('a hash written by the earlier layout (one blob per store)', () => {
  it('is restored, and rewritten record by record by the next flush', async () => {
    const key = store.key(USER);
    await t.redis.del(key);
    const seal = (f: string, b: Buffer) => keyring.seal(b, `${key}|${f}`);
    const schema = { name: REL, version: 3, stores: [
      { name: 'inline', keyPath: 'id', autoIncrement: false, indexes: [{ name: 'by_v', keyPath: 'v', unique: false, multiEntry: false }] },
      { name: 'outofline', keyPath: null, autoIncrement: false, indexes: [] },
      { name: 'compound', keyPath: ['a', 'b'], autoIncrement: false, indexes: [] },
    ] };
    await t.redis.hset(key,
      `schema|${REL}`, seal(`schema|${REL}`, Buffer.from(JSON.stringify(schema))),
      `store|${REL}|inline`, seal(`store|${REL}|inline`, serialize([null, [{ id: 'old1', v: 'shared' }, { id: 'old2', v: 'x' }]])),
      `store|${REL}|outofline`, seal(`store|${REL}|outofline`, serialize([['p', 'q'], [{ n: 1 }, { n: 2 }]])),
    );
    const p = prefix('legacy');
    expect(await store.load(USER, p)).toBe(true);
    const db = await open(`${p}${REL}`);
    try {
      const before = await contents(db);
      expect(before.byV).toEqual([{ id: 'old1', v: 'shared' }]);
      expect(before.outofline).toEqual({ keys: ['p', 'q'], values: [{ n: 1 }, { n: 2 }] });
      await store.flush(USER, p);
      const f = await fields();
      expect(f.filter((x) => x.startsWith('store|'))).toEqual([]);
      expect(await recs('inline')).toHaveLength(2);
      expect(await recs('outofline')).toHaveLength(2);
      expect(await reloaded()).toEqual(before);
    } finally {
      db.close();
    }
  });
});
