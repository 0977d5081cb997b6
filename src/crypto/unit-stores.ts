// The in-memory protocol stores of one Signal unit of work (signal-unit.ts): they serve the unit's
// peers' sessions and identities and our own identity from what ACQUIRE read, and record what
// libsignal saves for COMMIT. Records of any other address (libsignal never asks for one here) go
// straight to Redis.
//
// Our identity key pair and registration id are cached per keyring and account, keyed by their
// sealed blobs, which ACQUIRE reads anyway: a new account, a `keys rotate` re-seal or a removal
// changes the blob, so the cache can never serve a stale key.
import {
  IdentityChange,
  IdentityKeyStore,
  KyberPreKeyStore,
  PreKeyStore,
  PrivateKey,
  PublicKey,
  SessionRecord,
  SessionStore,
  type Direction,
  type KyberPreKeyRecord,
  type PreKeyRecord,
  type ProtocolAddress,
} from '@signalapp/libsignal-client';
import type { Keyring } from './keyring.ts';
import { addressField, need, type LocalIdentity, type RedisSignalStore, type SignalHashes } from './redis-signal-store.ts';
import type { SealedHash } from './sealed-hash.ts';

// Our identity, opened once per (keyring, account) and sealed blobs; bounded for many users.
const MAX_CACHED = 20_000;
const localCache = new WeakMap<Keyring, Map<string, { key: Buffer; reg: Buffer; value: LocalIdentity }>>();

function localIdentity(ring: Keyring, account: SealedHash, user: string, key: Buffer | null, reg: Buffer | null): LocalIdentity {
  const keyBlob = need(key ?? undefined, `identity of ${user}`);
  const regBlob = need(reg ?? undefined, `registration id of ${user}`);
  let byAccount = localCache.get(ring);
  if (!byAccount) localCache.set(ring, (byAccount = new Map()));
  const hit = byAccount.get(account.key);
  if (hit && hit.key.equals(keyBlob) && hit.reg.equals(regBlob)) return hit.value;
  const value = {
    identityKey: PrivateKey.deserialize(account.open('identity', keyBlob)),
    registrationId: account.open('registration', regBlob).readUInt32BE(0),
  };
  byAccount.delete(account.key);
  if (byAccount.size >= MAX_CACHED) byAccount.delete(byAccount.keys().next().value as string);
  byAccount.set(account.key, { key: keyBlob, reg: regBlob, value });
  return value;
}

/** One peer's records in a unit: the sealed blobs ACQUIRE read, opened on first use, and changes. */
export class PeerRecords {
  readonly field: string;
  readonly #h: SignalHashes;
  sessionBlob: Buffer | null = null;
  session: Uint8Array<ArrayBuffer> | null | undefined; // undefined: not opened yet
  sessionDirty = false;
  identityBlob: Buffer | null = null;
  identity: PublicKey | null | undefined; // undefined: not opened yet
  identityDirty = false;

  constructor(h: SignalHashes, field: string) {
    this.#h = h;
    this.field = field;
  }

  // Blobs are opened on first use, inside the operation: a record that fails authentication fails
  // the operation (and the lock is released), never the acquisition.
  sessionBytes(): Uint8Array<ArrayBuffer> | null {
    if (this.session === undefined) this.session = this.sessionBlob ? this.#h.sessions.open(this.field, this.sessionBlob) : null;
    return this.session;
  }

  peerIdentity(): PublicKey | null {
    if (this.identity === undefined) {
      this.identity = this.identityBlob ? PublicKey.deserialize(this.#h.identities.open(this.field, this.identityBlob)) : null;
    }
    return this.identity;
  }
}

/** What one unit read and what libsignal changed, shared by its in-memory stores. */
export class UnitState {
  readonly base: RedisSignalStore;
  readonly h: SignalHashes;
  readonly ring: Keyring;
  /** The unit's peers by field, in the order given. */
  readonly peers = new Map<string, PeerRecords>();
  localKey: Buffer | null = null;
  localReg: Buffer | null = null;
  readonly usedPreKeys: number[] = [];
  readonly usedKyber: number[] = [];

