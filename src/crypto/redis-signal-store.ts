// libsignal's protocol stores for one provider user, kept in Redis and sealed at rest with the
// Keyring (every record's Redis key and field are its associated data). One Redis hash per record
// kind, all under the user's hash tag so that a cluster keeps a user's records on one shard.
//
// Constraint: libsignal mutates session state on every encrypt/decrypt; callers MUST hold the
// per-peer lock (peer-lock.ts) around any operation that touches a peer's session.
import type {
  Direction} from '@signalapp/libsignal-client';
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
  type ProtocolAddress,
  type Uuid,
} from '@signalapp/libsignal-client';
import type { Redis } from 'ioredis';
import type { Keyring } from './keyring.ts';

export class MissingKeyError extends Error {
  override readonly name = 'MissingKeyError';
}

/** Sealed hash access shared by the stores below. */
class SealedHash {
  readonly key: string;
  readonly #redis: Redis;
  readonly #ring: Keyring;
  constructor(redis: Redis, ring: Keyring, key: string) {
    this.#redis = redis;
    this.#ring = ring;
    this.key = key;
  }
  async get(field: string): Promise<Buffer<ArrayBuffer> | undefined> {
    const blob = await this.#redis.hgetBuffer(this.key, field);
    return blob ? this.#ring.open(blob, `${this.key}|${field}`) : undefined;
  }
  async getMany(fields: string[]): Promise<Array<Buffer<ArrayBuffer> | undefined>> {
    if (fields.length === 0) return [];
    const blobs = await this.#redis.hmgetBuffer(this.key, ...fields);
    return blobs.map((b, i) => (b ? this.#ring.open(b, `${this.key}|${fields[i]}`) : undefined));
  }
  async set(field: string, value: Uint8Array): Promise<void> {
    await this.#redis.hset(this.key, field, this.#ring.seal(value, `${this.key}|${field}`));
  }
  async del(...fields: string[]): Promise<void> {
    if (fields.length > 0) await this.#redis.hdel(this.key, ...fields);
  }
  async count(): Promise<number> {
    return this.#redis.hlen(this.key);
  }
  async fields(): Promise<string[]> {
    return this.#redis.hkeys(this.key);
  }
}

function addressField(a: ProtocolAddress): string {
  return `${a.name()}.${a.deviceId()}`;
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new MissingKeyError(`${what} not found`);
  return v;
}

export interface LocalIdentity {
  registrationId: number;
  identityKey: PrivateKey;
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
  readonly #h: Record<'account' | 'sessions' | 'identities' | 'prekeys' | 'spk' | 'kyber' | 'senderkeys', SealedHash>;

  constructor(redis: Redis, ring: Keyring, prefix: string, user: string) {
    this.user = user;
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
    const account = async (): Promise<LocalIdentity> => {
      const [priv, reg] = await h.account.getMany(['identity', 'registration']);
      return {
        identityKey: PrivateKey.deserialize(need(priv, `identity of ${user}`)),
        registrationId: need(reg, `registration id of ${user}`).readUInt32BE(0),
      };
    };

    this.sessions = new (class extends SessionStore {
      async saveSession(name: ProtocolAddress, record: SessionRecord): Promise<void> {
        await h.sessions.set(addressField(name), record.serialize());
      }
      async getSession(name: ProtocolAddress): Promise<SessionRecord | null> {
        const b = await h.sessions.get(addressField(name));
        return b ? SessionRecord.deserialize(b) : null;
      }
      async getExistingSessions(addresses: ProtocolAddress[]): Promise<SessionRecord[]> {
        const got = await h.sessions.getMany(addresses.map(addressField));
        return got.map((b, i) => SessionRecord.deserialize(need(b, `session with ${addressField(addresses[i] as ProtocolAddress)}`)));
      }
    })();

    this.identities = new (class extends IdentityKeyStore {
      async getIdentityKey(): Promise<PrivateKey> {
        return (await account()).identityKey;
      }
      async getLocalRegistrationId(): Promise<number> {
        return (await account()).registrationId;
      }
      async saveIdentity(name: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
        const field = addressField(name);
        const old = await h.identities.get(field);
        // libsignal saves the peer's identity on every message: write only when it changes.
        if (old && PublicKey.deserialize(old).equals(key)) return IdentityChange.NewOrUnchanged;
        await h.identities.set(field, key.serialize());
        return old ? IdentityChange.ReplacedExisting : IdentityChange.NewOrUnchanged;
      }
      /** Trust on first use: a known peer must present the identity we stored. */
      async isTrustedIdentity(name: ProtocolAddress, key: PublicKey, _direction: Direction): Promise<boolean> {
        const old = await h.identities.get(addressField(name));
        return old === undefined || PublicKey.deserialize(old).equals(key);
      }
      async getIdentity(name: ProtocolAddress): Promise<PublicKey | null> {
        const b = await h.identities.get(addressField(name));
        return b ? PublicKey.deserialize(b) : null;
      }
      async trust(peer: ProtocolAddress, key: PublicKey): Promise<void> {
        await h.identities.set(addressField(peer), key.serialize());
      }
    })();

    this.preKeys = new (class extends PreKeyStore {
      async savePreKey(id: number, record: PreKeyRecord): Promise<void> {
        await h.prekeys.set(String(id), record.serialize());
      }
      async getPreKey(id: number): Promise<PreKeyRecord> {
        return PreKeyRecord.deserialize(need(await h.prekeys.get(String(id)), `one-time prekey ${id}`));
      }
      async removePreKey(id: number): Promise<void> {
        await h.prekeys.del(String(id));
      }
      count(): Promise<number> {
        return h.prekeys.count();
      }
      async ids(): Promise<number[]> {
        return (await h.prekeys.fields()).map(Number);
      }
    })();

    this.signedPreKeys = new (class extends SignedPreKeyStore {
      async saveSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void> {
        await h.spk.set(String(id), record.serialize());
      }
      async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> {
        return SignedPreKeyRecord.deserialize(need(await h.spk.get(String(id)), `signed prekey ${id}`));
      }
    })();

    // One-time Kyber prekeys are deleted once used; last-resort ones (marked `kyber-lr-ID` in the
    // account hash by markLastResortKyber) stay, also after rotation, for bundles still in flight.
    this.kyberPreKeys = new (class extends KyberPreKeyStore {
      async saveKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> {
        await h.kyber.set(String(id), record.serialize());
      }
      async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
        return KyberPreKeyRecord.deserialize(need(await h.kyber.get(String(id)), `Kyber prekey ${id}`));
      }
      async markKyberPreKeyUsed(id: number): Promise<void> {
        if (!(await h.account.get(`kyber-lr-${id}`))) await h.kyber.del(String(id));
      }
      async count(): Promise<number> {
        const [n, lr] = await Promise.all([h.kyber.count(), h.account.get('kyber-lr-count')]);
        return n - (lr ? lr.readUInt32BE(0) : 0);
      }
      async remove(id: number): Promise<void> {
        await h.kyber.del(String(id));
      }
    })();

    this.senderKeys = new (class extends SenderKeyStore {
      async saveSenderKey(sender: ProtocolAddress, distributionId: Uuid, record: SenderKeyRecord): Promise<void> {
        await h.senderkeys.set(`${addressField(sender)}|${String(distributionId)}`, record.serialize());
      }
      async getSenderKey(sender: ProtocolAddress, distributionId: Uuid): Promise<SenderKeyRecord | null> {
        const b = await h.senderkeys.get(`${addressField(sender)}|${String(distributionId)}`);
        return b ? SenderKeyRecord.deserialize(b) : null;
      }
    })();
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

  async markLastResortKyber(id: number): Promise<void> {
    await this.setMarker(`kyber-lr-${id}`, 1);
    await this.setMarker('kyber-lr-count', ((await this.getMarker('kyber-lr-count')) ?? 0) + 1);
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

  /** The Redis keys this store uses (for key rotation and deletion on opt-out). */
  redisKeys(): string[] {
    return Object.values(this.#h).map((x) => x.key);
  }
}
