// Signal identities of provider users (spec 7.1): a registration id and identity key pair, a signed
// EC prekey, a signed last-resort Kyber prekey, and batches of one-time EC and Kyber prekeys. Every
// private part goes into the user's RedisSignalStore (sealed at rest); what returns is the upload
// payload for the hub. Prekey ids are below 2^24 (spec 7.1) and allocated from counters kept with
// the account, so a replica that takes over never reuses an id.
import { randomInt } from 'node:crypto';
import { IdentityKeyPair, KEMKeyPair, KyberPreKeyRecord, PreKeyRecord, PrivateKey, SignedPreKeyRecord } from '@signalapp/libsignal-client';
import type { IqQuery, PreKey, SignedPreKey } from '../protocol/types.ts';
import type { RedisSignalStore } from './redis-signal-store.ts';

export type UploadQuery = Extract<IqQuery, { op: 'upload' }>;

const ID_SPACE = 0xffffff;

async function nextId(store: RedisSignalStore, marker: string): Promise<number> {
  return (await nextIds(store, marker, 1))[0] as number;
}

// The counter is advanced with a compare-and-set (updateMarker): two top-ups running at once (the
// hub's `encrypt` notification and the session-open upkeep, or two replicas) must not get the same
// ids, or the later one overwrites the private keys that the earlier one uploaded.
async function nextIds(store: RedisSignalStore, marker: string, n: number): Promise<number[]> {
  if (n <= 0) return [];
  let ids: number[] = [];
  await store.updateMarker(marker, (cur) => {
    const first = cur ?? randomInt(1, ID_SPACE >>> 1);
    ids = Array.from({ length: n }, (_, i) => ((first + i) % ID_SPACE) + 1);
    return ids[n - 1] as number;
  });
  return ids;
}

async function newSignedPreKey(store: RedisSignalStore, identity: PrivateKey): Promise<SignedPreKey> {
  const id = await nextId(store, 'next-spk');
  const priv = PrivateKey.generate();
  const pub = priv.getPublicKey();
  const signature = identity.sign(pub.serialize());
  await store.signedPreKeys.saveSignedPreKey(id, SignedPreKeyRecord.new(id, Date.now(), pub, priv, signature));
  await store.setMarker('active-spk', id);
  return { id, value: pub.serialize(), signature };
}

async function newKyberPreKey(store: RedisSignalStore, identity: PrivateKey, id: number): Promise<SignedPreKey> {
  const pair = KEMKeyPair.generate();
  const value = pair.getPublicKey().serialize();
  const signature = identity.sign(value);
  await store.kyberPreKeys.saveKyberPreKey(id, KyberPreKeyRecord.new(id, Date.now(), pair, signature));
  return { id, value, signature };
}

async function newPreKeys(store: RedisSignalStore, identity: PrivateKey, ec: number, kyber: number): Promise<{ preKeys: PreKey[]; kyberPreKeys: SignedPreKey[] }> {
  const preKeys: PreKey[] = [];
  for (const id of await nextIds(store, 'next-prekey', ec)) {
    const priv = PrivateKey.generate();
    await store.preKeys.savePreKey(id, PreKeyRecord.new(id, priv.getPublicKey(), priv));
    preKeys.push({ id, value: priv.getPublicKey().serialize() });
  }
  const kyberPreKeys: SignedPreKey[] = [];
  for (const id of await nextIds(store, 'next-kyber', kyber)) kyberPreKeys.push(await newKyberPreKey(store, identity, id));
  return { preKeys, kyberPreKeys };
}

/** Creates the user's identity and first keys; the payload is a complete first upload (7.1). */
export async function createAccount(store: RedisSignalStore, opts: { preKeys: number; kyberPreKeys: number }): Promise<UploadQuery> {
  const pair = IdentityKeyPair.generate();
  const registration = randomInt(1, 16380);
  await store.saveAccount(pair.privateKey, registration);
  const skey = await newSignedPreKey(store, pair.privateKey);
  const lastResortId = await nextId(store, 'next-kyber');
  const kyber = await newKyberPreKey(store, pair.privateKey, lastResortId);
  await store.markLastResortKyber(lastResortId);
  const batch = await newPreKeys(store, pair.privateKey, opts.preKeys, opts.kyberPreKeys);
  return { xmlns: 'encrypt', op: 'upload', registration, identity: pair.publicKey.serialize(), skey, kyber, ...batch };
}

/** More one-time prekeys (after the hub's `encrypt` notification or a low count). */
export async function replenishPreKeys(store: RedisSignalStore, ec: number, kyber: number): Promise<UploadQuery> {
  const identity = await store.identities.getIdentityKey();
  return { xmlns: 'encrypt', op: 'upload', ...(await newPreKeys(store, identity, ec, kyber)) };
}

/**
 * New signed EC and last-resort Kyber prekeys (scheduled rotation). The previous ones stay in the
 * store so that PreKey messages built from an older bundle still decrypt. The `rotated-at` marker
 * is the caller's to set, once the hub accepted the upload: set here, a failed upload would put
 * the next rotation off by a whole period.
 */
export async function rotateSignedPreKeys(store: RedisSignalStore): Promise<UploadQuery> {
  const identity = await store.identities.getIdentityKey();
  const skey = await newSignedPreKey(store, identity);
  const id = await nextId(store, 'next-kyber');
  const kyber = await newKyberPreKey(store, identity, id);
  await store.markLastResortKyber(id);
  return { xmlns: 'encrypt', op: 'upload', skey, kyber };
}

/**
 * A complete upload for an existing identity (after a delist the hub has dropped the user's keys,
 * spec 10): the same identity and registration id, fresh signed prekeys and one-time prekeys.
 */
export async function reuploadAccount(store: RedisSignalStore, opts: { preKeys: number; kyberPreKeys: number }): Promise<UploadQuery> {
  const identityKey = await store.identities.getIdentityKey();
  const registration = await store.identities.getLocalRegistrationId();
  const rotated = await rotateSignedPreKeys(store);
  const batch = await newPreKeys(store, identityKey, opts.preKeys, opts.kyberPreKeys);
  return { ...rotated, registration, identity: identityKey.getPublicKey().serialize(), ...batch };
}
