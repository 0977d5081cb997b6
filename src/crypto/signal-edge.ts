// Signal operations of the provider's edge: start a session from a hub bundle (PQXDH), encrypt for
// one hub device or for several devices of one hub user at once, decrypt from one. Each runs under
// the per-peer locks of its devices (peer-lock.ts) because libsignal's session state must not be
// touched by two operations at once, as a unit of work (signal-unit.ts): locks + reads in one Redis
// round trip, writes + release in another, whatever the number of devices. `decryptWith` lets the
// caller fold a dedup guard and its own record into those two scripts; the multi-device
// encrypts take an `AfterEncryptAll` that folds the caller's record of the ciphertexts the same way.
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
 * Runs under the locks on all the ciphertexts a unit of several devices made (by device address),
 * before COMMIT: the writes it returns are applied by COMMIT with the ratchet steps, atomically
 * (unit-writes.ts), and their `committed` then says which set-if-absent fields were kept as
 * another holder stored them. If it throws, the ratchet steps are still committed and its writes
 * are not.
 */
export type AfterEncryptAll = (encs: ReadonlyMap<string, Encrypted>) => UnitWrites | undefined;

/** What `encryptForDevices` made: the ciphertexts of the devices with a current session, and the devices without one. */
export interface DevicesEncrypted {
  encs: Map<string, Encrypted>;
  without: string[];
}

async function encryptIn(u: SignalUnit, local: string, peer: string, plaintext: Uint8Array): Promise<Encrypted> {
  const msg = await signalEncrypt(ab(plaintext), signalAddress(peer), signalAddress(local), u.sessions, u.identities);
  return { type: msg.type() === CiphertextMessageType.PreKey ? 'pkmsg' : 'msg', ciphertext: msg.serialize() };
}

function stage(u: SignalUnit, writes: UnitWrites | undefined): void {
  if (writes) u.stage(writes);
}

function startIn(u: SignalUnit, local: string, peer: string, b: KeyBundle): Promise<void> {
  return processPreKeyBundle(preKeyBundle(b), signalAddress(peer), signalAddress(local), u.sessions, u.identities);
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

  /** Runs `fn` as one unit of work on (store's user, each peer): two Redis round trips (signal-unit.ts). */
  #unit<T>(store: RedisSignalStore, peers: string[], fn: (u: SignalUnit) => Promise<T>): Promise<T> {
    return this.#lock.withLocksIo(store.user, peers, new SignalUnit(store, peers.map(signalAddress)), fn);
  }

  /** Starts (or replaces) the session with one hub device from its bundle (spec 7.2). */
  startSession(store: RedisSignalStore, local: string, peer: string, b: KeyBundle): Promise<void> {
    return this.#unit(store, [peer], (u) => startIn(u, local, peer, b));
  }

  /** Starts (or replaces) the session from a bundle and encrypts the first message, in one unit. */
  startSessionAndEncrypt(store: RedisSignalStore, local: string, peer: string, b: KeyBundle, plaintext: Uint8Array): Promise<Encrypted> {
    return this.#unit(store, [peer], async (u) => {
      await startIn(u, local, peer, b);
      return encryptIn(u, local, peer, plaintext);
    });
  }

  /**
   * Starts (or replaces) the sessions with several devices of one hub user from their bundles (by
   * device address, at least one) and encrypts the message for each, all in one unit. The devices
   * are handled in the map's order; an untrusted identity throws libsignal's UntrustedIdentity error
   * at its device, and COMMIT then writes only what the devices before it saved.
   */
  startSessionsAndEncrypt(store: RedisSignalStore, local: string, bundles: ReadonlyMap<string, KeyBundle>, plaintext: Uint8Array, after?: AfterEncryptAll): Promise<Map<string, Encrypted>> {
    return this.#unit(store, [...bundles.keys()], async (u) => {
      const encs = new Map<string, Encrypted>();
      for (const [peer, b] of bundles) {
        await startIn(u, local, peer, b);
        encs.set(peer, await encryptIn(u, local, peer, plaintext));
      }
      stage(u, after?.(encs));
      return encs;
    });
  }

  encrypt(store: RedisSignalStore, local: string, peer: string, plaintext: Uint8Array): Promise<Encrypted> {
    return this.#unit(store, [peer], (u) => encryptIn(u, local, peer, plaintext));
  }

  /**
   * Encrypts if there is a session that can encrypt; undefined if there is none. The check and the
   * encryption are one unit under the lock: a separate check could be stale by the time it is used.
   */
  encryptIfSession(store: RedisSignalStore, local: string, peer: string, plaintext: Uint8Array): Promise<Encrypted | undefined> {
    return this.#unit(store, [peer], async (u) => (u.hasCurrentSession(signalAddress(peer)) ? encryptIn(u, local, peer, plaintext) : undefined));
  }

  /**
   * `encryptIfSession` for several devices of one hub user (at least one) in one unit: encrypts for
   * each device with a current session, in the given order, and lists those without one. `after`
   * runs once on all the ciphertexts, when there is at least one. An untrusted identity throws as
   * in `startSessionsAndEncrypt`.
   */
  encryptForDevices(store: RedisSignalStore, local: string, peers: string[], plaintext: Uint8Array, after?: AfterEncryptAll): Promise<DevicesEncrypted> {
    const devices = [...new Set(peers)];
    return this.#unit(store, devices, async (u) => {
      const encs = new Map<string, Encrypted>();
      const without: string[] = [];
      for (const peer of devices) {
        if (u.hasCurrentSession(signalAddress(peer))) encs.set(peer, await encryptIn(u, local, peer, plaintext));
        else without.push(peer);
      }
      if (encs.size > 0) stage(u, after?.(encs));
      return { encs, without };
    });
  }

  /**
   * Forgets a hub user whose identity changed: drops the sessions and trusted identities of every
   * device `ofPeer` matches, under those devices' locks, so that an encrypt or decrypt in flight on
   * one of them (here or on another replica) cannot write the old session back after the drop: it
   * commits first, or waits. Returns the number of sessions dropped.
   */
  async forgetPeer(store: RedisSignalStore, ofPeer: (device: string) => boolean): Promise<number> {
    const devices = await store.devicesOf(ofPeer);
    if (devices.length === 0) return 0;
    return this.#unit(store, devices, async () => {
      const dropped = await store.dropSessionsOf(ofPeer);
      await store.forgetIdentitiesOf(ofPeer);
      return dropped;
    });
  }

  async decrypt(store: RedisSignalStore, local: string, peer: string, enc: { type: EncType; ciphertext: Uint8Array }): Promise<Uint8Array> {
    checkType(enc);
    return this.#unit(store, [peer], (u) => decryptIn(u, store, local, peer, enc));
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
