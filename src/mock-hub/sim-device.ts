// One simulated Signal device: a real libsignal client with in-memory stores. The mock hub uses it
// for its hub users' devices, and the reference client for provider users. Constraints:
// - HIP device addresses map to libsignal `ProtocolAddress.new(address, 1)` (spec 7: HIP device
//   numbers are not libsignal device ids).
// - Concurrent encrypts/decrypts to one peer corrupt the session (design.md): every session
//   operation is serialized per peer through a promise-chain lock.
// - Trust on first use; a changed peer identity is accepted and counted ("safety number changed").
// - Sessions are kept as deserialized SessionRecords (no re-serializing on every save).
import { randomInt } from 'node:crypto';
import {
  CiphertextMessageType, IdentityChange, IdentityKeyPair, IdentityKeyStore, KEMKeyPair, KEMPublicKey,
  KyberPreKeyRecord, KyberPreKeyStore, PreKeyBundle, PreKeyRecord, PreKeySignalMessage, PreKeyStore, PrivateKey,
  ProtocolAddress, PublicKey, SessionStore, SignalMessage, SignedPreKeyRecord, SignedPreKeyStore,
  processPreKeyBundle, signalDecrypt, signalDecryptPreKey, signalEncrypt,
} from '@signalapp/libsignal-client';
import type { Direction, SessionRecord } from '@signalapp/libsignal-client';
import type { EncType, IqQuery, KeyBundle, PreKey, SignedPreKey } from '../protocol/types.ts';

/** Thrown by SimDevice.decrypt for anything that cannot be decrypted (the receiver sends a retry, spec 6.2). */
export class SimDecryptError extends Error {
  override readonly name = 'SimDecryptError';
  readonly peer: string;
  readonly encType: EncType;
  constructor(peer: string, encType: EncType, message: string, cause?: unknown) {
    super(`cannot decrypt ${encType} from ${peer}: ${message}`, { cause });
    this.peer = peer;
    this.encType = encType;
  }
}

/** libsignal wants Uint8Array<ArrayBuffer>; wire values may sit on any ArrayBufferLike. */
const bytes = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);
const addr = (name: string): ProtocolAddress => ProtocolAddress.new(name, 1);
/** Prekey ids are decimal integers below 2^24 (spec 7.1). */
const MAX_KEY_ID = 0xffffff;

class Sessions extends SessionStore {
  readonly records = new Map<string, SessionRecord>();
  async saveSession(name: ProtocolAddress, record: SessionRecord): Promise<void> {
    this.records.set(name.name(), record);
  }
  async getSession(name: ProtocolAddress): Promise<SessionRecord | null> {
    return this.records.get(name.name()) ?? null;
  }
  async getExistingSessions(addresses: ProtocolAddress[]): Promise<SessionRecord[]> {
    return addresses.map((a) => {
      const r = this.records.get(a.name());
      if (r === undefined) throw new Error(`no session for ${a.name()}`);
      return r;
    });
  }
}

class Identities extends IdentityKeyStore {
  pair: IdentityKeyPair;
  registrationId: number;
  readonly peers = new Map<string, PublicKey>();
  changes = 0;
  constructor(pair: IdentityKeyPair, registrationId: number) {
    super();
    this.pair = pair;
    this.registrationId = registrationId;
  }
  async getIdentityKey(): Promise<PrivateKey> {
    return this.pair.privateKey;
  }
  override async getIdentityKeyPair(): Promise<IdentityKeyPair> {
    return this.pair;
  }
  async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }
  async saveIdentity(name: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
    const known = this.peers.get(name.name());
    this.peers.set(name.name(), key);
    if (known === undefined || known.equals(key)) return IdentityChange.NewOrUnchanged;
    this.changes += 1;
    return IdentityChange.ReplacedExisting;
  }
  /** Trust on first use, and accept changes (they are counted in saveIdentity). */
  async isTrustedIdentity(_name: ProtocolAddress, _key: PublicKey, _direction: Direction): Promise<boolean> {
    return true;
  }
  async getIdentity(name: ProtocolAddress): Promise<PublicKey | null> {
    return this.peers.get(name.name()) ?? null;
  }
}

