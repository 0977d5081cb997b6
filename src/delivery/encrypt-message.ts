// Turns one outbound record into a HIP/1 `<message>` for every current device of the recipient
// (spec 4): content document with padding (spec 11), sessions started from fetched bundles where
// missing (spec 7.2), one Signal ciphertext per device under the per-peer lock, and the dhash.
// A device with a session costs one unit of work (two Redis round trips, crypto/signal-unit.ts):
// the session check is part of the encrypt; a device without one gets its session started and its
// ciphertext made in one unit after a single bundle fetch for all such devices. The unit that makes
// the last ciphertext may fold the caller's writes of the whole message (its stored frame) into
// its COMMIT: the frame and the ratchet step that made it are stored together, in that round trip.
import type { HubConnection } from '../hub/connection.ts';
import type { RedisSignalStore } from '../crypto/redis-signal-store.ts';
import type { AfterEncrypt, Encrypted, SignalEdge } from '../crypto/signal-edge.ts';
import type { UnitWrites } from '../crypto/unit-writes.ts';
import { computeDhash, encodeContent, type Content, type DeviceList, type OutgoingMessage } from '../protocol/index.ts';
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
 * `complete`, when given, runs under the lock of the unit that makes the message's last ciphertext,
 * with the whole message; its writes are committed with that unit (see AfterEncrypt).
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
  // Every unit records its ciphertext; the one that completes the set hands the message over.
  const after = (jid: string): AfterEncrypt => (enc) => {
    encs.set(jid, enc);
    return complete && encs.size === jids.length ? complete(assemble()) : undefined;
  };
  const missing: string[] = [];
  for (const jid of jids) {
    if (!(await edge.encryptIfSession(store, local, jid, plaintext, after(jid)))) missing.push(jid);
  }
  if (missing.length > 0) {
    const res = await conn.iq({ xmlns: 'encrypt', op: 'fetch', jids: missing }, 'get');
    if (res.op !== 'bundles') throw new Error(`unexpected answer to a bundle fetch: ${res.op}`);
    for (const u of res.users) {
      if ('error' in u) throw new NoDevicesError(`no bundle for ${u.jid}: ${u.error.code} ${u.error.reason}`);
      if (missing.includes(u.jid) && !encs.has(u.jid)) await edge.startSessionAndEncrypt(store, local, u.jid, u.bundle, plaintext, after(u.jid));
    }
  }
  return assemble();
}
