// One Signal operation on one peer (encrypt, decrypt, session start) as a unit of work with two
// Redis round trips: ACQUIRE takes the per-peer lock and reads the peer's session and identity and
// our own identity in one script; libsignal then runs against in-memory stores; COMMIT writes what
// libsignal saved (the session, the peer's identity only if it changed, used prekeys deleted) and
// releases the lock in one script, only while the lock still holds this holder's token, so a
// holder whose lock expired can never overwrite a newer session.
//
// A caller can fold its own record into the unit, so that the record and the ratchet step that
// produced it are one atomic write: a guard (a hash field ACQUIRE reads first; once set, the unit
// takes no lock, reads nothing else and writes nothing — inbound dedup) and staged writes (hash
// fields with a TTL, sorted-set entries) that COMMIT applies under the same lock check.
//
// Everything stays sealed at rest: blobs are opened here in process (AAD `${redisKey}|${field}`,
// keyring.ts) and sealed before COMMIT. Our identity key pair and registration id are cached per
// keyring and account, keyed by their sealed blobs, which ACQUIRE reads anyway: a new account, a
// `keys rotate` re-seal or a removal changes the blob, so the cache can never serve a stale key.
// Records of any other address (libsignal never asks for one here) go straight to Redis.
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
import { RedisScript } from '../redis-script.ts';
import type { Keyring } from './keyring.ts';
import type { LockIo } from './peer-lock.ts';
import { addressField, need, type LocalIdentity, type RedisSignalStore, type SignalHashes } from './redis-signal-store.ts';
import type { SealedHash } from './sealed-hash.ts';
import { Staged, type UnitGuard, type UnitWrites } from './unit-writes.ts';

// KEYS: lock, sessions, identities, account[, guard]. ARGV: token, ttl ms, peer field[, guard field].
// A set guard is returned as {2, value} before the lock is even tried.
const ACQUIRE = `if KEYS[5] then
  local g = redis.call('hget', KEYS[5], ARGV[4])
  if g then return {2, g} end
end
if not redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return {0} end
return {1, redis.call('hget', KEYS[2], ARGV[3]), redis.call('hget', KEYS[3], ARGV[3]),
  redis.call('hget', KEYS[4], 'identity'), redis.call('hget', KEYS[4], 'registration')}`;

// KEYS: lock, sessions, identities, prekeys, kyber, account, then one per staged write.
// ARGV: token, peer field, sealed session or '', sealed identity or '', used prekey ids, used Kyber
// ids (comma-separated), then the staged writes: 'z', score, member | 'h', pairs, ttl s or 0, f1, v1…
// Staged writes go first, sorted sets before hashes: Redis does not roll a failing script back, and
// in that order a failure part-way leaves at worst an index entry without its record, never a
// record without its index entry, nor a ratchet step without the record it produced.
const COMMIT = `if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
local k, i = 7, 7
while i <= #ARGV do
  if ARGV[i] == 'z' then
    redis.call('zadd', KEYS[k], ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  else
    local n = tonumber(ARGV[i + 1])
    redis.call('hset', KEYS[k], unpack(ARGV, i + 3, i + 2 + 2 * n))
    if ARGV[i + 2] ~= '0' then redis.call('expire', KEYS[k], ARGV[i + 2]) end
    i = i + 3 + 2 * n
  end
  k = k + 1
end
if ARGV[3] ~= '' then redis.call('hset', KEYS[2], ARGV[2], ARGV[3]) end
if ARGV[4] ~= '' then redis.call('hset', KEYS[3], ARGV[2], ARGV[4]) end
for id in string.gmatch(ARGV[5], '[^,]+') do redis.call('hdel', KEYS[4], id) end
for id in string.gmatch(ARGV[6], '[^,]+') do
  if redis.call('hexists', KEYS[6], 'kyber-lr-' .. id) == 0 then redis.call('hdel', KEYS[5], id) end
end
redis.call('del', KEYS[1])
return 1`;

