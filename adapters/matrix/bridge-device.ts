// One Matrix device of the bridge (the bot's, or a puppet's): an OlmMachine driven by hand (the
// crypto library computes, this module does the HTTP), with its store persisted to Redis through
// DeviceStore. Every sender of an encrypted event needs a device of its own (clients reject a
// Megolm session whose device does not belong to the event's sender), so each puppet that sends
// into an encrypted portal gets one; the same device receives the room keys of the Matrix users
// in its portals and decrypts their events.
//
// Constraints (design.md, measured): `encryptRoomEvent` aborts the process if the outbound group
// session expired (100 messages, indexes 0–99, or a week), so `shareRoomKey` runs first, inside
// the device's lock, unless this device knows its session of the room is far from that limit and
// already shared with the same members since the last device-list change; arrays of UserId
// given to the library are consumed, so new ones are built for every call; `getMissingSessions`
// returns a KeysClaim request that is not among `outgoingRequests()`.
import { randomBytes } from 'node:crypto';
import {
  DecryptionSettings, DeviceId, DeviceLists, EncryptionSettings, OlmMachine, RequestType, RoomId, TrustRequirement, UserId,
  type KeysClaimRequest, type ToDeviceRequest,
} from '@matrix-org/matrix-sdk-crypto-wasm';
import type { DeviceStore } from './device-store.ts';
import { databasesWith, dropDatabase } from './idb-snapshot.ts';
import type { Json, MatrixApi } from './matrix-api.ts';
import { Serial } from './serial.ts';

type Outgoing = Awaited<ReturnType<OlmMachine['outgoingRequests']>>[number];

export interface SyncChanges {
  toDevice: Json[];
  changed: string[];
  left: string[];
  /** One-time key counts; an algorithm left out means "unchanged" (MSC4186 semantics). */
  otkCounts?: Record<string, number>;
  fallbackKeyTypes?: string[];
}

export interface Decrypted {
  type: string;
  content: Json;
  sender: string;
  senderDevice: string | undefined;
}

const users = (ids: string[]): UserId[] => ids.map((u) => new UserId(u));

/** What a device last did in a room: the members it shared the session with, and where it is. */
interface RoomShare {
  members: string;
  sessionId: string;
  /** The session's next message index (= messages it encrypted: sessions start at 0). */
  nextIndex: number;
  /** When this process saw the session's first message. */
  createdAt: number;
}

/** The library's rotation limits (EncryptionSettings defaults: 100 messages, one week). */
export function rotationOf(s: EncryptionSettings): { messages: number; ms: number } {
  return { messages: Number(s.rotationPeriodMessages), ms: Number(s.rotationPeriod / 1000n) };
}

/**
 * True when the next event may be encrypted without sharing the key again: the session is still
 * at least two messages and half its lifetime away from rotation (the library aborts the process
 * when asked to encrypt with an expired session: 100 messages, indexes 0–99, by default).
 */
export function shareCurrent(s: RoomShare, rotation: { messages: number; ms: number }, now: number): boolean {
  return s.nextIndex + 1 < rotation.messages && now - s.createdAt < rotation.ms / 2;
}

/** The message index of a Megolm ciphertext (version byte 3, then protobuf field 1 as a varint). */
export function megolmIndex(ciphertext: unknown): number | undefined {
  if (typeof ciphertext !== 'string') return undefined;
  const b = Buffer.from(ciphertext.slice(0, 16), 'base64');
  if (b[0] !== 3 || b[1] !== 0x08) return undefined;
  let v = 0;
  for (let i = 2, shift = 0; i < b.length && shift < 35; i++, shift += 7) {
    const byte = b[i] as number;
    v += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return v;
  }
  return undefined;
}

export class BridgeDevice {
  readonly userId: string;
  readonly deviceId: string;
  readonly #machine: OlmMachine;
  readonly #api: MatrixApi;
  readonly #store: DeviceStore;
  readonly #dbPrefix: string;
  /** The holding of the bridge lease this device was opened under: its writes are refused once that holding ended. */
  readonly #holding: string | undefined;
  readonly #lock = new Serial();
  /** Per room: the group session this device last shared and used there, with whom. */
  readonly #shares = new Map<string, RoomShare>();
  readonly #rotation = rotationOf(new EncryptionSettings());
  #flushing: Promise<void> | undefined;
  #nextFlush: Promise<void> | undefined;

