// The in-memory libsignal stores of a SimDevice (sim-device.ts): sessions kept deserialized,
// trust-on-first-use identities that accept (and count) a changed peer identity, and the prekey
// stores. Mock hub only; the sidecar's stores are src/crypto/redis-signal-store.ts.
import {
  IdentityChange, IdentityKeyStore, KyberPreKeyStore, PreKeyStore, SessionStore, SignedPreKeyStore,
} from '@signalapp/libsignal-client';
import type { Direction, SessionRecord , IdentityKeyPair, KyberPreKeyRecord, PreKeyRecord,
  PrivateKey, ProtocolAddress, PublicKey, SignedPreKeyRecord} from '@signalapp/libsignal-client';

export class Sessions extends SessionStore {
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

export class Identities extends IdentityKeyStore {
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
export class PreKeys {
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

export class EcStore extends PreKeyStore {
  readonly #k: PreKeys;
  constructor(k: PreKeys) { super(); this.#k = k; }
  async savePreKey(id: number, record: PreKeyRecord): Promise<void> { this.#k.ec.set(id, record); }
  async getPreKey(id: number): Promise<PreKeyRecord> { return found(this.#k.ec.get(id), 'prekey', id); }
  async removePreKey(id: number): Promise<void> { this.#k.ec.delete(id); }
}

export class SignedStore extends SignedPreKeyStore {
  readonly #k: PreKeys;
  constructor(k: PreKeys) { super(); this.#k = k; }
  async saveSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void> { this.#k.signed.set(id, record); }
  async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> { return found(this.#k.signed.get(id), 'signed prekey', id); }
}

export class KyberStore extends KyberPreKeyStore {
  readonly #k: PreKeys;
  constructor(k: PreKeys) { super(); this.#k = k; }
  async saveKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> { this.#k.kyber.set(id, record); }
  async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> { return found(this.#k.kyber.get(id), 'kyber prekey', id); }
  async markKyberPreKeyUsed(id: number): Promise<void> {
    if (!this.#k.lastResortKyber.has(id)) this.#k.kyber.delete(id);
  }
}

export function found<T>(v: T | undefined, what: string, id: number): T {
  if (v === undefined) throw new Error(`unknown ${what} ${id}`);
  return v;
}