/** EC, signed and Kyber prekey records; one-time Kyber prekeys are deleted once used. */
class PreKeys {
  readonly ec = new Map<number, PreKeyRecord>();
  readonly signed = new Map<number, SignedPreKeyRecord>();
  readonly kyber = new Map<number, KyberPreKeyRecord>();
  readonly lastResortKyber = new Set<number>();
  readonly ecStore = new EcStore(this);
  readonly signedStore = new SignedStore(this);
  readonly kyberStore = new KyberStore(this);

  clear(): void {
    this.ec.clear();
    this.signed.clear();
    this.kyber.clear();
    this.lastResortKyber.clear();
  }
}

class EcStore extends PreKeyStore {
  readonly #k: PreKeys;
  constructor(k: PreKeys) { super(); this.#k = k; }
  async savePreKey(id: number, record: PreKeyRecord): Promise<void> { this.#k.ec.set(id, record); }
  async getPreKey(id: number): Promise<PreKeyRecord> { return found(this.#k.ec.get(id), 'prekey', id); }
  async removePreKey(id: number): Promise<void> { this.#k.ec.delete(id); }
}

class SignedStore extends SignedPreKeyStore {
  readonly #k: PreKeys;
  constructor(k: PreKeys) { super(); this.#k = k; }
  async saveSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void> { this.#k.signed.set(id, record); }
  async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> { return found(this.#k.signed.get(id), 'signed prekey', id); }
}

class KyberStore extends KyberPreKeyStore {
  readonly #k: PreKeys;
  constructor(k: PreKeys) { super(); this.#k = k; }
  async saveKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> { this.#k.kyber.set(id, record); }
  async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> { return found(this.#k.kyber.get(id), 'kyber prekey', id); }
  async markKyberPreKeyUsed(id: number): Promise<void> {
    if (!this.#k.lastResortKyber.has(id)) this.#k.kyber.delete(id);
  }
}

function found<T>(v: T | undefined, what: string, id: number): T {
  if (v === undefined) throw new Error(`unknown ${what} ${id}`);
  return v;
}

/** One-time prekeys not yet handed out, and whether each was uploaded (spec 7.1/7.2). */
interface Pool { ids: number[]; uploaded: Set<number> }

export class SimDevice {
  readonly address: string;
  readonly #local: ProtocolAddress;
  readonly #sessions = new Sessions();
  readonly #identities: Identities;
  readonly #keys = new PreKeys();
  readonly #locks = new Map<string, Promise<unknown>>();
  #ecPool: Pool = { ids: [], uploaded: new Set() };
  #kyberPool: Pool = { ids: [], uploaded: new Set() };
  #nextKeyId = 1;
  #signedId = 0;
  #lastResortId = 0;
  /** One-time prekey counts asked for at creation, regenerated by resetIdentity. */
  #ecTarget = 0;
  #kyberTarget = 0;

  private constructor(address: string) {
    this.address = address;
    this.#local = addr(address);
    this.#identities = new Identities(IdentityKeyPair.generate(), newRegistrationId());
  }

  static async create(address: string, opts: { oneTimePreKeys?: number; oneTimeKyberPreKeys?: number } = {}): Promise<SimDevice> {
    const d = new SimDevice(address);
    d.#generateKeys(opts.oneTimePreKeys ?? 20, opts.oneTimeKyberPreKeys ?? 20);
    return d;
  }

  get registrationId(): number {
    return this.#identities.registrationId;
  }

  /** How many times a peer's identity key changed under an existing one (TOFU, accepted). */
  get identityChanges(): number {
    return this.#identities.changes;
  }

  /** libsignal PublicKey.serialize() of the identity key (33 bytes). */
  identityKey(): Uint8Array {
    return this.#identities.pair.publicKey.serialize();
  }

  /** The full upload of spec 7.1; one-time prekeys not uploaded before are included and marked uploaded. */
  uploadPayload(): Extract<IqQuery, { op: 'upload' }> {
    const ec = this.#ecPool.ids.filter((id) => !this.#ecPool.uploaded.has(id));
    const ky = this.#kyberPool.ids.filter((id) => !this.#kyberPool.uploaded.has(id));
    for (const id of ec) this.#ecPool.uploaded.add(id);
    for (const id of ky) this.#kyberPool.uploaded.add(id);
    return {
      xmlns: 'encrypt',
      op: 'upload',
      registration: this.registrationId,
      identity: this.identityKey(),
      skey: this.#signedPublic(),
      kyber: this.#kyberPublic(this.#lastResortId),
      preKeys: ec.map((id) => this.#ecPublic(id)),
      kyberPreKeys: ky.map((id) => this.#kyberPublic(id)),
    };
  }

  /**
   * A bundle as the hub hands it out (spec 7.2): one one-time EC and one one-time Kyber prekey if
   * any are left (preferring keys never uploaded, so that a bundle in a retry receipt cannot
   * collide with one the hub hands out), else the last-resort Kyber prekey and no `key`.
   */
  takeBundle(): KeyBundle {
    const ecId = take(this.#ecPool);
    const kyberId = take(this.#kyberPool) ?? this.#lastResortId;
    return {
      registration: this.registrationId,
      identity: this.identityKey(),
      skey: this.#signedPublic(),
      kyber: this.#kyberPublic(kyberId),
      ...(ecId === undefined ? {} : { key: this.#ecPublic(ecId) }),
    };
  }

  /** One-time prekeys not yet handed out by takeBundle. */
  preKeyCounts(): { ec: number; kyber: number } {
    return { ec: this.#ecPool.ids.length, kyber: this.#kyberPool.ids.length };
  }

  addPreKeys(ec: number, kyber: number): void {
    const priv = this.#identities.pair.privateKey;
    for (let i = 0; i < ec; i++) {
      const id = this.#newKeyId();
      const k = PrivateKey.generate();
      this.#keys.ec.set(id, PreKeyRecord.new(id, k.getPublicKey(), k));
      this.#ecPool.ids.push(id);
    }
    for (let i = 0; i < kyber; i++) {
      const id = this.#newKeyId();
      const kp = KEMKeyPair.generate();
      this.#keys.kyber.set(id, KyberPreKeyRecord.new(id, Date.now(), kp, priv.sign(kp.getPublicKey().serialize())));
      this.#kyberPool.ids.push(id);
    }
  }

  /** PQXDH from a bundle (spec 7: every bundle carries a signed Kyber prekey). */
  startSession(peer: string, bundle: KeyBundle): Promise<void> {
    return this.#serialized(peer, async () => {
      const b = PreKeyBundle.new(
        bundle.registration, 1,
        bundle.key?.id ?? null, bundle.key === undefined ? null : PublicKey.deserialize(bytes(bundle.key.value)),
        bundle.skey.id, PublicKey.deserialize(bytes(bundle.skey.value)), bytes(bundle.skey.signature),
        PublicKey.deserialize(bytes(bundle.identity)),
        bundle.kyber.id, KEMPublicKey.deserialize(bytes(bundle.kyber.value)), bytes(bundle.kyber.signature),
      );
      await processPreKeyBundle(b, addr(peer), this.#local, this.#sessions, this.#identities);
    });
  }

  async hasSession(peer: string): Promise<boolean> {
    return this.#serialized(peer, async () => this.#sessions.records.get(peer)?.hasCurrentState() ?? false);
  }

  dropSession(peer: string): Promise<void> {
    return this.#serialized(peer, async () => {
      this.#sessions.records.delete(peer);
    });
  }

  /** Needs a session (startSession or a received pkmsg). Serialized per peer. */
  encrypt(peer: string, plaintext: Uint8Array): Promise<{ type: 'pkmsg' | 'msg'; ciphertext: Uint8Array }> {
    return this.#serialized(peer, async () => {
      if (!(this.#sessions.records.get(peer)?.hasCurrentState() ?? false)) throw new Error(`${this.address} has no session with ${peer}`);
      const m = await signalEncrypt(bytes(plaintext), addr(peer), this.#local, this.#sessions, this.#identities);
      return { type: m.type() === CiphertextMessageType.PreKey ? 'pkmsg' : 'msg', ciphertext: m.serialize() };
    });
  }

  /** Throws SimDecryptError for anything undecryptable (bad bytes, no session, duplicate, unknown prekey…). */
  decrypt(peer: string, enc: { type: EncType; ciphertext: Uint8Array }): Promise<Uint8Array> {
    return this.#serialized(peer, async () => {
      try {
        if (enc.type === 'pkmsg') {
          const m = PreKeySignalMessage.deserialize(bytes(enc.ciphertext));
          return await signalDecryptPreKey(m, addr(peer), this.#local, this.#sessions, this.#identities,
            this.#keys.ecStore, this.#keys.signedStore, this.#keys.kyberStore);
        }
        if (enc.type === 'msg') {
          const m = SignalMessage.deserialize(bytes(enc.ciphertext));
          return await signalDecrypt(m, addr(peer), this.#local, this.#sessions, this.#identities);
        }
      } catch (err) {
        throw new SimDecryptError(peer, enc.type, err instanceof Error ? err.message : String(err), err);
      }
      throw new SimDecryptError(peer, enc.type, 'sender-key messages are not supported (phase 2)');
    });
  }

  /** New identity, registration id, signed/Kyber/one-time prekeys; every session is dropped. */
  async resetIdentity(): Promise<void> {
    await Promise.all([...this.#locks.values()].map((p) => p.catch(() => undefined)));
    this.#sessions.records.clear();
    this.#keys.clear();
    this.#ecPool = { ids: [], uploaded: new Set() };
    this.#kyberPool = { ids: [], uploaded: new Set() };
    this.#identities.pair = IdentityKeyPair.generate();
    this.#identities.registrationId = newRegistrationId();
    this.#generateKeys(this.#ecTarget, this.#kyberTarget);
  }

  #generateKeys(ec: number, kyber: number): void {
    this.#ecTarget = ec;
    this.#kyberTarget = kyber;
    const priv = this.#identities.pair.privateKey;
    this.#signedId = this.#newKeyId();
    const sk = PrivateKey.generate();
    const spk = sk.getPublicKey();
    this.#keys.signed.set(this.#signedId, SignedPreKeyRecord.new(this.#signedId, Date.now(), spk, sk, priv.sign(spk.serialize())));
    this.#lastResortId = this.#newKeyId();
    const kp = KEMKeyPair.generate();
    this.#keys.kyber.set(this.#lastResortId, KyberPreKeyRecord.new(this.#lastResortId, Date.now(), kp, priv.sign(kp.getPublicKey().serialize())));
    this.#keys.lastResortKyber.add(this.#lastResortId);
    this.addPreKeys(ec, kyber);
  }

  #newKeyId(): number {
    const id = this.#nextKeyId;
    this.#nextKeyId = id >= MAX_KEY_ID ? 1 : id + 1;
    return id;
  }

  #ecPublic(id: number): PreKey {
    return { id, value: found(this.#keys.ec.get(id), 'prekey', id).publicKey().serialize() };
  }

  #signedPublic(): SignedPreKey {
    const r = found(this.#keys.signed.get(this.#signedId), 'signed prekey', this.#signedId);
    return { id: r.id(), value: r.publicKey().serialize(), signature: r.signature() };
  }

  #kyberPublic(id: number): SignedPreKey {
    const r = found(this.#keys.kyber.get(id), 'kyber prekey', id);
    return { id, value: r.publicKey().serialize(), signature: r.signature() };
  }

  /** Runs `fn` after every earlier operation on the same peer has settled. */
  #serialized<T>(peer: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(peer) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(peer, tail);
    void tail.then(() => {
      if (this.#locks.get(peer) === tail) this.#locks.delete(peer);
    });
    return run;
  }
}

/** Takes the first never-uploaded id, else the first uploaded one. */
function take(pool: Pool): number | undefined {
  const i = pool.ids.findIndex((id) => !pool.uploaded.has(id));
  const at = i >= 0 ? i : pool.ids.length > 0 ? 0 : -1;
  if (at < 0) return undefined;
  const [id] = pool.ids.splice(at, 1);
  if (id !== undefined) pool.uploaded.delete(id);
  return id;
}

/** libsignal registration ids are 14-bit, non-zero. */
function newRegistrationId(): number {
  return randomInt(1, 16381);
}