  private constructor(userId: string, deviceId: string, machine: OlmMachine, api: MatrixApi, store: DeviceStore, dbPrefix: string, holding: string | undefined) {
    this.userId = userId;
    this.deviceId = deviceId;
    this.#machine = machine;
    this.#api = api;
    this.#store = store;
    this.#dbPrefix = dbPrefix;
    this.#holding = holding;
  }

  /**
   * Opens the device of `userId`: restores its store from Redis, or creates a device (id recorded
   * first, then MSC4190 creation, then key upload). Resolves once its keys are on the homeserver
   * and its state is in Redis. Every write of the device is fenced with the holding of the bridge
   * lease taken before anything is read: a write that reaches Redis after that holding ended (the
   * lease lost, even if taken again since) is refused, as it could overwrite newer state.
   */
  static async open(userId: string, api: MatrixApi, store: DeviceStore, dbNamespace: string): Promise<BridgeDevice> {
    const holding = store.holding();
    let deviceId = await store.deviceId(userId);
    const fresh = deviceId === undefined;
    if (deviceId === undefined) {
      deviceId = `CW${randomBytes(5).toString('hex').toUpperCase()}`;
      await store.setDeviceId(userId, deviceId, holding);
    }
    const dbPrefix = `${dbNamespace}|${userId}|${deviceId}`;
    const restored = await store.load(userId, dbPrefix);
    if (fresh || !restored) await api.createDevice({ userId }, deviceId, 'Causeway bridge');
    const machine = await OlmMachine.initialize(new UserId(userId), new DeviceId(deviceId), dbPrefix);
    const d = new BridgeDevice(userId, deviceId, machine, api, store, dbPrefix, holding);
    try {
      // The account is in Redis before its keys are published: a device opened again after a
      // failure or a crash holds the keys the homeserver has (a new account under this device id
      // would publish other identity keys, and other one-time keys under the same key ids).
      if (!restored) await d.persist();
      // Device-list updates that arrived while this device was not loaded were not seen by it.
      if (restored) await machine.markAllTrackedUsersAsDirty();
      await d.#lock.run('device', () => d.#sendOutgoing());
      await d.persist();
    } catch (err) {
      // Not opened: the machine goes with its databases (an open connection left behind would
      // block the next open's drop of them for ever); the next open restores it from Redis.
      await d.dispose().catch(() => undefined);
      throw err;
    }
    return d;
  }