  constructor(store: RedisSignalStore, peers: ProtocolAddress[]) {
    this.base = store;
    const { h, ring } = store.internals();
    this.h = h;
    this.ring = ring;
    for (const p of peers) {
      const field = addressField(p);
      if (!this.peers.has(field)) this.peers.set(field, new PeerRecords(h, field));
    }
  }

  /** The unit's records of `a`; undefined when `a` is not one of its peers. */
  of(a: ProtocolAddress): PeerRecords | undefined {
    return this.peers.get(addressField(a));
  }

  local(): LocalIdentity {
    return localIdentity(this.ring, this.h.account, this.base.user, this.localKey, this.localReg);
  }
}

export class UnitSessions extends SessionStore {
  readonly #s: UnitState;
  constructor(s: UnitState) {
    super();
    this.#s = s;
  }
  async saveSession(name: ProtocolAddress, record: SessionRecord): Promise<void> {
    const p = this.#s.of(name);
    if (!p) return this.#s.base.sessions.saveSession(name, record);
    const bytes = record.serialize();
    p.session = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
    p.sessionDirty = true;
  }
  async getSession(name: ProtocolAddress): Promise<SessionRecord | null> {
    const p = this.#s.of(name);
    if (!p) return this.#s.base.sessions.getSession(name);
    const bytes = p.sessionBytes();
    return bytes ? SessionRecord.deserialize(bytes) : null;
  }
  async getExistingSessions(addresses: ProtocolAddress[]): Promise<SessionRecord[]> {
    return Promise.all(addresses.map(async (a) => need((await this.getSession(a)) ?? undefined, `session with ${addressField(a)}`)));
  }
}

export class UnitIdentities extends IdentityKeyStore {
  readonly #s: UnitState;
  constructor(s: UnitState) {
    super();
    this.#s = s;
  }
  async getIdentityKey(): Promise<PrivateKey> {
    return this.#s.local().identityKey;
  }
  async getLocalRegistrationId(): Promise<number> {
    return this.#s.local().registrationId;
  }
  async saveIdentity(name: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
    const p = this.#s.of(name);
    if (!p) return this.#s.base.identities.saveIdentity(name, key);
    const old = p.peerIdentity();
    // libsignal saves the peer's identity on every message: write only when it changes.
    if (old && old.equals(key)) return IdentityChange.NewOrUnchanged;
    p.identity = key;
    p.identityDirty = true;
    return old ? IdentityChange.ReplacedExisting : IdentityChange.NewOrUnchanged;
  }
  /** Trust on first use: a known peer must present the identity we stored. */
  async isTrustedIdentity(name: ProtocolAddress, key: PublicKey, direction: Direction): Promise<boolean> {
    const p = this.#s.of(name);
    if (!p) return this.#s.base.identities.isTrustedIdentity(name, key, direction);
    const old = p.peerIdentity();
    return old === null || old.equals(key);
  }
  async getIdentity(name: ProtocolAddress): Promise<PublicKey | null> {
    const p = this.#s.of(name);
    return p ? p.peerIdentity() : this.#s.base.identities.getIdentity(name);
  }
}

// Prekey reads go to Redis (only PreKey messages use them); removals are part of COMMIT, after
// the session that used them is written.
export class UnitPreKeys extends PreKeyStore {
  readonly #s: UnitState;
  constructor(s: UnitState) {
    super();
    this.#s = s;
  }
  savePreKey(id: number, record: PreKeyRecord): Promise<void> {
    return this.#s.base.preKeys.savePreKey(id, record);
  }
  getPreKey(id: number): Promise<PreKeyRecord> {
    return this.#s.base.preKeys.getPreKey(id);
  }
  async removePreKey(id: number): Promise<void> {
    this.#s.usedPreKeys.push(id);
  }
}

export class UnitKyberPreKeys extends KyberPreKeyStore {
  readonly #s: UnitState;
  constructor(s: UnitState) {
    super();
    this.#s = s;
  }
  saveKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> {
    return this.#s.base.kyberPreKeys.saveKyberPreKey(id, record);
  }
  getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
    return this.#s.base.kyberPreKeys.getKyberPreKey(id);
  }
  async markKyberPreKeyUsed(id: number): Promise<void> {
    this.#s.usedKyber.push(id); // last-resort keys stay: COMMIT checks their kyber-lr marker
  }
}
