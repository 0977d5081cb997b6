// Signal operations of the provider's edge: start a session from a hub bundle (PQXDH), encrypt for
// one hub device, decrypt from one. Each runs under the per-peer lock (peer-lock.ts) because
// libsignal's session state must not be touched by two operations at once, as a unit of work
// (signal-unit.ts): lock + reads in one Redis round trip, writes + release in another.
// `decryptWith` lets the caller fold a dedup guard and its own record into those two scripts; the
// encrypts take an `AfterEncrypt` that folds the caller's record of the ciphertext the same way.
//
// Spec 7: HIP device numbers are not libsignal device ids, so a HIP device address maps to
// ProtocolAddress(full device address, 1); ciphertexts do not depend on that choice.
import {
  CiphertextMessageType,
  KEMPublicKey,
  PreKeyBundle,
  PreKeySignalMessage,
  ProtocolAddress,
  PublicKey,
  SignalMessage,
  processPreKeyBundle,
  signalDecrypt,
  signalDecryptPreKey,
  signalEncrypt,
} from '@signalapp/libsignal-client';
import type { EncType, KeyBundle } from '../protocol/types.ts';
import type { PeerLock } from './peer-lock.ts';
import type { RedisSignalStore } from './redis-signal-store.ts';
import { SignalUnit } from './signal-unit.ts';
import type { UnitGuard, UnitWrites } from './unit-writes.ts';

export function signalAddress(hipDeviceAddress: string): ProtocolAddress {
  return ProtocolAddress.new(hipDeviceAddress, 1);
}

const ab = (u: Uint8Array): Uint8Array<ArrayBuffer> => (u.buffer instanceof ArrayBuffer ? (u as Uint8Array<ArrayBuffer>) : new Uint8Array(u));

export type Encrypted = { type: 'pkmsg' | 'msg'; ciphertext: Uint8Array };

function preKeyBundle(b: KeyBundle): PreKeyBundle {
  return PreKeyBundle.new(
    b.registration, 1,
    b.key ? b.key.id : null, b.key ? PublicKey.deserialize(ab(b.key.value)) : null,
    b.skey.id, PublicKey.deserialize(ab(b.skey.value)), ab(b.skey.signature),
    PublicKey.deserialize(ab(b.identity)),
    b.kyber.id, KEMPublicKey.deserialize(ab(b.kyber.value)), ab(b.kyber.signature),
  );
}

/**
 * Runs under the lock on the ciphertext just made, before COMMIT: the writes it returns are applied
 * by COMMIT with the ratchet step, atomically (unit-writes.ts). If it throws, the ratchet step is
 * still committed and its writes are not.
 */
export type AfterEncrypt = (enc: Encrypted) => UnitWrites | undefined;

async function encryptIn(u: SignalUnit, local: string, peer: string, plaintext: Uint8Array, after?: AfterEncrypt): Promise<Encrypted> {
  const msg = await signalEncrypt(ab(plaintext), signalAddress(peer), signalAddress(local), u.sessions, u.identities);
  const enc: Encrypted = { type: msg.type() === CiphertextMessageType.PreKey ? 'pkmsg' : 'msg', ciphertext: msg.serialize() };
  const writes = after?.(enc);
  if (writes) u.stage(writes);
  return enc;
}

/** What `decryptWith` does besides decrypting (unit-writes.ts). */
export interface DecryptWith<T> {
  /** Read by ACQUIRE first: when set, nothing is decrypted, locked or written (a duplicate). */
  guard?: UnitGuard;
  /**
   * Runs on the plaintext under the lock, before COMMIT: returns the caller's result and the writes
   * COMMIT applies with the ratchet step, atomically. If it throws, libsignal's writes are still
   * committed (the message key is spent either way) and its own are not.
   */
  then: (plaintext: Uint8Array) => { value: T; writes?: UnitWrites } | Promise<{ value: T; writes?: UnitWrites }>;
}

/** `guarded`: the guard's value (nothing was done); else `value`: what `then` returned. */
export type DecryptedWith<T> = { guarded: Buffer } | { guarded?: undefined; value: T };

