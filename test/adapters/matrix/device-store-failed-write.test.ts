// A device-state write that fails (the lease not held at that moment, Redis unreachable) must not
// forget what it was about to write: the transaction answers an error, the homeserver retries it,
// and the retry's flush — the one the acknowledgement waits for — must write those records then.
// The retried to-device events change nothing the second time (their Olm messages were consumed
// in memory), so if the first flush's changes were dropped, the retry would be acknowledged with
// the room keys in memory only, lost at the next restart or hand-over.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceStore } from '../../../adapters/matrix/device-store.ts';
import { installIndexedDb, keyToken } from '../../../adapters/matrix/idb-snapshot.ts';
import { LeaseLostError } from '../../../adapters/matrix/lease.ts';
import { Keyring } from '../../../src/crypto/keyring.ts';
import { testRedis } from '../../support/redis.ts';

const t = testRedis();
const keyring = new Keyring([{ id: 'k', key: randomBytes(32) }], 'k');
const USER = '@hub_2:x';
const REL = '::audit-db';

type Req<T> = { result: T; error: unknown; onsuccess: (() => void) | null; onerror: (() => void) | null };
type Store = { put(v: unknown, k?: unknown): Req<unknown> };
type Db = {
  transaction(s: string[], m: string): { objectStore(n: string): Store; oncomplete: (() => void) | null; onerror: (() => void) | null };
  close(): void;
  createObjectStore(n: string, o: unknown): unknown;
};
const idb = () => (globalThis as unknown as { indexedDB: { open(n: string, v?: number): Req<Db> & { onupgradeneeded: (() => void) | null } } }).indexedDB;
const req = <T>(r: Req<T>) => new Promise<T>((res, rej) => {
  r.onsuccess = () => res(r.result);
  r.onerror = () => rej(r.error);
});

async function open(name: string): Promise<Db> {
  const r = idb().open(name, 1);
  r.onupgradeneeded = () => void r.result.createObjectStore('sessions', { keyPath: 'id' });
  return req(r);
}

async function put(db: Db, value: { id: string; [field: string]: unknown }): Promise<void> {
  const tx = db.transaction(['sessions'], 'readwrite');
  const done = new Promise<void>((res, rej) => {
    tx.oncomplete = () => res();
    tx.onerror = () => rej(new Error('transaction failed'));
  });
  tx.objectStore('sessions').put(value);
  await done;
}

beforeAll(() => installIndexedDb());
afterAll(() => t.cleanup());

describe('a failed device-state write', () => {
  it('is written by the next flush (nothing changed in between)', async () => {
    // A fence that refuses the first write (the lease was not held at that moment), then allows.
    let held = false;
    const leaseKey = `${t.prefix}:mx:lease`;
    await t.redis.set(leaseKey, 'me');
    const store = new DeviceStore(t.redis, keyring, `${t.prefix}:mx`, { key: leaseKey, heldToken: () => (held ? 'me' : undefined) });
    const p = `cw|${t.prefix}|audit|${USER}|DEV`;
    const db = await open(`${p}${REL}`);
    try {
      await put(db, { id: 'megolm-session-1', k: 'room key' });
      await expect(store.flush(USER, p)).rejects.toBeInstanceOf(LeaseLostError);
      expect(await t.redis.exists(store.key(USER))).toBe(0);

      held = true;
      await store.flush(USER, p);
      expect(await t.redis.hkeys(store.key(USER))).toContain(`rec|${REL}|sessions|${keyToken('megolm-session-1')}`);
    } finally {
      db.close();
    }
  });
});
