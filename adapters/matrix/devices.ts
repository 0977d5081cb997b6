// The bridge's crypto devices, one per bridge user that takes part in encrypted rooms (the bot,
// and each puppet), opened lazily and kept in memory. Routes a transaction's encryption parts to
// them: to-device events by `to_user_id`/`to_device_id` and key counts by user and device (the
// device is loaded if needed: a room key must not be missed; what names another device of the
// user is ignored), device-list changes to every open device (a device opened later marks all its
// tracked users dirty instead). `persist` and `persistOpen` write what changed to Redis (devices
// in parallel); the transaction is acknowledged only after them.
import { initAsync } from '@matrix-org/matrix-sdk-crypto-wasm';
import type { Logger } from 'pino';
import { BridgeDevice } from './bridge-device.ts';
import type { DeviceStore } from './device-store.ts';
import { installIndexedDb } from './idb-snapshot.ts';
import type { MatrixApi } from './matrix-api.ts';
import type { TransactionParts } from './transaction.ts';

/** Waits for every promise; then throws the first failure, if any. */
async function settleAll(all: Array<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(all)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

export class Devices {
  readonly #open = new Map<string, Promise<BridgeDevice>>();
  readonly #api: MatrixApi;
  readonly #store: DeviceStore;
  readonly #namespace: string;
  readonly #log: Logger;
  /** Before a puppet gets a device it must exist on the homeserver. */
  readonly #ensureUser: (userId: string) => Promise<void>;

  constructor(o: { api: MatrixApi; store: DeviceStore; namespace: string; logger: Logger; ensureUser: (userId: string) => Promise<void> }) {
    this.#api = o.api;
    this.#store = o.store;
    this.#namespace = o.namespace;
    this.#log = o.logger;
    this.#ensureUser = o.ensureUser;
  }

  static async init(): Promise<void> {
    installIndexedDb();
    await initAsync();
  }

  /** How many devices are in memory (opened or opening). */
  get openCount(): number {
    return this.#open.size;
  }

  get(userId: string): Promise<BridgeDevice> {
    let p = this.#open.get(userId);
    if (!p) {
      p = (async () => {
        await this.#ensureUser(userId);
        const d = await BridgeDevice.open(userId, this.#api, this.#store, this.#namespace);
        this.#log.debug({ userId, deviceId: d.deviceId }, 'bridge device open');
        return d;
      })();
      // Only this open's entry goes: after a close() the user may have a newer device here.
      const opening = p;
      opening.catch(() => {
        if (this.#open.get(userId) === opening) this.#open.delete(userId);
      });
      this.#open.set(userId, opening);
    }
    return p;
  }

  /** Feeds a transaction's encryption parts to the devices they concern; returns those devices. */
  async apply(t: TransactionParts, isBridgeUser: (userId: string) => boolean): Promise<Set<BridgeDevice>> {
    // Per bridge user, by device: the homeserver reports the counts of every device of a user
    // (and a to-device event may name any), but only those of the device the bridge holds apply.
    const per = new Map<string, { toDevice: Array<{ deviceId: string | undefined; event: TransactionParts['toDevice'][number] }>; counts: Record<string, Record<string, number>>; fallback: Record<string, string[]> }>();
    const entry = (u: string) => {
      let e = per.get(u);
      if (!e) per.set(u, (e = { toDevice: [], counts: {}, fallback: {} }));
      return e;
    };
    for (const ev of t.toDevice) {
      const to = ev.to_user_id;
      if (typeof to !== 'string' || !isBridgeUser(to)) continue;
      const { to_user_id: _u, to_device_id: dev, ...event } = ev;
      entry(to).toDevice.push({ deviceId: typeof dev === 'string' ? dev : undefined, event });
    }
    for (const [u, devices] of Object.entries(t.otkCounts)) {
      if (isBridgeUser(u)) Object.assign(entry(u).counts, devices);
    }
    for (const [u, devices] of Object.entries(t.fallbackKeyTypes)) {
      if (isBridgeUser(u)) Object.assign(entry(u).fallback, devices);
    }
    const touched = new Set<BridgeDevice>();
    for (const [userId, e] of per) {
      const d = await this.get(userId);
      const toDevice = e.toDevice.filter((x) => x.deviceId === undefined || x.deviceId === d.deviceId).map((x) => x.event);
      const ignored = e.toDevice.length - toDevice.length;
      if (ignored > 0) this.#log.warn({ userId, deviceId: d.deviceId, ignored }, 'to-device events for a device the bridge does not hold; ignored');
      const counts = e.counts[d.deviceId];
      const fallback = e.fallback[d.deviceId];
      if (toDevice.length === 0 && counts === undefined && fallback === undefined) continue;
      await d.receive({ toDevice, changed: t.changed, left: t.left, ...(counts ? { otkCounts: counts } : {}), ...(fallback ? { fallbackKeyTypes: fallback } : {}) });
      touched.add(d);
    }
    if (t.changed.length > 0 || t.left.length > 0) {
      for (const p of this.#open.values()) {
        const d = await p;
        if (touched.has(d)) continue;
        await d.receive({ toDevice: [], changed: t.changed, left: t.left });
        touched.add(d);
      }
    }
    return touched;
  }

  async persist(devices: Iterable<BridgeDevice>): Promise<void> {
    await settleAll([...devices].map((d) => d.persist()));
  }

  /** Writes whatever changed in any open device (decryption and sends may touch the store too). */
  async persistOpen(): Promise<void> {
    await settleAll([...this.#open.values()].map(async (p) => (await p.catch(() => undefined))?.persist()));
  }

  /** Closes every device and drops its in-process copy (their state is in Redis already). */
  async close(): Promise<void> {
    const all = [...this.#open.values()];
    this.#open.clear();
    for (const p of all) await (await p.catch(() => undefined))?.dispose();
  }
}