async function decryptIn(u: SignalUnit, store: RedisSignalStore, local: string, peer: string, enc: { type: EncType; ciphertext: Uint8Array }): Promise<Uint8Array> {
  const from = signalAddress(peer);
  const to = signalAddress(local);
  if (enc.type === 'pkmsg') {
    return signalDecryptPreKey(
      PreKeySignalMessage.deserialize(ab(enc.ciphertext)), from, to,
      u.sessions, u.identities, u.preKeys, store.signedPreKeys, u.kyberPreKeys,
    );
  }
  return signalDecrypt(SignalMessage.deserialize(ab(enc.ciphertext)), from, to, u.sessions, u.identities);
}

function checkType(enc: { type: EncType }): void {
  if (enc.type !== 'pkmsg' && enc.type !== 'msg') throw new Error(`enc type ${enc.type} is for groups (phase 2)`);
}

export class SignalEdge {
  readonly #lock: PeerLock;
  constructor(lock: PeerLock) {
    this.#lock = lock;
  }

  /** Runs `fn` as one unit of work on (store's user, peer): two Redis round trips (signal-unit.ts). */
  #unit<T>(store: RedisSignalStore, peer: string, fn: (u: SignalUnit) => Promise<T>): Promise<T> {
    return this.#lock.withLockIo(store.user, peer, new SignalUnit(store, signalAddress(peer)), fn);
  }

  /** Starts (or replaces) the session with one hub device from its bundle (spec 7.2). */
  startSession(store: RedisSignalStore, local: string, peer: string, b: KeyBundle): Promise<void> {
    return this.#unit(store, peer, (u) => processPreKeyBundle(preKeyBundle(b), signalAddress(peer), signalAddress(local), u.sessions, u.identities));
  }

  /** Starts (or replaces) the session from a bundle and encrypts the first message, in one unit. */
  startSessionAndEncrypt(store: RedisSignalStore, local: string, peer: string, b: KeyBundle, plaintext: Uint8Array, after?: AfterEncrypt): Promise<Encrypted> {
    return this.#unit(store, peer, async (u) => {
      await processPreKeyBundle(preKeyBundle(b), signalAddress(peer), signalAddress(local), u.sessions, u.identities);
      return encryptIn(u, local, peer, plaintext, after);
    });
  }

  encrypt(store: RedisSignalStore, local: string, peer: string, plaintext: Uint8Array): Promise<Encrypted> {
    return this.#unit(store, peer, (u) => encryptIn(u, local, peer, plaintext));
  }

  /**
   * Encrypts if there is a session that can encrypt; undefined if there is none. The check and the
   * encryption are one unit under the lock: a separate check could be stale by the time it is used.
   */
  encryptIfSession(store: RedisSignalStore, local: string, peer: string, plaintext: Uint8Array, after?: AfterEncrypt): Promise<Encrypted | undefined> {
    return this.#unit(store, peer, async (u) => (u.hasCurrentSession() ? encryptIn(u, local, peer, plaintext, after) : undefined));
  }

  async decrypt(store: RedisSignalStore, local: string, peer: string, enc: { type: EncType; ciphertext: Uint8Array }): Promise<Uint8Array> {
    checkType(enc);
    return this.#unit(store, peer, (u) => decryptIn(u, store, local, peer, enc));
  }

  /**
   * Decrypts and commits the caller's writes with the ratchet step in one script (DecryptWith),
   * unless the guard is already set. Still two round trips; one when guarded.
   */
  async decryptWith<T>(store: RedisSignalStore, local: string, peer: string, enc: { type: EncType; ciphertext: Uint8Array }, o: DecryptWith<T>): Promise<DecryptedWith<T>> {
    checkType(enc);
    const unit = new SignalUnit(store, signalAddress(peer), o.guard);
    return this.#lock.withLockIo(store.user, peer, unit, async (u): Promise<DecryptedWith<T>> => {
      const guarded = u.guarded();
      if (guarded !== null) return { guarded };
      const r = await o.then(await decryptIn(u, store, local, peer, enc));
      if (r.writes) u.stage(r.writes);
      return { value: r.value };
    });
  }
}
