// `<receipt>` (spec 6) and `<ack>` (spec 3, 4, 5, 6, 8), both directions.
// Receipts: exactly one of `to` (client → hub) and `from` (hub → client); no `type` attribute means
// a delivery receipt; `<retry>` and `<registration>` are required on (and only read from) retry
// receipts, `<keys>` is optional there. Acks: for class "receipt" the parsed `type` is always set
// ('delivery' when the attribute is absent) so an ack matches its receipt with ===; on other
// classes `type` is ignored when parsing and refused when building. Decisions: docs/protocol-notes.md.
import { DEVICE_KINDS, USER_KINDS } from './address.ts';
import { buildBundleChildren, buildDeviceList, buildRegistration, parseBundle, parseDeviceList, parseRegistration } from './codec-keys.ts';
import { isAckClass, isErrorCode, isToken, isUint } from './fields.ts';
import { isValidId } from './ids.ts';
import type { Reader } from './read.ts';
import type { AckStanza, ReceiptStanza, ReceiptType } from './types.ts';
import { el } from './write.ts';
import type { Writer } from './write.ts';
import type { XmlElement } from './xml.ts';

/** Receipt types as written on the wire ('delivery' is the absence of the attribute). */
const WIRE_RECEIPT_TYPES = ['read', 'played', 'retry'] as const;
const RECEIPT_TYPES: readonly ReceiptType[] = ['delivery', ...WIRE_RECEIPT_TYPES];

function wireType(w: Writer, t: unknown, what: string): string | undefined {
  const type = w.oneOf(t, RECEIPT_TYPES, what);
  return type === 'delivery' ? undefined : type;
}

export function parseReceipt(r: Reader, e: XmlElement): ReceiptStanza {
  const out: ReceiptStanza = { kind: 'receipt', id: r.id(e), type: r.oneOf(e, 'type', WIRE_RECEIPT_TYPES) ?? 'delivery' };
  const to = r.addr(e, 'to', USER_KINDS);
  const from = r.addr(e, 'from', USER_KINDS);
  if ((to === undefined) === (from === undefined)) r.fail('receipt needs exactly one of to and from');
  if (to !== undefined) out.to = to;
  if (from !== undefined) out.from = from;
  const participant = r.addr(e, 'participant', DEVICE_KINDS);
  if (participant !== undefined) out.participant = participant;
  const t = r.uint(e, 't');
  if (t !== undefined) out.t = t;
  const list = r.child(e, 'list');
  if (list !== undefined) out.list = r.all(list, 'item').map((item) => r.id(item));
  if (out.type === 'retry') {
    const retry = r.reqChild(e, 'retry');
    const count = r.reqUint(retry, 'count');
    if (count < 1) r.fail('retry/@count must be at least 1');
    out.retry = { count, t: r.reqUint(retry, 't') };
    out.registration = parseRegistration(r, r.reqChild(e, 'registration'));
    const keys = r.child(e, 'keys');
    if (keys !== undefined) out.keys = parseBundle(r, keys);
  }
  return out;
}

export function buildReceipt(w: Writer, s: ReceiptStanza): string {
  w.need((s.to === undefined) !== (s.from === undefined), 'receipt needs exactly one of to and from');
  const type = wireType(w, s.type, 'receipt/@type');
  let children = '';
  if (s.list !== undefined) {
    w.need(Array.isArray(s.list), 'receipt/list must be an array');
    children += el('list', [], s.list.map((id) => el('item', [['id', w.id(id, 'receipt/list/item/@id')]])).join(''));
  }
  if (s.type === 'retry') {
    w.need(s.retry !== undefined && s.registration !== undefined, 'a retry receipt needs retry and registration');
    const retry = s.retry as { count: number; t: number };
    w.need(isUint(retry.count) && retry.count >= 1, 'retry/@count must be an integer ≥ 1');
    children += el('retry', [['count', w.uint(retry.count, 'retry/@count')], ['t', w.uint(retry.t, 'retry/@t')]]);
    children += buildRegistration(w, s.registration as number);
    if (s.keys !== undefined) children += el('keys', [], buildBundleChildren(w, s.keys));
  } else {
    w.need(s.retry === undefined && s.registration === undefined && s.keys === undefined, 'retry, registration and keys belong to retry receipts only');
  }
  return el('receipt', [
    ['id', w.id(s.id, 'receipt/@id')],
    ['to', w.optAddr(s.to, USER_KINDS, 'receipt/@to')],
    ['from', w.optAddr(s.from, USER_KINDS, 'receipt/@from')],
    ['participant', w.optAddr(s.participant, DEVICE_KINDS, 'receipt/@participant')],
    ['type', type],
    ['t', w.optUint(s.t, 'receipt/@t')],
  ], children);
}

export function parseAck(r: Reader, e: XmlElement): AckStanza {
  const out: AckStanza = { kind: 'ack', class: r.reqCheck(e, 'class', isAckClass) };
  const id = r.check(e, 'id', isValidId);
  if (id !== undefined) out.id = id;
  const t = r.uint(e, 't');
  if (t !== undefined) out.t = t;
  if (out.class === 'receipt') out.type = r.oneOf(e, 'type', WIRE_RECEIPT_TYPES) ?? 'delivery';
  const to = r.addr(e, 'to', USER_KINDS);
  if (to !== undefined) out.to = to;
  const from = r.addr(e, 'from', USER_KINDS);
  if (from !== undefined) out.from = from;
  const participant = r.addr(e, 'participant', DEVICE_KINDS);
  if (participant !== undefined) out.participant = participant;
  const error = r.uint(e, 'error');
  if (error !== undefined) {
    if (!isErrorCode(error)) r.fail('ack/@error must be 100–599');
    out.error = error;
  }
  const reason = r.check(e, 'reason', isToken);
  if (reason !== undefined) out.reason = reason;
  const retryAfter = r.uint(e, 'retry-after');
  if (retryAfter !== undefined) out.retryAfter = retryAfter;
  const unsupported = r.child(e, 'unsupported');
  if (unsupported !== undefined) out.unsupported = r.reqCheck(unsupported, 'feature', isToken);
  const devices = r.child(e, 'devices');
  if (devices !== undefined) out.devices = parseDeviceList(r, devices);
  return out;
}

export function buildAck(w: Writer, s: AckStanza): string {
  const cls = w.valid(s.class, isAckClass, 'ack/@class');
  w.need(s.type === undefined || cls === 'receipt', 'ack/@type belongs to receipt acks only');
  let children = '';
  if (s.unsupported !== undefined) children += el('unsupported', [['feature', w.valid(s.unsupported, isToken, 'unsupported/@feature')]]);
  if (s.devices !== undefined) children += buildDeviceList(w, s.devices);
  return el('ack', [
    ['class', cls],
    ['id', s.id === undefined ? undefined : w.id(s.id, 'ack/@id')],
    ['t', w.optUint(s.t, 'ack/@t')],
    ['type', s.type === undefined ? undefined : wireType(w, s.type, 'ack/@type')],
    ['to', w.optAddr(s.to, USER_KINDS, 'ack/@to')],
    ['from', w.optAddr(s.from, USER_KINDS, 'ack/@from')],
    ['participant', w.optAddr(s.participant, DEVICE_KINDS, 'ack/@participant')],
    ['error', s.error === undefined ? undefined : w.valid(s.error, isErrorCode, 'ack/@error').toString()],
    ['reason', s.reason === undefined ? undefined : w.valid(s.reason, isToken, 'ack/@reason')],
    ['retry-after', w.optUint(s.retryAfter, 'ack/@retry-after')],
  ], children);
}