/** The lock expired (the operation outlived its TTL) and nothing was written: the operation failed. */
export class LockLostError extends Error {
  override readonly name = 'LockLostError';
}

const acquireScript = new RedisScript(ACQUIRE);
const commitScript = new RedisScript(COMMIT);

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

type Acquired = [1, Buffer | null, Buffer | null, Buffer | null, Buffer | null] | [2, Buffer] | [0];

/** What one unit read and what libsignal changed, shared by its in-memory stores. */
class UnitState {
  readonly base: RedisSignalStore;
  readonly h: SignalHashes;
  readonly ring: Keyring;
  readonly field: string;
  sessionBlob: Buffer | null = null;
  session: Uint8Array<ArrayBuffer> | null | undefined; // undefined: not opened yet
  sessionDirty = false;
  identityBlob: Buffer | null = null;
  identity: PublicKey | null | undefined; // undefined: not opened yet
  identityDirty = false;
  localKey: Buffer | null = null;
  localReg: Buffer | null = null;
  readonly usedPreKeys: number[] = [];
  readonly usedKyber: number[] = [];

  constructor(store: RedisSignalStore, peer: ProtocolAddress) {
    this.base = store;
    const { h, ring } = store.internals();
    this.h = h;
    this.ring = ring;
    this.field = addressField(peer);
  }

  mine(a: ProtocolAddress): boolean {
    return addressField(a) === this.field;
  }

  // Blobs are opened on first use, inside the operation: a record that fails authentication fails
  // the operation (and the lock is released), never the acquisition.
  sessionBytes(): Uint8Array<ArrayBuffer> | null {
    if (this.session === undefined) this.session = this.sessionBlob ? this.h.sessions.open(this.field, this.sessionBlob) : null;
    return this.session;
  }

  peerIdentity(): PublicKey | null {
    if (this.identity === undefined) {
      this.identity = this.identityBlob ? PublicKey.deserialize(this.h.identities.open(this.field, this.identityBlob)) : null;
    }
    return this.identity;
  }

  local(): LocalIdentity {
    return localIdentity(this.ring, this.h.account, this.base.user, this.localKey, this.localReg);
  }
}

