// Signal operations of the provider's edge: start a session from a hub bundle (PQXDH), encrypt for
// one hub device, decrypt from one. Each runs under the per-peer lock (peer-lock.ts) because
// libsignal's session state must not be touched by two operations at once.
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

export function signalAddress(hipDeviceAddress: string): ProtocolAddress {
  return ProtocolAddress.new(hipDeviceAddress, 1);
}

const ab = (u: Uint8Array): Uint8Array<ArrayBuffer> => (u.buffer instanceof ArrayBuffer ? (u as Uint8Array<ArrayBuffer>) : new Uint8Array(u));

export class SignalEdge {
  readonly #lock: PeerLock;
  constructor(lock: PeerLock) {
    this.#lock = lock;
  }

  /** Starts (or replaces) the session with one hub device from its bundle (spec 7.2). */
  startSession(store: RedisSignalStore, local: string, peer: string, b: KeyBundle): Promise<void> {
    return this.#lock.withLock(store.user, peer, async () => {
      const bundle = PreKeyBundle.new(
        b.registration, 1,
        b.key ? b.key.id : null, b.key ? PublicKey.deserialize(ab(b.key.value)) : null,
        b.skey.id, PublicKey.deserialize(ab(b.skey.value)), ab(b.skey.signature),
        PublicKey.deserialize(ab(b.identity)),
        b.kyber.id, KEMPublicKey.deserialize(ab(b.kyber.value)), ab(b.kyber.signature),
      );
      await processPreKeyBundle(bundle, signalAddress(peer), signalAddress(local), store.sessions, store.identities);
    });
  }

  async hasSession(store: RedisSignalStore, peer: string): Promise<boolean> {
    const rec = await store.sessions.getSession(signalAddress(peer));
    return rec !== null && rec.hasCurrentState();
  }

  encrypt(store: RedisSignalStore, local: string, peer: string, plaintext: Uint8Array): Promise<{ type: 'pkmsg' | 'msg'; ciphertext: Uint8Array }> {
    return this.#lock.withLock(store.user, peer, async () => {
      const msg = await signalEncrypt(ab(plaintext), signalAddress(peer), signalAddress(local), store.sessions, store.identities);
      return { type: msg.type() === CiphertextMessageType.PreKey ? 'pkmsg' : 'msg', ciphertext: msg.serialize() };
    });
  }

  decrypt(store: RedisSignalStore, local: string, peer: string, enc: { type: EncType; ciphertext: Uint8Array }): Promise<Uint8Array> {
    return this.#lock.withLock(store.user, peer, async () => {
      const from = signalAddress(peer);
      const to = signalAddress(local);
      if (enc.type === 'pkmsg') {
        return signalDecryptPreKey(
          PreKeySignalMessage.deserialize(ab(enc.ciphertext)), from, to,
          store.sessions, store.identities, store.preKeys, store.signedPreKeys, store.kyberPreKeys,
        );
      }
      if (enc.type === 'msg') return signalDecrypt(SignalMessage.deserialize(ab(enc.ciphertext)), from, to, store.sessions, store.identities);
      throw new Error(`enc type ${enc.type} is for groups (phase 2)`);
    });
  }
}
