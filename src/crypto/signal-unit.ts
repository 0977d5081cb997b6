// One Signal operation on one or more peers of one local user (encrypt for every device of a hub
// user, decrypt from one, session starts) as a unit of work with two Redis round trips, whatever
// the number of peers: ACQUIRE takes every peer's lock (all or none) and reads every peer's session
// and identity and our own identity in one script; libsignal then runs against in-memory stores
// (unit-stores.ts); COMMIT writes what libsignal saved (the sessions, a peer's identity only if it
// changed, used prekeys deleted) and releases the locks in one script, only while every lock still
// holds this holder's token, so a holder one of whose locks expired can never overwrite a newer
// session: it writes nothing at all.
//
// A caller can fold its own record into the unit, so that the record and the ratchet steps that
// produced it are one atomic write: a guard (a hash field ACQUIRE reads first; once set, the unit
// takes no lock, reads nothing else and writes nothing — inbound dedup) and staged writes (hash
// fields with a TTL, set unconditionally or only if absent, sorted-set entries) that COMMIT applies
// under the same lock check; its reply says which set-if-absent fields were found set (UnitWrites
// `committed`), so a caller can use what another holder stored first.
//
// Everything stays sealed at rest: blobs are opened in process (AAD `${redisKey}|${field}`,
// keyring.ts) and sealed before COMMIT. All keys, the locks included, are under the user's hash tag.
import { SessionRecord, type IdentityKeyStore, type KyberPreKeyStore, type PreKeyStore, type ProtocolAddress, type SessionStore } from '@signalapp/libsignal-client';
import { RedisScript } from '../redis-script.ts';
import type { LockIo } from './peer-lock.ts';
import { addressField, type RedisSignalStore } from './redis-signal-store.ts';
import { UnitIdentities, UnitKyberPreKeys, UnitPreKeys, UnitSessions, UnitState } from './unit-stores.ts';
import { Staged, type UnitGuard, type UnitWrites } from './unit-writes.ts';

// KEYS: n locks, sessions, identities, account[, guard]. ARGV: token, ttl ms, n, the n peer
// fields[, guard field]. A set guard is returned as {2, value} before the locks are even tried;
// a lock held by anyone else is {0}, and then none is taken.
const ACQUIRE = `local n = tonumber(ARGV[3])
if KEYS[n + 4] then
  local g = redis.call('hget', KEYS[n + 4], ARGV[n + 4])
  if g then return {2, g} end
end
for i = 1, n do
  if redis.call('exists', KEYS[i]) == 1 then return {0} end
end
for i = 1, n do redis.call('set', KEYS[i], ARGV[1], 'PX', ARGV[2]) end
local fields = {unpack(ARGV, 4, n + 3)}
return {1, redis.call('hmget', KEYS[n + 1], unpack(fields)), redis.call('hmget', KEYS[n + 2], unpack(fields)),
  redis.call('hget', KEYS[n + 3], 'identity'), redis.call('hget', KEYS[n + 3], 'registration')}`;

// KEYS: n locks, sessions, identities, prekeys, kyber, account, then one per staged write.
// ARGV: token, n, per peer (field, sealed session or '', sealed identity or ''), used prekey ids,
// used Kyber ids (comma-separated), then the staged writes: 'z', score, member | 'h' (HSET) or 'n'
// (HSETNX of each field), pairs, ttl s or 0, f1, v1… → 0 when a lock is no longer ours, else
// {1, HSETNX's answer for each 'n' field in order}: whether it was written (Staged#committed).
// Staged writes go first, sorted sets before hashes: Redis does not roll a failing
// script back, and in that order a failure part-way leaves at worst an index entry without its
// record, never a record without its index entry, nor a ratchet step without the record it
// produced. When a lock is no longer ours nothing is written, and the locks still ours are freed
// rather than left to their TTL.
const COMMIT = `local n = tonumber(ARGV[2])
local held = 0
for i = 1, n do
  if redis.call('get', KEYS[i]) == ARGV[1] then held = held + 1 end
end
if held < n then
  for i = 1, n do
    if redis.call('get', KEYS[i]) == ARGV[1] then redis.call('del', KEYS[i]) end
  end
  return 0
end
local k, i, nx = n + 6, 3 * n + 5, {}
while i <= #ARGV do
  if ARGV[i] == 'z' then
    redis.call('zadd', KEYS[k], ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  else
    local m = tonumber(ARGV[i + 1])
    if ARGV[i] == 'n' then
      for f = i + 3, i + 1 + 2 * m, 2 do nx[#nx + 1] = redis.call('hsetnx', KEYS[k], ARGV[f], ARGV[f + 1]) end
    else
      redis.call('hset', KEYS[k], unpack(ARGV, i + 3, i + 2 + 2 * m))
    end
    if ARGV[i + 2] ~= '0' then redis.call('expire', KEYS[k], ARGV[i + 2]) end
    i = i + 3 + 2 * m
  end
  k = k + 1
end
for p = 3, 3 * n, 3 do
  if ARGV[p + 1] ~= '' then redis.call('hset', KEYS[n + 1], ARGV[p], ARGV[p + 1]) end
  if ARGV[p + 2] ~= '' then redis.call('hset', KEYS[n + 2], ARGV[p], ARGV[p + 2]) end
end
for id in string.gmatch(ARGV[3 * n + 3], '[^,]+') do redis.call('hdel', KEYS[n + 3], id) end
for id in string.gmatch(ARGV[3 * n + 4], '[^,]+') do
  if redis.call('hexists', KEYS[n + 5], 'kyber-lr-' .. id) == 0 then redis.call('hdel', KEYS[n + 4], id) end
end
for j = 1, n do redis.call('del', KEYS[j]) end
return {1, nx}`;

