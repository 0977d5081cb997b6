// Turns one outbound record into a HIP/1 `<message>` for every current device of the recipient
// (spec 4): content document with padding (spec 11), sessions started from fetched bundles where
// missing (spec 7.2), one Signal ciphertext per device under the per-peer lock, and the dhash.
// A device with a session costs one unit of work (two Redis round trips, crypto/signal-unit.ts):
// the session check is part of the encrypt; a device without one gets its session started and its
// ciphertext made in one unit after a single bundle fetch for all such devices.
import type { HubConnection } from '../hub/connection.ts';
import type { RedisSignalStore } from '../crypto/redis-signal-store.ts';
import type { Encrypted, SignalEdge } from '../crypto/signal-edge.ts';
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

export async function encryptMessage(
  conn: HubConnection,
  edge: SignalEdge,
  store: RedisSignalStore,
  local: string,
  r: OutboundRecord,
  devices: DeviceList,
): Promise<OutgoingMessage> {
  const jids = deviceAddresses(devices);
  if (jids.length === 0) throw new NoDevicesError(`${devices.jid} has no devices`);
  const plaintext = encodeContent(contentOf(r));
  const encs = new Map<string, Encrypted>();
  const missing: string[] = [];
  for (const jid of jids) {
    const enc = await edge.encryptIfSession(store, local, jid, plaintext);
    if (enc) encs.set(jid, enc);
    else missing.push(jid);
  }
  if (missing.length > 0) {
    const res = await conn.iq({ xmlns: 'encrypt', op: 'fetch', jids: missing }, 'get');
    if (res.op !== 'bundles') throw new Error(`unexpected answer to a bundle fetch: ${res.op}`);
    for (const u of res.users) {
      if ('error' in u) throw new NoDevicesError(`no bundle for ${u.jid}: ${u.error.code} ${u.error.reason}`);
      if (missing.includes(u.jid)) encs.set(u.jid, await edge.startSessionAndEncrypt(store, local, u.jid, u.bundle, plaintext));
    }
  }
  const participants = [];
  // Spec 4: a media message declares its kind on every enc, for the hub's accounting and limits.
  const mediatype = r.media?.kind;
  for (const jid of jids) {
    const enc = encs.get(jid);
    if (!enc) throw new Error(`the bundle fetch returned nothing for ${jid}; will retry`);
    participants.push({ jid, enc: { v: 1 as const, ...enc, ...(mediatype ? { mediatype } : {}) } });
  }
  return { kind: 'message', id: r.id, to: r.peer, type: mediatype ? 'media' : 'text', t: r.t, dhash: computeDhash(jids), participants };
}
