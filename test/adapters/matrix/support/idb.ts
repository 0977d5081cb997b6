// Plain IndexedDB access for tests of the bridge devices' stores (fake-indexeddb, installed by
// Devices.init()): open a one-store database, and a gate a test opens when it chooses.
export type Req<T> = { result: T; error: unknown; onsuccess: (() => void) | null; onerror: (() => void) | null };
export type Db = {
  transaction(s: string[], m: string): { objectStore(n: string): { put(v: unknown): unknown }; oncomplete: (() => void) | null; onerror: (() => void) | null };
  close(): void;
  createObjectStore(n: string, o: unknown): unknown;
};

export const req = <T>(r: Req<T>) => new Promise<T>((res, rej) => {
  r.onsuccess = () => res(r.result);
  r.onerror = () => rej(r.error);
});

/** Opens (creating at version 1) database `name` with one object store `s` keyed by `id`. */
export async function openDb(name: string): Promise<Db> {
  const r = (globalThis as unknown as { indexedDB: { open(n: string, v: number): Req<Db> & { onupgradeneeded: (() => void) | null } } }).indexedDB.open(name, 1);
  r.onupgradeneeded = () => void r.result.createObjectStore('s', { keyPath: 'id' });
  return req(r);
}

/** Puts `value` into store `s` of `db` and waits for the transaction to complete. */
export async function putRecord(db: Db, value: unknown): Promise<void> {
  const tx = db.transaction(['s'], 'readwrite');
  const done = new Promise<void>((res, rej) => {
    tx.oncomplete = () => res();
    tx.onerror = () => rej(new Error('transaction failed'));
  });
  tx.objectStore('s').put(value);
  await done;
}

/** A promise `p` that resolves when the test calls `open()`. */
export const gate = () => {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
};
