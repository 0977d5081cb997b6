// Turns one outbound record into a HIP/1 `<message>` for every current device of the recipient
// (spec 4): content document with padding (spec 11), sessions started from fetched bundles where
// missing (spec 7.2), one Signal ciphertext per device under the per-peer locks, and the dhash.
// At most two units of work (two Redis round trips each, crypto/signal-unit.ts), whatever the
// number of devices: one encrypts for every device with a session (the session checks are part of
// it); after a single bundle fetch for the devices without one, a second starts their sessions and
// encrypts for them. The unit that completes the message may fold the caller's writes of the whole
// message (its stored frame) into its COMMIT: the frame and the ratchet steps that made it are
// stored together, in that round trip.
import type { HubConnection } from '../hub/connection.ts';
import type { RedisSignalStore } from '../crypto/redis-signal-store.ts';
import type { AfterEncryptAll, Encrypted, SignalEdge } from '../crypto/signal-edge.ts';
import type { UnitWrites } from '../crypto/unit-writes.ts';
import { computeDhash, encodeContent, type Content, type DeviceList, type KeyBundle, type OutgoingMessage } from '../protocol/index.ts';
import { deviceAddresses } from './devices.ts';
import { loadMediaRef, type OutboundRecord } from './outbox.ts';

export class NoDevicesError extends Error {
  override readonly name = 'NoDevicesError';
}

export function contentOf(r: OutboundRecord): Content {
  return {
    id: r.id,
    t: r.t,
    ...(r.message.text !== undefined ? { text: r.message.text } : {}),
    ...(r.message.replyTo ? { reply: { to: r.message.replyTo.id, sender: r.message.replyTo.sender } } : {}),
    ...(r.fallbacks && r.fallbacks.length > 0 ? { fallbacks: r.fallbacks } : {}),
    ...(r.media ? { media: loadMediaRef(r.media) } : {}),
  };
}

/**
 * `complete`, when given, runs under the locks of the unit that makes the message's last ciphertexts,
 * with the whole message; its writes are committed with that unit (see AfterEncryptAll), and their
 * `committed` has run by the time this resolves.
 */
export async function encryptMessage(
  conn: HubConnection,
  edge: SignalEdge,
  store: RedisSignalStore,
  local: string,
  r: OutboundRecord,
  devices: DeviceList,
  complete?: (m: OutgoingMessage) => UnitWrites | undefined,
): Promise<OutgoingMessage> {
  const jids = deviceAddresses(devices);
  if (jids.length === 0) throw new NoDevicesError(`${devices.jid} has no devices`);
  const plaintext = encodeContent(contentOf(r));
  const encs = new Map<string, Encrypted>();
  // Spec 4: a media message declares its kind on every enc, for the hub's accounting and limits.
  const mediatype = r.media?.kind;
  const assemble = (): OutgoingMessage => {
    const participants = [];
    for (const jid of jids) {
      const enc = encs.get(jid);
      if (!enc) throw new Error(`the bundle fetch returned nothing for ${jid}; will retry`);
      participants.push({ jid, enc: { v: 1 as const, ...enc, ...(mediatype ? { mediatype } : {}) } });
    }
    return { kind: 'message', id: r.id, to: r.peer, type: mediatype ? 'media' : 'text', t: r.t, dhash: computeDhash(jids), participants };
  };
  // Every unit records its ciphertexts; the one that completes the set hands the message over.
  const after: AfterEncryptAll = (made) => {
    for (const [jid, enc] of made) encs.set(jid, enc);
    return complete && jids.every((j) => encs.has(j)) ? complete(assemble()) : undefined;
  };
  const { without } = await edge.encryptForDevices(store, local, jids, plaintext, after);
  if (without.length > 0) {
    const res = await conn.iq({ xmlns: 'encrypt', op: 'fetch', jids: without }, 'get');
    if (res.op !== 'bundles') throw new Error(`unexpected answer to a bundle fetch: ${res.op}`);
    const bundles = new Map<string, KeyBundle>();
    for (const u of res.users) {
      if ('error' in u) throw new NoDevicesError(`no bundle for ${u.jid}: ${u.error.code} ${u.error.reason}`);
      if (without.includes(u.jid) && !bundles.has(u.jid)) bundles.set(u.jid, u.bundle);
    }
    if (bundles.size > 0) await edge.startSessionsAndEncrypt(store, local, bundles, plaintext, after);
  }
  return assemble();
}
