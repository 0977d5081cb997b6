// Provider users' uploaded keys (spec 7.1/7.2), in memory: identity, registration, signed EC
// prekey, last-resort Kyber prekey, and queues of one-time EC and Kyber prekeys handed out once.
// Signatures are checked with libsignal (PublicKey.verify over the serialized public key) and every
// public key must deserialize. Also tracks the once-only low-prekey notification (spec 8).
import { KEMPublicKey, PublicKey } from '@signalapp/libsignal-client';
import type { IqQuery, KeyBundle, PreKey, SignedPreKey } from '../protocol/index.ts';

type Upload = Extract<IqQuery, { op: 'upload' }>;

/** Ids are decimal integers below 2^24 (spec 7.1). */
const MAX_ID = 0xffffff;

/** An upload that breaks a rule of spec 7.1: answered with iq error 400 bad-request. */
export class UploadError extends Error {
  override readonly name = 'UploadError';
}

interface StoredKeys {
  registration: number;
  identity: Uint8Array;
  skey: SignedPreKey;
  kyber: SignedPreKey;
  ec: PreKey[];
  kyberOneTime: SignedPreKey[];
  /** An `encrypt` notification was sent and no upload brought the count back up yet. */
  lowNotified: boolean;
}

export interface UploadOutcome {
  first: boolean;
  /** A different identity than before (spec 7.1 reset): contacts get an identity notification. */
  reset: boolean;
}

const bytes = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);

export class PreKeyDirectory {
  readonly #keys = new Map<string, StoredKeys>();

  has(user: string): boolean {
    return this.#keys.has(user);
  }

  /** Validates and applies an upload; throws UploadError (→ 400) and changes nothing on a bad one. */
  upload(user: string, q: Upload, lowThreshold: number): UploadOutcome {
    const cur = this.#keys.get(user);
    const reset = cur !== undefined && q.identity !== undefined && !equal(q.identity, cur.identity);
    const full = cur === undefined || reset;
    if (full && (q.registration === undefined || q.identity === undefined || q.skey === undefined || q.kyber === undefined)) {
      throw new UploadError(cur === undefined
        ? 'the first upload must carry registration, identity, skey and kyber'
        : 'an upload with a new identity must carry registration, skey and kyber');
    }
    const identityBytes = q.identity ?? cur?.identity;
    if (identityBytes === undefined) throw new UploadError('no identity');
    const identity = ecKey(identityBytes, 'identity');
    if (q.skey !== undefined) checkSigned(identity, q.skey, 'skey', 'ec');
    if (q.kyber !== undefined) checkSigned(identity, q.kyber, 'kyber', 'kyber');
    for (const k of q.preKeys ?? []) {
      checkId(k.id, 'key');
      ecKey(k.value, `key ${k.id}`);
    }
    for (const k of q.kyberPreKeys ?? []) checkSigned(identity, k, `kyber-list ${k.id}`, 'kyber');
    if (q.registration !== undefined && (!Number.isInteger(q.registration) || q.registration < 0 || q.registration > 0xffffffff)) {
      throw new UploadError('bad registration id');
    }

    const base: StoredKeys = full
      ? { registration: q.registration!, identity: q.identity!, skey: q.skey!, kyber: q.kyber!, ec: [], kyberOneTime: [], lowNotified: false }
      : cur!;
    if (!full) {
      if (q.registration !== undefined) base.registration = q.registration;
      if (q.skey !== undefined) base.skey = q.skey;
      if (q.kyber !== undefined) base.kyber = q.kyber;
    }
    base.ec = merge(base.ec, q.preKeys ?? []);
    base.kyberOneTime = merge(base.kyberOneTime, q.kyberPreKeys ?? []);
    if (base.ec.length >= lowThreshold) base.lowNotified = false;
    this.#keys.set(user, base);
    return { first: cur === undefined, reset };
  }

  /** One-time EC and one-time Kyber prekeys left (spec 7.1 count). */
  count(user: string): { ec: number; kyber: number } {
    const k = this.#keys.get(user);
    return { ec: k?.ec.length ?? 0, kyber: k?.kyberOneTime.length ?? 0 };
  }

  /**
   * A bundle as spec 7.2 hands it out: the first one-time EC and Kyber prekeys are removed; with no
   * one-time Kyber prekey left the last-resort one is used; with no EC prekey, `key` is absent.
   */
  takeBundle(user: string): KeyBundle | undefined {
    const k = this.#keys.get(user);
    if (k === undefined) return undefined;
    const key = k.ec.shift();
    const kyber = k.kyberOneTime.shift() ?? k.kyber;
    return { registration: k.registration, identity: k.identity, skey: k.skey, kyber, ...(key === undefined ? {} : { key }) };
  }

  identity(user: string): Uint8Array | undefined {
    return this.#keys.get(user)?.identity;
  }

  /**
   * True once when the one-time EC count is below `threshold` (spec 8: "sent once, until an upload
   * brings them back to 10 or more").
   */
  takeLowNotice(user: string, threshold: number): boolean {
    const k = this.#keys.get(user);
    if (k === undefined || k.lowNotified || k.ec.length >= threshold) return false;
    k.lowNotified = true;
    return true;
  }

  remove(user: string): void {
    this.#keys.delete(user);
  }
}

function checkId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 0 || id > MAX_ID) throw new UploadError(`${what}: id must be below 2^24`);
}

function ecKey(b: Uint8Array, what: string): PublicKey {
  if (b.length !== 33) throw new UploadError(`${what}: not a 33-byte public key`);
  try {
    return PublicKey.deserialize(bytes(b));
  } catch {
    throw new UploadError(`${what}: not a public key`);
  }
}

function checkSigned(identity: PublicKey, k: SignedPreKey, what: string, kind: 'ec' | 'kyber'): void {
  checkId(k.id, what);
  try {
    if (kind === 'ec') PublicKey.deserialize(bytes(k.value));
    else KEMPublicKey.deserialize(bytes(k.value));
  } catch {
    throw new UploadError(`${what}: not a public key`);
  }
  let ok: boolean;
  try {
    ok = identity.verify(bytes(k.value), bytes(k.signature));
  } catch {
    ok = false;
  }
  if (!ok) throw new UploadError(`${what}: bad signature`);
}

/** Adds keys, a new key replacing a stored one with the same id. */
function merge<T extends { id: number }>(stored: T[], added: T[]): T[] {
  if (added.length === 0) return stored;
  const ids = new Set(added.map((k) => k.id));
  return [...stored.filter((k) => !ids.has(k.id)), ...added];
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
