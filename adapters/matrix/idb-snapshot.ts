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

/** One object store's records, serialized. */
export type StoreRecords = Buffer;

const dirty = new Map<string, Set<string>>();
let installed = false;

/** Installs the write tracking on the global fake-indexeddb (idempotent). */
export function installIndexedDb(): void {
  if (installed) return;
  const g = globalThis as Record<string, unknown>;
  if (g.indexedDB !== undefined && g.indexedDB !== fakeIndexedDb) throw new Error('another IndexedDB implementation is installed; the Matrix adapter needs fake-indexeddb');
  for (const [name, value] of Object.entries({ indexedDB: fake.indexedDB, IDBCursor: fake.IDBCursor, IDBCursorWithValue: fake.IDBCursorWithValue, IDBDatabase: fake.IDBDatabase, IDBFactory: fake.IDBFactory, IDBIndex: fake.IDBIndex, IDBKeyRange: fake.IDBKeyRange, IDBObjectStore: fake.IDBObjectStore, IDBOpenDBRequest: fake.IDBOpenDBRequest, IDBRequest: fake.IDBRequest, IDBTransaction: fake.IDBTransaction, IDBVersionChangeEvent: fake.IDBVersionChangeEvent })) {
    Object.defineProperty(globalThis, name, { value, enumerable: false, configurable: true, writable: true });
  }
  installed = true;
  const mark = (db: string, store: string): void => {
    if (EPHEMERAL_STORES.has(store)) return;
    let s = dirty.get(db);
    if (!s) dirty.set(db, (s = new Set()));
    s.add(store);
  };
  const storeProto = FakeObjectStore.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const method of ['put', 'add', 'delete', 'clear']) {
    const orig = storeProto[method] as (...a: unknown[]) => unknown;
    storeProto[method] = function (this: IDBObjectStore, ...args: unknown[]) {
      mark(this.transaction.db.name, this.name);
      return orig.apply(this, args);
    };
  }
  const cursorProto = FakeCursor.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const method of ['update', 'delete']) {
    const orig = cursorProto[method] as (...a: unknown[]) => unknown;
    cursorProto[method] = function (this: IDBCursor, ...args: unknown[]) {
      const src = this.source as IDBObjectStore | IDBIndex;
      const store = 'objectStore' in src ? src.objectStore : src;
      mark(store.transaction.db.name, store.name);
      return orig.apply(this, args);
    };
  }
}

/** Names of the databases starting with `prefix` that have writes not yet taken (no IndexedDB call). */
export function dirtyWith(prefix: string): string[] {
  return [...dirty.keys()].filter((n) => n.startsWith(prefix));
}

/** Names of the stores of `db` written since the last call, and forgets them. */
export function takeDirty(db: string): string[] {
  const s = dirty.get(db);
  dirty.delete(db);
  return s ? [...s] : [];
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

/** The schema of an existing database, and the records of the named stores (all when omitted). */
export async function snapshot(name: string, only?: string[]): Promise<{ schema: DatabaseSchema; records: Map<string, StoreRecords> } | undefined> {
  const db = await openExisting(name);
  if (!db) return undefined;
  try {
    const names = [...db.objectStoreNames].filter((s) => !EPHEMERAL_STORES.has(s));
    const tx = db.transaction([...db.objectStoreNames], 'readonly');
    const stores: StoreSchema[] = names.map((s) => {
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
    const records = new Map<string, StoreRecords>();
    const wanted = only ? names.filter((s) => only.includes(s)) : names;
    await Promise.all(
      wanted.map(async (s) => {
        const st = tx.objectStore(s);
        const [keys, values] = await Promise.all([req(st.getAllKeys()), req(st.getAll())]);
        records.set(s, serialize(st.keyPath === null ? [keys, values] : [null, values]));
      }),
    );
    return { schema: { name, version: db.version, stores }, records };
  } finally {
    db.close();
  }
}

/**
 * Recreates database `schema.name` (which must not exist in this process yet) with its stores,
 * indexes and records, at the same version, so that the crypto library opens it without upgrading.
 */
export async function restore(schema: DatabaseSchema, records: Map<string, StoreRecords>): Promise<void> {
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
    const names = schema.stores.map((s) => s.name).filter((s) => records.has(s));
    if (names.length === 0) return;
    const tx = db.transaction(names, 'readwrite');
    const done = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB restore failed'));
    });
    for (const s of names) {
      const [keys, values] = deserialize(records.get(s) as Buffer) as [unknown[] | null, unknown[]];
      const st = tx.objectStore(s);
      values.forEach((v, i) => (keys ? st.put(v, keys[i] as Key) : st.put(v)));
    }
    await done;
  } finally {
    db.close();
  }
  takeDirty(schema.name);
}

/** Deletes a database of this process (tests, and a device being dropped). */
export async function dropDatabase(name: string): Promise<void> {
  await req(indexedDB.deleteDatabase(name));
  takeDirty(name);
}