class UnitSessions extends SessionStore {
  readonly #s: UnitState;
  constructor(s: UnitState) {
    super();
    this.#s = s;
  }
  async saveSession(name: ProtocolAddress, record: SessionRecord): Promise<void> {
    if (!this.#s.mine(name)) return this.#s.base.sessions.saveSession(name, record);
    const bytes = record.serialize();
    this.#s.session = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
    this.#s.sessionDirty = true;
  }
  async getSession(name: ProtocolAddress): Promise<SessionRecord | null> {
    if (!this.#s.mine(name)) return this.#s.base.sessions.getSession(name);
    const bytes = this.#s.sessionBytes();
    return bytes ? SessionRecord.deserialize(bytes) : null;
  }
  async getExistingSessions(addresses: ProtocolAddress[]): Promise<SessionRecord[]> {
    return Promise.all(addresses.map(async (a) => need((await this.getSession(a)) ?? undefined, `session with ${addressField(a)}`)));
  }
}

class UnitIdentities extends IdentityKeyStore {
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
    if (!this.#s.mine(name)) return this.#s.base.identities.saveIdentity(name, key);
    const old = this.#s.peerIdentity();
    // libsignal saves the peer's identity on every message: write only when it changes.
    if (old && old.equals(key)) return IdentityChange.NewOrUnchanged;
    this.#s.identity = key;
    this.#s.identityDirty = true;
    return old ? IdentityChange.ReplacedExisting : IdentityChange.NewOrUnchanged;
  }
  /** Trust on first use: a known peer must present the identity we stored. */
  async isTrustedIdentity(name: ProtocolAddress, key: PublicKey, direction: Direction): Promise<boolean> {
    if (!this.#s.mine(name)) return this.#s.base.identities.isTrustedIdentity(name, key, direction);
    const old = this.#s.peerIdentity();
    return old === null || old.equals(key);
  }
  async getIdentity(name: ProtocolAddress): Promise<PublicKey | null> {
    if (!this.#s.mine(name)) return this.#s.base.identities.getIdentity(name);
    return this.#s.peerIdentity();
  }
}

// Prekey reads go to Redis (only PreKey messages use them); removals are part of COMMIT, after
// the session that used them is written.
class UnitPreKeys extends PreKeyStore {
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

class UnitKyberPreKeys extends KyberPreKeyStore {
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

/** One operation's stores for libsignal, and its lock IO (ACQUIRE, COMMIT). */
export class SignalUnit implements LockIo<SignalUnit> {
  readonly sessions: SessionStore;
  readonly identities: IdentityKeyStore;
  readonly preKeys: PreKeyStore;
  readonly kyberPreKeys: KyberPreKeyStore;
  readonly #s: UnitState;
  readonly #guard: UnitGuard | undefined;
  #guarded: Buffer | null = null;
  readonly #staged = new Staged();

  constructor(store: RedisSignalStore, peer: ProtocolAddress, guard?: UnitGuard) {
    const s = (this.#s = new UnitState(store, peer));
    this.#guard = guard;
    this.sessions = new UnitSessions(s);
    this.identities = new UnitIdentities(s);
    this.preKeys = new UnitPreKeys(s);
    this.kyberPreKeys = new UnitKyberPreKeys(s);
  }

  /**
   * The guard's value when ACQUIRE found it set: then no lock was taken and nothing was read, so
   * the operation must not run (the stores are empty) and nothing will be written; else null.
   */
  guarded(): Buffer | null {
    return this.#guarded;
  }

  /** Adds writes for COMMIT to apply with libsignal's (UnitWrites); throws at once on a malformed one. */
  stage(w: UnitWrites): void {
    if (this.#guarded !== null) throw new Error('a guarded unit writes nothing');
    this.#staged.add(w);
  }

  /** Whether the peer has a session that can encrypt, from what ACQUIRE read (no second read under the lock). */
  hasCurrentSession(): boolean {
    const bytes = this.#s.sessionBytes();
    return bytes !== null && SessionRecord.deserialize(bytes).hasCurrentState();
  }

  async tryAcquire(lockKey: string, token: string, ttlMs: number): Promise<SignalUnit | undefined> {
    const { h, field } = this.#s;
    const g = this.#guard;
    const keys = [lockKey, h.sessions.key, h.identities.key, h.account.key, ...(g ? [g.key] : [])];
    const r = (await acquireScript.run(h.sessions.redis, keys, [token, String(ttlMs), field, ...(g ? [g.field] : [])])) as Acquired;
    if (r[0] === 0) return undefined;
    if (r[0] === 2) this.#guarded = r[1];
    else [, this.#s.sessionBlob, this.#s.identityBlob, this.#s.localKey, this.#s.localReg] = r;
    return this;
  }

  async release(lockKey: string, token: string): Promise<void> {
    if (this.#guarded !== null) return; // ACQUIRE took no lock
    const s = this.#s;
    const { h } = s;
    const session = s.sessionDirty && s.session ? h.sessions.seal(s.field, s.session) : '';
    const identity = s.identityDirty && s.identity ? h.identities.seal(s.field, s.identity.serialize()) : '';
    const extra = { keys: this.#staged.keys, args: this.#staged.args };
    const writes = session !== '' || identity !== '' || s.usedPreKeys.length > 0 || s.usedKyber.length > 0 || extra.keys.length > 0;
    const keys = [lockKey, h.sessions.key, h.identities.key, h.prekeys.key, h.kyber.key, h.account.key, ...extra.keys];
    const args = [token, s.field, session, identity, s.usedPreKeys.join(','), s.usedKyber.join(','), ...extra.args];
    const done = await commitScript.run(h.sessions.redis, keys, args);
    if (done !== 1 && writes) throw new LockLostError(`the lock of ${s.field} expired before the operation finished; nothing was saved`);
  }
}
