// Persistence of matrix-sdk-crypto-wasm's IndexedDB stores. In Node the crypto library's store is
// fake-indexeddb, which lives in memory only; this module snapshots a database's object stores so
// that they can be written to Redis, and recreates a database from a snapshot before
// `OlmMachine.initialize` opens it (design.md: a snapshot restored before initialize survives a
// restart). Writes are tracked per object store (put/add/delete/clear, cursor update/delete), so
// a flush serializes only the stores that changed. Values are serialized with v8's structured
// clone (the same value model IndexedDB stores). Constraint: `installIndexedDb()` must run before
// the crypto library opens any database; it installs fake-indexeddb as the process's IndexedDB
// (the globals the library looks up), and refuses to run beside another implementation.
import { deserialize, serialize } from 'node:v8';
import * as fake from 'fake-indexeddb';
import { IDBCursor as FakeCursor, IDBObjectStore as FakeObjectStore, indexedDB as fakeIndexedDb } from 'fake-indexeddb';

// The subset of the IndexedDB API used here (the project compiles without the DOM lib).
type Key = string | number | Date | ArrayBufferView | ArrayBuffer | Key[];
type KeyPath = string | string[] | null;
interface IDBRequest<T> {
  result: T;
  error: Error | null;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface IDBOpenDBRequest extends IDBRequest<IDBDatabase> {
  onupgradeneeded: (() => void) | null;
}
interface IDBIndex {
  keyPath: KeyPath;
  unique: boolean;
  multiEntry: boolean;
  objectStore: IDBObjectStore;
}
interface IDBObjectStore {
  name: string;
  keyPath: KeyPath;
  autoIncrement: boolean;
  indexNames: Iterable<string>;
  transaction: IDBTransaction;
  index(name: string): IDBIndex;
  getAll(): IDBRequest<unknown[]>;
  getAllKeys(): IDBRequest<Key[]>;
  get(key: Key): IDBRequest<unknown>;
  put(value: unknown, key?: Key): IDBRequest<Key>;
  createIndex(name: string, keyPath: KeyPath, o: { unique: boolean; multiEntry: boolean }): IDBIndex;
}
interface IDBTransaction {
  db: IDBDatabase;
  error: Error | null;
  objectStore(name: string): IDBObjectStore;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
}
interface IDBDatabase {
  name: string;
  version: number;
  objectStoreNames: Iterable<string>;
  transaction(stores: string[], mode: 'readonly' | 'readwrite'): IDBTransaction;
  createObjectStore(name: string, o: { keyPath: KeyPath; autoIncrement: boolean }): IDBObjectStore;
  close(): void;
}
interface IDBCursor {
  source: IDBObjectStore | IDBIndex;
  primaryKey: Key;
}
interface IDBFactory {
  databases(): Promise<Array<{ name?: string; version?: number }>>;
  open(name: string, version?: number): IDBOpenDBRequest;
  deleteDatabase(name: string): IDBRequest<undefined>;
}
const indexedDB = fakeIndexedDb as unknown as IDBFactory;

/** Stores whose content is per-process coordination, not state: never persisted. */
const EPHEMERAL_STORES = new Set(['lease_locks']);

export interface StoreSchema {
  name: string;
  keyPath: string | string[] | null;
  autoIncrement: boolean;
  indexes: Array<{ name: string; keyPath: string | string[]; unique: boolean; multiEntry: boolean }>;
}

export interface DatabaseSchema {
  name: string;
  version: number;
  stores: StoreSchema[];
}

/**
 * What changed in one object store since it was last taken: the primary keys written or deleted
 * (by their token, see keyToken), or everything (a `clear`, a delete by key range, or a write whose
 * key is not known when it is made: an auto-increment key).
 */
export type StoreChanges = { all: true } | { all: false; keys: Map<string, Key> };

/** Database → store → what changed there. */
const dirty = new Map<string, Map<string, StoreChanges>>();
let installed = false;

/**
 * A string naming a primary key, the same for equal keys whatever their representation (the
 * field of its record in Redis): tagged JSON. Undefined for a value that is not a valid key.
 */
export function keyToken(k: unknown): string | undefined {
  const tag = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return Number.isNaN(v) ? undefined : { n: Object.is(v, -0) ? 0 : v };
    if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : { d: v.getTime() };
    if (v instanceof ArrayBuffer) return { b: Buffer.from(v).toString('base64') };
    if (ArrayBuffer.isView(v)) return { b: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
    if (Array.isArray(v) && depth < 16) {
      const items = v.map((x) => tag(x, depth + 1));
      return items.includes(undefined) ? undefined : items;
    }
    return undefined;
  };
  const t = tag(k, 0);
  return t === undefined ? undefined : JSON.stringify(t);
}

/** The key of `value` under an inline key path (IndexedDB's key path evaluation), if it has one. */
function keyAtPath(path: KeyPath, value: unknown): unknown {
  if (path === null) return undefined;
  if (Array.isArray(path)) {
    const keys = path.map((p) => keyAtPath(p, value));
    return keys.includes(undefined) ? undefined : keys;
  }
  let v: unknown = value;
  for (const part of path === '' ? [] : path.split('.')) {
    if (typeof v !== 'object' || v === null || !(part in v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function changesOf(db: string, store: string): Map<string, StoreChanges> | undefined {
  if (EPHEMERAL_STORES.has(store)) return undefined;
  let m = dirty.get(db);
  if (!m) dirty.set(db, (m = new Map()));
  return m;
}

/** Marks `store` of `db` as changed at `key`, or as a whole when the key is not known. */
export function markChanged(db: string, store: string, key?: unknown): void {
  const m = changesOf(db, store);
  if (!m) return;
  const token = key === undefined ? undefined : keyToken(key);
  const c = m.get(store);
  if (token === undefined) m.set(store, { all: true });
  else if (!c) m.set(store, { all: false, keys: new Map([[token, key as Key]]) });
  else if (!c.all) c.keys.set(token, key as Key);
}

/** Installs the write tracking on the global fake-indexeddb (idempotent). */
export function installIndexedDb(): void {
  if (installed) return;
  const g = globalThis as Record<string, unknown>;
  if (g.indexedDB !== undefined && g.indexedDB !== fakeIndexedDb) throw new Error('another IndexedDB implementation is installed; the Matrix adapter needs fake-indexeddb');
  for (const [name, value] of Object.entries({ indexedDB: fake.indexedDB, IDBCursor: fake.IDBCursor, IDBCursorWithValue: fake.IDBCursorWithValue, IDBDatabase: fake.IDBDatabase, IDBFactory: fake.IDBFactory, IDBIndex: fake.IDBIndex, IDBKeyRange: fake.IDBKeyRange, IDBObjectStore: fake.IDBObjectStore, IDBOpenDBRequest: fake.IDBOpenDBRequest, IDBRequest: fake.IDBRequest, IDBTransaction: fake.IDBTransaction, IDBVersionChangeEvent: fake.IDBVersionChangeEvent })) {
    Object.defineProperty(globalThis, name, { value, enumerable: false, configurable: true, writable: true });
  }
  installed = true;
  const storeProto = FakeObjectStore.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  // The key a write touches, when it can be known as the call is made (else the whole store).
  const keyOf: Record<string, (st: IDBObjectStore, a: unknown[]) => unknown> = {
    put: (st, a) => (a.length > 1 && a[1] !== undefined ? a[1] : keyAtPath(st.keyPath, a[0])),
    add: (st, a) => (a.length > 1 && a[1] !== undefined ? a[1] : keyAtPath(st.keyPath, a[0])),
    delete: (_st, a) => (a[0] instanceof fake.IDBKeyRange ? undefined : a[0]),
    clear: () => undefined,
  };
  for (const [method, key] of Object.entries(keyOf)) {
    const orig = storeProto[method] as (...a: unknown[]) => unknown;
    storeProto[method] = function (this: IDBObjectStore, ...args: unknown[]) {
      markChanged(this.transaction.db.name, this.name, key(this, args));
      return orig.apply(this, args);
    };
  }
  const cursorProto = FakeCursor.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const method of ['update', 'delete']) {
    const orig = cursorProto[method] as (...a: unknown[]) => unknown;
    cursorProto[method] = function (this: IDBCursor, ...args: unknown[]) {
      const src = this.source as IDBObjectStore | IDBIndex;
      const store = 'objectStore' in src ? src.objectStore : src;
      markChanged(store.transaction.db.name, store.name, this.primaryKey);
      return orig.apply(this, args);
    };
  }
}

/** Names of the databases starting with `prefix` that have writes not yet taken (no IndexedDB call). */
export function dirtyWith(prefix: string): string[] {
  return [...dirty.keys()].filter((n) => n.startsWith(prefix));
}

/** What changed in the stores of `db` since the last call, and forgets it. */
export function takeDirty(db: string): Map<string, StoreChanges> {
  const m = dirty.get(db);
  dirty.delete(db);
  return m ?? new Map();
}

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

async function openExisting(name: string): Promise<IDBDatabase | undefined> {
  const known = await indexedDB.databases();
  if (!known.some((d) => d.name === name)) return undefined;
  return req(indexedDB.open(name));
}

/** Names of the existing databases whose name starts with `prefix`. */
export async function databasesWith(prefix: string): Promise<string[]> {
  return (await indexedDB.databases()).map((d) => d.name ?? '').filter((n) => n.startsWith(prefix));
}

/** One record, v8-serialized as `[primary key, value]`, under its key's token. */
export interface StoredRecord {
  token: string;
  data: Buffer;
}

/** What a flush writes of one store: its records (all of them, or those changed) and the keys gone. */
export interface StoreSnapshot {
  all: boolean;
  records: StoredRecord[];
  /** Tokens of changed keys that no longer have a record (deleted). */
  gone: string[];
}

const record = (key: Key, value: unknown): StoredRecord => ({ token: keyToken(key) as string, data: serialize([key, value]) });

/**
 * The schema of an existing database, and of each store in `changes` its changed records (or all
 * its records, for a store changed as a whole or when `changes` is 'all'), read in one transaction.
 */
export async function snapshot(name: string, changes: Map<string, StoreChanges> | 'all'): Promise<{ schema: DatabaseSchema; stores: Map<string, StoreSnapshot> } | undefined> {
  const db = await openExisting(name);
  if (!db) return undefined;
  try {
    // Every store is in the schema (a restored database must have them all); an ephemeral store's records are not kept.
    const all = [...db.objectStoreNames];
    const names = all.filter((s) => !EPHEMERAL_STORES.has(s));
    const tx = db.transaction(all, 'readonly');
    const stores: StoreSchema[] = all.map((s) => {
      const st = tx.objectStore(s);
      return {
        name: s,
        keyPath: st.keyPath,
        autoIncrement: st.autoIncrement,
        indexes: [...st.indexNames].map((i) => {
          const ix = st.index(i);
          return { name: i, keyPath: ix.keyPath as string | string[], unique: ix.unique, multiEntry: ix.multiEntry };
        }),
      };
    });
    const out = new Map<string, StoreSnapshot>();
    await Promise.all(
      names.map(async (s) => {
        const c: StoreChanges | undefined = changes === 'all' ? { all: true } : changes.get(s);
        if (!c) return;
        const st = tx.objectStore(s);
        if (c.all) {
          const [keys, values] = await Promise.all([req(st.getAllKeys()), req(st.getAll())]);
          out.set(s, { all: true, records: keys.map((k, i) => record(k, values[i])), gone: [] });
          return;
        }
        const snap: StoreSnapshot = { all: false, records: [], gone: [] };
        await Promise.all(
          [...c.keys].map(async ([token, key]) => {
            const value = await req(st.get(key));
            if (value === undefined) snap.gone.push(token);
            else snap.records.push(record(key, value));
          }),
        );
        out.set(s, snap);
      }),
    );
    return { schema: { name, version: db.version, stores }, stores: out };
  } finally {
    db.close();
  }
}

/**
 * Recreates database `schema.name` (which must not exist in this process yet) with its stores,
 * indexes and records (each v8-serialized `[primary key, value]`), at the same version, so that
 * the crypto library opens it without upgrading.
 */
export async function restore(schema: DatabaseSchema, records: Map<string, Buffer[]>): Promise<void> {
  const open = indexedDB.open(schema.name, schema.version);
  open.onupgradeneeded = () => {
    const db = open.result;
    for (const s of schema.stores) {
      const st = db.createObjectStore(s.name, { keyPath: s.keyPath, autoIncrement: s.autoIncrement });
      for (const i of s.indexes) st.createIndex(i.name, i.keyPath, { unique: i.unique, multiEntry: i.multiEntry });
    }
  };
  const db = await req(open);
  try {
    const names = schema.stores.map((s) => s.name).filter((s) => (records.get(s)?.length ?? 0) > 0);
    if (names.length === 0) return;
    const tx = db.transaction(names, 'readwrite');
    const done = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB restore failed'));
    });
    for (const s of names) {
      const st = tx.objectStore(s);
      for (const r of records.get(s) as Buffer[]) {
        const [key, value] = deserialize(r) as [Key, unknown];
        if (st.keyPath === null) st.put(value, key);
        else st.put(value);
      }
    }
    await done;
  } finally {
    db.close();
  }
  takeDirty(schema.name);
}

/**
 * The records of a store as an earlier version of the bridge wrote them (one blob per store:
 * `[keys or null, values]`), as `[key, value]` records; the keys of inline-key stores are read
 * from the values.
 */
export function legacyRecords(blob: Buffer, keyPath: KeyPath): Buffer[] {
  const [keys, values] = deserialize(blob) as [Key[] | null, unknown[]];
  return values.map((v, i) => serialize([keys ? keys[i] : keyAtPath(keyPath, v), v]));
}

/** Deletes a database of this process (tests, and a device being dropped). */
export async function dropDatabase(name: string): Promise<void> {
  await req(indexedDB.deleteDatabase(name));
  takeDirty(name);
}
