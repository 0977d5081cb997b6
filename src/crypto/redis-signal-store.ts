// libsignal's protocol stores for one provider user, kept in Redis and sealed at rest with the
// Keyring (every record's Redis key and field are its associated data). One Redis hash per record
// kind, all under the user's hash tag so that a cluster keeps a user's records on one shard.
//
// Constraint: libsignal mutates session state on every encrypt/decrypt; callers MUST hold the
// per-peer lock (peer-lock.ts) around any operation that touches a peer's session.
import {
  IdentityChange,
  IdentityKeyStore,
  KyberPreKeyRecord,
  KyberPreKeyStore,
  PreKeyRecord,
  PreKeyStore,
  PrivateKey,
  PublicKey,
  SenderKeyRecord,
  SenderKeyStore,
  SessionRecord,
  SessionStore,
  SignedPreKeyRecord,
  SignedPreKeyStore,
  type Direction,
  type ProtocolAddress,
  type Uuid,
} from '@signalapp/libsignal-client';
import type { Redis } from 'ioredis';
import type { Keyring } from './keyring.ts';
import { SealedHash, setIfUnchanged } from './sealed-hash.ts';

export class MissingKeyError extends Error {
  override readonly name = 'MissingKeyError';
}

export function addressField(a: ProtocolAddress): string {
  return `${a.name()}.${a.deviceId()}`;
}

export function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new MissingKeyError(`${what} not found`);
  return v;
}

export type SignalHashes = Record<'account' | 'sessions' | 'identities' | 'prekeys' | 'spk' | 'kyber' | 'senderkeys', SealedHash>;

export interface LocalIdentity {
  registrationId: number;
  identityKey: PrivateKey;
}

// The stores, one class each (defined once: a RedisSignalStore is made per message by the callers).
class Sessions extends SessionStore {
  readonly #h: SignalHashes;
  constructor(h: SignalHashes) {
    super();
    this.#h = h;
  }
  async saveSession(name: ProtocolAddress, record: SessionRecord): Promise<void> {
    await this.#h.sessions.set(addressField(name), record.serialize());
  }
  async getSession(name: ProtocolAddress): Promise<SessionRecord | null> {
    const b = await this.#h.sessions.get(addressField(name));
    return b ? SessionRecord.deserialize(b) : null;
  }
  async getExistingSessions(addresses: ProtocolAddress[]): Promise<SessionRecord[]> {
    const got = await this.#h.sessions.getMany(addresses.map(addressField));
    return got.map((b, i) => SessionRecord.deserialize(need(b, `session with ${addressField(addresses[i] as ProtocolAddress)}`)));
  }
}