  get #as() {
    return { userId: this.userId, deviceId: this.deviceId };
  }

  /** Feeds to-device events, device-list changes and key counts from a transaction. */
  async receive(c: SyncChanges): Promise<void> {
    await this.#lock.run('device', async () => {
      // Someone's devices changed: the next send in every room shares its key again (new devices).
      if (c.changed.length > 0 || c.left.length > 0) this.#shares.clear();
      await this.#machine.receiveSyncChangesMsc4186(
        JSON.stringify(c.toDevice),
        new DeviceLists(users(c.changed), users(c.left)),
        new Map(Object.entries(c.otkCounts ?? {})),
        c.fallbackKeyTypes ? new Set(c.fallbackKeyTypes) : undefined,
      );
      await this.#sendOutgoing();
    });
  }

  /** Decrypts a room event; throws the library's MegolmDecryptionError when keys are missing. */
  async decrypt(roomId: string, event: Json): Promise<Decrypted> {
    const r = await this.#machine.decryptRoomEvent(JSON.stringify(event), new RoomId(roomId), new DecryptionSettings(TrustRequirement.Untrusted));
    const clear = JSON.parse(r.event) as { type?: unknown; content?: unknown };
    return {
      type: typeof clear.type === 'string' ? clear.type : '',
      content: (clear.content ?? {}) as Json,
      sender: r.sender.toString(),
      senderDevice: r.senderDevice?.toString(),
    };
  }

  /**
   * Encrypts an event for the joined `members` of a room, and returns the `m.room.encrypted`
   * content. The full preparation (members' devices queried, Olm sessions claimed, the room key
   * shared) runs unless this device already shared its current group session of the room with
   * exactly these members since the last device-list change, and that session is far from
   * expiring (see #shareCurrent): the library requires the preparation before every encryption
   * only because the session may have to rotate or reach new devices, which is what is checked.
   */
  async encrypt(roomId: string, members: string[], type: string, content: Json): Promise<Json> {
    return this.#lock.run('device', async () => {
      const who = [...new Set(members)].sort().join('\n');
      const known = this.#shares.get(roomId);
      const prepare = !known || known.members !== who || !shareCurrent(known, this.#rotation, Date.now());
      if (prepare) {
        this.#shares.delete(roomId);
        await this.#machine.updateTrackedUsers(users(members));
        await this.#sendOutgoing();
        const claim = await this.#machine.getMissingSessions(users(members));
        if (claim) await this.#send(claim);
        const shares = await this.#machine.shareRoomKey(new RoomId(roomId), users(members), new EncryptionSettings());
        for (const s of shares) await this.#send(s);
      }
      const encrypted = JSON.parse(await this.#machine.encryptRoomEvent(new RoomId(roomId), type, JSON.stringify(content))) as Json;
      this.#noteSent(roomId, who, encrypted, known);
      if (prepare) await this.#sendOutgoing();
      return encrypted;
    });
  }

  /** Records which group session a room's last event used, at which index (for the next encrypt). */
  #noteSent(roomId: string, members: string, encrypted: Json, before: RoomShare | undefined): void {
    const index = megolmIndex(encrypted.ciphertext);
    const sessionId = encrypted.session_id;
    if (index === undefined || typeof sessionId !== 'string') {
      this.#shares.delete(roomId);
      return;
    }
    // A session's age is known only when this process saw its first message (index 0).
    const createdAt = index === 0 ? Date.now() : before?.sessionId === sessionId ? before.createdAt : undefined;
    if (createdAt === undefined) this.#shares.delete(roomId);
    else this.#shares.set(roomId, { members, sessionId, nextIndex: index + 1, createdAt });
  }

  /**
   * Writes the changed parts of the crypto store to Redis; resolves once everything changed before
   * the call is there. Calls made while a write runs share the one write that follows it.
   */
  persist(): Promise<void> {
    // A write is queued and not started yet (the running one may just have ended): it takes what
    // changed so far; a write started beside it could leave it nothing and resolve its callers early.
    if (this.#nextFlush) return this.#nextFlush;
    if (!this.#flushing) return this.#startFlush();
    this.#nextFlush ??= this.#flushing.catch(() => undefined).then(() => {
      this.#nextFlush = undefined;
      return this.#startFlush();
    });
    return this.#nextFlush;
  }

  #startFlush(): Promise<void> {
    const f = this.#store.flush(this.userId, this.#dbPrefix, false, this.#holding).then(() => undefined);
    this.#flushing = f;
    const clear = (): void => {
      if (this.#flushing === f) this.#flushing = undefined;
    };
    f.then(clear, clear);
    return f;
  }

  close(): void {
    this.#machine.close();
  }

  /** Closes the machine and drops its in-process databases (its state is in Redis). */
  async dispose(): Promise<void> {
    await this.#lock.run('device', async () => {
      this.#machine.close();
      for (const name of await databasesWith(this.#dbPrefix)) await dropDatabase(name);
    });
  }

  /** Sends what the machine asks for until it asks for nothing more (bounded). */
  async #sendOutgoing(): Promise<void> {
    for (let round = 0; round < 8; round++) {
      const reqs = await this.#machine.outgoingRequests();
      if (reqs.length === 0) return;
      for (const r of reqs) await this.#send(r);
    }
  }

  async #send(r: Outgoing | KeysClaimRequest | ToDeviceRequest): Promise<void> {
    let res: Json;
    switch (r.type) {
      case RequestType.KeysUpload:
        res = await this.#api.request('POST', '/keys/upload', this.#as, r.body);
        break;
      case RequestType.KeysQuery:
        res = await this.#api.request('POST', '/keys/query', this.#as, r.body);
        break;
      case RequestType.KeysClaim:
        res = await this.#api.request('POST', '/keys/claim', this.#as, r.body);
        break;
      case RequestType.ToDevice: {
        const t = r as ToDeviceRequest;
        res = await this.#api.request('PUT', `/sendToDevice/${encodeURIComponent(t.event_type)}/${encodeURIComponent(t.txn_id)}`, this.#as, t.body);
        break;
      }
      case RequestType.SignatureUpload:
        res = await this.#api.request('POST', '/keys/signatures/upload', this.#as, r.body);
        break;
      case RequestType.RoomMessage: {
        const m = r as unknown as { room_id: string; event_type: string; txn_id: string; body: string };
        res = { event_id: await this.#api.sendEvent(this.#as, m.room_id, m.event_type, JSON.parse(m.body), m.txn_id) };
        break;
      }
      default:
        res = {}; // key backup: not used by the bridge
    }
    if (r.id !== undefined) await this.#machine.markRequestAsSent(r.id, r.type, JSON.stringify(res));
  }
}