/** A lock expired (the operation outlived its TTL) and nothing was written: the operation failed. */
export class LockLostError extends Error {
  override readonly name = 'LockLostError';
}

const acquireScript = new RedisScript(ACQUIRE);
const commitScript = new RedisScript(COMMIT);

type Acquired = [1, Array<Buffer | null>, Array<Buffer | null>, Buffer | null, Buffer | null] | [2, Buffer] | [0];

/** One operation's stores for libsignal, and its lock IO (ACQUIRE, COMMIT): one lock per peer. */
export class SignalUnit implements LockIo<SignalUnit> {
  readonly sessions: SessionStore;
  readonly identities: IdentityKeyStore;
  readonly preKeys: PreKeyStore;
  readonly kyberPreKeys: KyberPreKeyStore;
  readonly #s: UnitState;
  readonly #guard: UnitGuard | undefined;
  #guarded: Buffer | null = null;
  readonly #staged = new Staged();

  /** `peers`: the peers whose records the unit serves (one lock each); all others go to Redis. */
  constructor(store: RedisSignalStore, peers: ProtocolAddress | ProtocolAddress[], guard?: UnitGuard) {
    const s = (this.#s = new UnitState(store, Array.isArray(peers) ? peers : [peers]));
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

  /** Whether `peer` has a session that can encrypt, from what ACQUIRE read (no second read under the lock). */
  hasCurrentSession(peer: ProtocolAddress): boolean {
    const p = this.#s.of(peer);
    if (!p) throw new Error(`${addressField(peer)} is not a peer of this unit`);
    const bytes = p.sessionBytes();
    return bytes !== null && SessionRecord.deserialize(bytes).hasCurrentState();
  }

  async tryAcquire(lockKeys: string[], token: string, ttlMs: number): Promise<SignalUnit | undefined> {
    const { h, peers } = this.#s;
    // One lock per peer: COMMIT pairs them by count (a caller's mistake must not go unnoticed).
    if (lockKeys.length !== peers.size) throw new Error(`${lockKeys.length} locks for ${peers.size} peers`);
    const list = [...peers.values()];
    const fields = list.map((p) => p.field);
    const g = this.#guard;
    const keys = [...lockKeys, h.sessions.key, h.identities.key, h.account.key, ...(g ? [g.key] : [])];
    const args = [token, String(ttlMs), String(fields.length), ...fields, ...(g ? [g.field] : [])];
    const r = (await acquireScript.run(h.sessions.redis, keys, args)) as Acquired;
    if (r[0] === 0) return undefined;
    if (r[0] === 2) {
      this.#guarded = r[1];
      return this;
    }
    const [, sessions, identities, localKey, localReg] = r;
    list.forEach((p, i) => {
      p.sessionBlob = sessions[i] ?? null;
      p.identityBlob = identities[i] ?? null;
    });
    this.#s.localKey = localKey;
    this.#s.localReg = localReg;
    return this;
  }

  async release(lockKeys: string[], token: string): Promise<void> {
    if (this.#guarded !== null) return; // ACQUIRE took no lock
    const s = this.#s;
    const { h } = s;
    const perPeer: Array<string | Buffer> = [];
    let writes = s.usedPreKeys.length > 0 || s.usedKyber.length > 0 || this.#staged.keys.length > 0;
    for (const p of s.peers.values()) {
      const session = p.sessionDirty && p.session ? h.sessions.seal(p.field, p.session) : '';
      const identity = p.identityDirty && p.identity ? h.identities.seal(p.field, p.identity.serialize()) : '';
      writes ||= session !== '' || identity !== '';
      perPeer.push(p.field, session, identity);
    }
    const keys = [...lockKeys, h.sessions.key, h.identities.key, h.prekeys.key, h.kyber.key, h.account.key, ...this.#staged.keys];
    const args = [token, String(lockKeys.length), ...perPeer, s.usedPreKeys.join(','), s.usedKyber.join(','), ...this.#staged.args];
    const done = (await commitScript.run(h.sessions.redis, keys, args)) as [1, number[]] | 0;
    if (done === 0) {
      if (writes) throw new LockLostError(`a lock of ${[...s.peers.keys()].join(', ')} expired before the operation finished; nothing was saved`);
      return;
    }
    this.#staged.committed(done[1]);
  }
}