class Identities extends IdentityKeyStore {
  readonly #h: SignalHashes;
  readonly #user: string;
  constructor(h: SignalHashes, user: string) {
    super();
    this.#h = h;
    this.#user = user;
  }
  async #account(): Promise<LocalIdentity> {
    const [priv, reg] = await this.#h.account.getMany(['identity', 'registration']);
    return {
      identityKey: PrivateKey.deserialize(need(priv, `identity of ${this.#user}`)),
      registrationId: need(reg, `registration id of ${this.#user}`).readUInt32BE(0),
    };
  }
  async getIdentityKey(): Promise<PrivateKey> {
    return (await this.#account()).identityKey;
  }
  async getLocalRegistrationId(): Promise<number> {
    return (await this.#account()).registrationId;
  }
  async saveIdentity(name: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
    const field = addressField(name);
    const old = await this.#h.identities.get(field);
    // libsignal saves the peer's identity on every message: write only when it changes.
    if (old && PublicKey.deserialize(old).equals(key)) return IdentityChange.NewOrUnchanged;
    await this.#h.identities.set(field, key.serialize());
    return old ? IdentityChange.ReplacedExisting : IdentityChange.NewOrUnchanged;
  }
  /** Trust on first use: a known peer must present the identity we stored. */
  async isTrustedIdentity(name: ProtocolAddress, key: PublicKey, _direction: Direction): Promise<boolean> {
    const old = await this.#h.identities.get(addressField(name));
    return old === undefined || PublicKey.deserialize(old).equals(key);
  }
  async getIdentity(name: ProtocolAddress): Promise<PublicKey | null> {
    const b = await this.#h.identities.get(addressField(name));
    return b ? PublicKey.deserialize(b) : null;
  }
  async trust(peer: ProtocolAddress, key: PublicKey): Promise<void> {
    await this.#h.identities.set(addressField(peer), key.serialize());
  }
}

class PreKeys extends PreKeyStore {
  readonly #h: SignalHashes;
  constructor(h: SignalHashes) {
    super();
    this.#h = h;
  }
  async savePreKey(id: number, record: PreKeyRecord): Promise<void> {
    await this.#h.prekeys.set(String(id), record.serialize());
  }
  async getPreKey(id: number): Promise<PreKeyRecord> {
    return PreKeyRecord.deserialize(need(await this.#h.prekeys.get(String(id)), `one-time prekey ${id}`));
  }
  async removePreKey(id: number): Promise<void> {
    await this.#h.prekeys.del(String(id));
  }
  count(): Promise<number> {
    return this.#h.prekeys.count();
  }
  async ids(): Promise<number[]> {
    return (await this.#h.prekeys.fields()).map(Number);
  }
}

class SignedPreKeys extends SignedPreKeyStore {
  readonly #h: SignalHashes;
  constructor(h: SignalHashes) {
    super();
    this.#h = h;
  }
  async saveSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void> {
    await this.#h.spk.set(String(id), record.serialize());
  }
  async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> {
    return SignedPreKeyRecord.deserialize(need(await this.#h.spk.get(String(id)), `signed prekey ${id}`));
  }
}

// One-time Kyber prekeys are deleted once used; last-resort ones (marked `kyber-lr-ID` in the
// account hash by markLastResortKyber) stay, also after rotation, for bundles still in flight.
class KyberPreKeys extends KyberPreKeyStore {
  readonly #h: SignalHashes;
  constructor(h: SignalHashes) {
    super();
    this.#h = h;
  }
  async saveKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> {
    await this.#h.kyber.set(String(id), record.serialize());
  }
  async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
    return KyberPreKeyRecord.deserialize(need(await this.#h.kyber.get(String(id)), `Kyber prekey ${id}`));
  }
  async markKyberPreKeyUsed(id: number): Promise<void> {
    if (!(await this.#h.account.get(`kyber-lr-${id}`))) await this.#h.kyber.del(String(id));
  }
  async count(): Promise<number> {
    const [n, lr] = await Promise.all([this.#h.kyber.count(), this.#h.account.get('kyber-lr-count')]);
    return n - (lr ? lr.readUInt32BE(0) : 0);
  }
  async remove(id: number): Promise<void> {
    await this.#h.kyber.del(String(id));
  }
}

class SenderKeys extends SenderKeyStore {
  readonly #h: SignalHashes;
  constructor(h: SignalHashes) {
    super();
    this.#h = h;
  }
  async saveSenderKey(sender: ProtocolAddress, distributionId: Uuid, record: SenderKeyRecord): Promise<void> {
    await this.#h.senderkeys.set(`${addressField(sender)}|${String(distributionId)}`, record.serialize());
  }
  async getSenderKey(sender: ProtocolAddress, distributionId: Uuid): Promise<SenderKeyRecord | null> {
    const b = await this.#h.senderkeys.get(`${addressField(sender)}|${String(distributionId)}`);
    return b ? SenderKeyRecord.deserialize(b) : null;
  }
}

/** All stores of one local (provider) user. */
export class RedisSignalStore {
  readonly user: string;
  readonly sessions: SessionStore;
  readonly identities: IdentityKeyStore & {
    /** Replace the stored identity of a peer (after the provider user was told). */
    trust(peer: ProtocolAddress, key: PublicKey): Promise<void>;
  };
  readonly preKeys: PreKeyStore & { count(): Promise<number>; ids(): Promise<number[]> };
  readonly signedPreKeys: SignedPreKeyStore;
  readonly kyberPreKeys: KyberPreKeyStore & { count(): Promise<number>; remove(id: number): Promise<void> };
  readonly senderKeys: SenderKeyStore;
  readonly #h: SignalHashes;
  readonly #ring: Keyring;

  constructor(redis: Redis, ring: Keyring, prefix: string, user: string) {
    this.user = user;
    this.#ring = ring;
    const base = `${prefix}:sig:{${user}}`;
    const hash = (kind: string) => new SealedHash(redis, ring, `${base}:${kind}`);
    const h = (this.#h = {
      account: hash('account'),
      sessions: hash('sessions'),
      identities: hash('identities'),
      prekeys: hash('prekeys'),
      spk: hash('spk'),
      kyber: hash('kyber'),
      senderkeys: hash('senderkeys'),
    });
    this.sessions = new Sessions(h);
    this.identities = new Identities(h, user);
    this.preKeys = new PreKeys(h);
    this.signedPreKeys = new SignedPreKeys(h);
    this.kyberPreKeys = new KyberPreKeys(h);
    this.senderKeys = new SenderKeys(h);
  }

  /** Whether this user has an identity yet. */
  async hasAccount(): Promise<boolean> {
    return (await this.#h.account.get('identity')) !== undefined;
  }

  async saveAccount(identityKey: PrivateKey, registrationId: number): Promise<void> {
    const reg = Buffer.alloc(4);
    reg.writeUInt32BE(registrationId, 0);
    await this.#h.account.set('identity', identityKey.serialize());
    await this.#h.account.set('registration', reg);
  }

  /** Small counters and markers kept with the account (next prekey ids, active signed ids…). */
  async getMarker(name: string): Promise<number | undefined> {
    const b = await this.#h.account.get(name);
    return b ? b.readUInt32BE(0) : undefined;
  }

  async setMarker(name: string, value: number): Promise<void> {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value, 0);
    await this.#h.account.set(name, b);
  }

  /**
   * Read-modify-write of a marker that concurrent writers (other workers, other replicas) cannot
   * interleave with: retried until no one else wrote it in between. Returns the value written.
   * Counters that hand out ids go through here, so no id is ever handed out twice.
   */
  async updateMarker(name: string, next: (cur: number | undefined) => number): Promise<number> {
    const h = this.#h.account;
    for (let tries = 0; tries < 100; tries++) {
      const blob = await h.redis.hgetBuffer(h.key, name);
      const value = next(blob ? h.open(name, blob).readUInt32BE(0) : undefined);
      const b = Buffer.alloc(4);
      b.writeUInt32BE(value, 0);
      if (await setIfUnchanged(h.redis, h.key, name, blob, h.seal(name, b))) return value;
    }
    throw new Error(`marker ${name} of ${this.user} kept changing`);
  }

  async markLastResortKyber(id: number): Promise<void> {
    await this.setMarker(`kyber-lr-${id}`, 1);
    await this.updateMarker('kyber-lr-count', (n) => (n ?? 0) + 1);
  }

  /** The peer devices (HIP device addresses) `ofPeer` matches that have a session or a trusted identity. */
  async devicesOf(ofPeer: (device: string) => boolean): Promise<string[]> {
    const [sessions, identities] = await Promise.all([this.#h.sessions.fields(), this.#h.identities.fields()]);
    const names = new Set([...sessions, ...identities].map((f) => f.slice(0, f.lastIndexOf('.'))));
    return [...names].filter(ofPeer);
  }

  /** Drops every session with a peer user (all its devices), e.g. after an identity change. */
  async dropSessionsOf(peerUserPrefix: (name: string) => boolean): Promise<number> {
    const fields = (await this.#h.sessions.fields()).filter((f) => peerUserPrefix(f.slice(0, f.lastIndexOf('.'))));
    await this.#h.sessions.del(...fields);
    return fields.length;
  }

  /** Forgets the stored identities of a peer's devices, so the next bundle is trusted anew. */
  async forgetIdentitiesOf(peerUser: (name: string) => boolean): Promise<number> {
    const fields = (await this.#h.identities.fields()).filter((f) => peerUser(f.slice(0, f.lastIndexOf('.'))));
    await this.#h.identities.del(...fields);
    return fields.length;
  }

  /** The sealed hashes and the keyring, for the unit of work (signal-unit.ts); not for other callers. */
  internals(): { h: SignalHashes; ring: Keyring } {
    return { h: this.#h, ring: this.#ring };
  }

  /** The Redis keys this store uses (for key rotation and deletion on opt-out). */
  redisKeys(): string[] {
    return Object.values(this.#h).map((x) => x.key);
  }
}
