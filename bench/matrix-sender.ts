// A Matrix user's device for the Matrix bench: a matrix-sdk-crypto-wasm OlmMachine (in-memory
// store) driven by hand against the in-process homeserver, as a Matrix client would be: it uploads
// its keys, shares a Megolm room key with the members of a room (keys query, one-time key claim,
// Olm-encrypted to-device messages) and encrypts room events. It also receives to-device messages
// taken from the homeserver's queue, which is how the raw-decrypt ceiling's receiver gets its key.
import {
  DecryptionSettings, DeviceId, DeviceLists, EncryptionSettings, OlmMachine, RequestType, RoomId, TrustRequirement, UserId,
  type KeysClaimRequest, type ToDeviceRequest,
} from '@matrix-org/matrix-sdk-crypto-wasm';
import type { TestHomeserver } from '../test/adapters/matrix/support/homeserver.ts';

type Json = Record<string, unknown>;
type Outgoing = Awaited<ReturnType<OlmMachine['outgoingRequests']>>[number] | KeysClaimRequest | ToDeviceRequest;

const users = (ids: string[]): UserId[] => ids.map((u) => new UserId(u));

/** Rekey a room before this many messages (matrix-sdk-crypto caps a session at 10,000). */
export const ROTATE_AFTER = 9_000;

export class BenchMatrixDevice {
  readonly userId: string;
  readonly deviceId: string;
  readonly machine: OlmMachine;
  readonly #hs: TestHomeserver;
  readonly #token: string;
  readonly #sent = new Map<string, number>();

  private constructor(hs: TestHomeserver, userId: string, deviceId: string, token: string, machine: OlmMachine) {
    this.#hs = hs;
    this.userId = userId;
    this.deviceId = deviceId;
    this.#token = token;
    this.machine = machine;
  }

  /**
   * Registers `localpart` on the homeserver and uploads its device keys. The store is in memory,
   * or the IndexedDB database `store` (fake-indexeddb in Node, as the bridge's devices use).
   */
  static async create(hs: TestHomeserver, localpart: string, store?: string): Promise<BenchMatrixDevice> {
    const u = hs.registerUser(localpart);
    const machine = await OlmMachine.initialize(new UserId(u.userId), new DeviceId(u.deviceId), store);
    const d = new BenchMatrixDevice(hs, u.userId, u.deviceId, u.accessToken, machine);
    await d.flush();
    return d;
  }

  async call(method: string, path: string, body?: unknown): Promise<Json> {
    const r = await fetch(`${this.#hs.url}/_matrix/client/v3${path}`, {
      method, headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const json = (await r.json()) as Json;
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  }

  async join(roomId: string): Promise<void> {
    await this.call('POST', `/join/${encodeURIComponent(roomId)}`, {});
  }

  /** Shares this device's Megolm session of `roomId` with every device of `members`. */
  async shareRoomKey(roomId: string, members: string[]): Promise<void> {
    await this.machine.updateTrackedUsers(users(members));
    await this.flush();
    const claim = await this.machine.getMissingSessions(users(members));
    if (claim) await this.#send(claim);
    // Long-lived Megolm sessions (clients rotate every 100 messages by default; the cost of a new
    // room key, an Olm to-device message, is left out of the figures). The library caps a
    // session's messages, so callers rekey before ROTATE_AFTER messages in one room.
    const settings = new EncryptionSettings();
    settings.rotationPeriodMessages = 1_000_000n;
    settings.rotationPeriod = 86_400_000_000n;
    for (const r of await this.machine.shareRoomKey(new RoomId(roomId), users(members), settings)) await this.#send(r);
    await this.flush();
    this.#sent.set(roomId, 0);
  }

  /** Messages encrypted in a room since its last room key. */
  sentIn(roomId: string): number {
    return this.#sent.get(roomId) ?? 0;
  }

  /** A new Megolm session for `roomId`, shared with `members`' devices. */
  async rekey(roomId: string, members: string[]): Promise<void> {
    await this.machine.invalidateGroupSession(new RoomId(roomId));
    await this.shareRoomKey(roomId, members);
  }

  /** An `m.room.encrypted` room event as the homeserver would push it to the appservice. */
  async encryptedEvent(roomId: string, n: number, body: string): Promise<Json> {
    this.#sent.set(roomId, this.sentIn(roomId) + 1);
    const content = JSON.parse(await this.machine.encryptRoomEvent(new RoomId(roomId), 'm.room.message', JSON.stringify({ msgtype: 'm.text', body }))) as Json;
    return {
      type: 'm.room.encrypted', room_id: roomId, sender: this.userId, content,
      event_id: `$bench${n}-${this.deviceId}`, origin_server_ts: Date.now(), unsigned: {},
    };
  }

  /** To-device messages queued on the homeserver for this device, taken from its queue. */
  takeToDevice(): Json[] {
    const d = this.#hs.state.users.get(this.userId)?.devices.get(this.deviceId);
    return (d?.toDevice.splice(0) ?? []).map((t) => t.event);
  }

  async receiveToDevice(events: Json[]): Promise<void> {
    await this.machine.receiveSyncChanges(JSON.stringify(events), new DeviceLists(), new Map(), undefined);
  }

  decrypt(roomId: string, event: Json) {
    return this.machine.decryptRoomEvent(JSON.stringify(event), new RoomId(roomId), new DecryptionSettings(TrustRequirement.Untrusted));
  }

  async flush(): Promise<void> {
    for (let round = 0; round < 8; round++) {
      const reqs = await this.machine.outgoingRequests();
      if (reqs.length === 0) return;
      for (const r of reqs) await this.#send(r);
    }
  }

  async #send(r: Outgoing): Promise<void> {
    let res: Json = {};
    if (r.type === RequestType.KeysUpload) res = await this.call('POST', '/keys/upload', r.body);
    else if (r.type === RequestType.KeysQuery) res = await this.call('POST', '/keys/query', r.body);
    else if (r.type === RequestType.KeysClaim) res = await this.call('POST', '/keys/claim', r.body);
    else if (r.type === RequestType.ToDevice) {
      const t = r as ToDeviceRequest;
      res = await this.call('PUT', `/sendToDevice/${encodeURIComponent(t.event_type)}/${encodeURIComponent(t.txn_id)}`, t.body);
    } else if (r.type === RequestType.SignatureUpload) res = await this.call('POST', '/keys/signatures/upload', r.body);
    if (r.id !== undefined) await this.machine.markRequestAsSent(r.id, r.type, JSON.stringify(res));
  }
}
