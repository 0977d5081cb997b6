// Key material and device lists shared by iq payloads, retry receipts and acks (spec 6.2, 7):
// prekeys, signed prekeys, a device's bundle (children of `user` in 7.2), and `<devices>` (7.3).
// Decision (docs/protocol-notes.md): the codec checks base64 and id ranges (prekey ids below 2^24,
// registration exactly 4 bytes); key and signature lengths are the crypto layer's to judge.
import { MAX_DEVICE, USER_KINDS } from './address.ts';
import { isValidDhash } from './dhash.ts';
import { MAX_PREKEY_ID, MAX_REGISTRATION } from './fields.ts';
import type { Reader } from './read.ts';
import type { DeviceList, KeyBundle, PreKey, SignedPreKey } from './types.ts';
import { el, textEl } from './write.ts';
import type { Writer } from './write.ts';
import type { XmlElement } from './xml.ts';

/** `<registration>`: 4 bytes big-endian. */
export function parseRegistration(r: Reader, e: XmlElement): number {
  const b = r.base64(e);
  if (b.length !== 4) r.fail('registration must be 4 bytes');
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, false);
}

export function buildRegistration(w: Writer, n: number): string {
  w.uint(n, 'registration', MAX_REGISTRATION);
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, false);
  return textEl('registration', [], w.base64(b, 'registration'));
}

export function parsePreKey(r: Reader, e: XmlElement): PreKey {
  return { id: r.uintText(r.reqChild(e, 'id'), MAX_PREKEY_ID), value: r.base64(r.reqChild(e, 'value')) };
}

export function buildPreKey(w: Writer, name: string, k: PreKey): string {
  return el(name, [], textEl('id', [], w.uint(k.id, `${name}/id`, MAX_PREKEY_ID)) + textEl('value', [], w.base64(k.value, `${name}/value`)));
}

export function parseSignedPreKey(r: Reader, e: XmlElement): SignedPreKey {
  return { ...parsePreKey(r, e), signature: r.base64(r.reqChild(e, 'signature')) };
}

export function buildSignedPreKey(w: Writer, name: string, k: SignedPreKey): string {
  return el(name, [],
    textEl('id', [], w.uint(k.id, `${name}/id`, MAX_PREKEY_ID))
    + textEl('value', [], w.base64(k.value, `${name}/value`))
    + textEl('signature', [], w.base64(k.signature, `${name}/signature`)));
}

/** The children of a 7.2 `user` element (also `<keys>` of a retry receipt). */
export function parseBundle(r: Reader, e: XmlElement): KeyBundle {
  const bundle: KeyBundle = {
    registration: parseRegistration(r, r.reqChild(e, 'registration')),
    identity: r.base64(r.reqChild(e, 'identity')),
    skey: parseSignedPreKey(r, r.reqChild(e, 'skey')),
    kyber: parseSignedPreKey(r, r.reqChild(e, 'kyber')),
  };
  const key = r.child(e, 'key');
  if (key !== undefined) bundle.key = parsePreKey(r, key);
  return bundle;
}

export function buildBundleChildren(w: Writer, b: KeyBundle): string {
  w.need(typeof b === 'object' && b !== null, 'bundle is required');
  return buildRegistration(w, b.registration)
    + textEl('identity', [], w.base64(b.identity, 'identity'))
    + buildSignedPreKey(w, 'skey', b.skey)
    + buildSignedPreKey(w, 'kyber', b.kyber)
    + (b.key === undefined ? '' : buildPreKey(w, 'key', b.key));
}

/** `<devices jid dhash><device id/>…</devices>` (spec 7.3, and the 409 ack of spec 4). */
export function parseDeviceList(r: Reader, e: XmlElement): DeviceList {
  return {
    jid: r.reqAddr(e, 'jid', USER_KINDS),
    dhash: r.reqCheck(e, 'dhash', isValidDhash),
    devices: r.all(e, 'device').map((d) => r.reqUint(d, 'id', MAX_DEVICE)),
  };
}

export function buildDeviceList(w: Writer, l: DeviceList): string {
  w.need(typeof l === 'object' && l !== null && Array.isArray(l.devices), 'devices is required');
  return el('devices', [
    ['jid', w.addr(l.jid, USER_KINDS, 'devices/@jid')],
    ['dhash', w.valid(l.dhash, isValidDhash, 'devices/@dhash')],
  ], l.devices.map((d) => el('device', [['id', w.uint(d, 'device/@id', MAX_DEVICE)]])).join(''));
}
