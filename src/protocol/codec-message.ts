// `<message>` both ways (spec 4, 5): outgoing (client → hub, `to` + `participants`) and incoming
// (hub → client, `from` + `participant` + one `enc`). A message with both `to` and `from`, or
// neither, is a bad request. Decisions (docs/protocol-notes.md): `t` and `dhash` are optional on an
// outgoing message (a missing dhash must reach the hub, which answers 409); `enc/@v` must be "1";
// `enc/@count` is any integer ≥ 1 (the hub, not the codec, enforces the 1–5 retry window);
// `mediatype` is required on every enc of a `type="media"` message and may name any kind, so the
// hub can answer 406 for one it does not carry; `offline` is "1" (true) or "0" (false).
import { DEVICE_KINDS, USER_KINDS } from './address.ts';
import { isValidDhash } from './dhash.ts';
import { isKindName, isUint } from './fields.ts';
import type { Reader } from './read.ts';
import type { Enc, EncType, IncomingMessage, MessageStanza, OutgoingMessage } from './types.ts';
import { el, textEl } from './write.ts';
import type { Writer } from './write.ts';
import type { XmlElement } from './xml.ts';

const ENC_TYPES: readonly EncType[] = ['pkmsg', 'msg', 'skmsg'];

function parseEnc(r: Reader, e: XmlElement, messageType: string): Enc {
  r.reqOneOf(e, 'v', ['1']);
  const enc: Enc = { v: 1, type: r.reqOneOf(e, 'type', ENC_TYPES), ciphertext: r.base64(e) };
  const mediatype = r.check(e, 'mediatype', isKindName);
  if (mediatype !== undefined) enc.mediatype = mediatype;
  else if (messageType === 'media') r.fail('enc/@mediatype is required on a media message');
  const count = r.uint(e, 'count');
  if (count !== undefined) {
    if (count < 1) r.fail('enc/@count must be at least 1');
    enc.count = count;
  }
  return enc;
}

function buildEnc(w: Writer, enc: Enc, messageType: string): string {
  w.need(enc.v === 1, 'enc/@v must be 1');
  w.need(enc.mediatype !== undefined || messageType !== 'media', 'enc/@mediatype is required on a media message');
  w.need(enc.count === undefined || (isUint(enc.count) && enc.count >= 1), 'enc/@count must be an integer ≥ 1');
  return textEl('enc', [
    ['v', '1'],
    ['type', w.oneOf(enc.type, ENC_TYPES, 'enc/@type')],
    ['mediatype', enc.mediatype === undefined ? undefined : w.valid(enc.mediatype, isKindName, 'enc/@mediatype')],
    ['count', w.optUint(enc.count, 'enc/@count')],
  ], w.base64(enc.ciphertext, 'enc'));
}

export function parseMessage(r: Reader, e: XmlElement): MessageStanza {
  const id = r.id(e);
  const type = r.reqCheck(e, 'type', isKindName);
  const to = r.addr(e, 'to', USER_KINDS);
  const from = r.addr(e, 'from', USER_KINDS);
  if ((to === undefined) === (from === undefined)) r.fail('message needs exactly one of to and from');
  if (from !== undefined) {
    const m: IncomingMessage = {
      kind: 'message', id, from, participant: r.reqAddr(e, 'participant', DEVICE_KINDS), type, t: r.reqUint(e, 't'),
      enc: parseEnc(r, r.reqChild(e, 'enc'), type),
    };
    const offline = r.oneOf(e, 'offline', ['0', '1']);
    if (offline !== undefined) m.offline = offline === '1';
    return m;
  }
  const m: OutgoingMessage = { kind: 'message', id, to: to as string, type, participants: [] };
  const t = r.uint(e, 't');
  if (t !== undefined) m.t = t;
  const dhash = r.check(e, 'dhash', isValidDhash);
  if (dhash !== undefined) m.dhash = dhash;
  for (const p of r.all(r.reqChild(e, 'participants'), 'to')) {
    m.participants.push({ jid: r.reqAddr(p, 'jid', DEVICE_KINDS), enc: parseEnc(r, r.reqChild(p, 'enc'), type) });
  }
  return m;
}

export function buildMessage(w: Writer, s: MessageStanza): string {
  const id = w.id(s.id, 'message/@id');
  const type = w.valid(s.type, isKindName, 'message/@type');
  if ('from' in s && s.from !== undefined) {
    w.need(!('to' in s) || (s as { to?: unknown }).to === undefined, 'message needs exactly one of to and from');
    w.need(s.offline === undefined || typeof s.offline === 'boolean', 'message/@offline must be a boolean');
    return el('message', [
      ['id', id], ['from', w.addr(s.from, USER_KINDS, 'message/@from')],
      ['participant', w.addr(s.participant, DEVICE_KINDS, 'message/@participant')],
      ['type', type], ['t', w.uint(s.t, 'message/@t')],
      ['offline', s.offline === undefined ? undefined : s.offline ? '1' : '0'],
    ], buildEnc(w, s.enc, type));
  }
  const out = s as OutgoingMessage;
  w.need(Array.isArray(out.participants), 'message/participants is required');
  const participants = out.participants
    .map((p) => el('to', [['jid', w.addr(p.jid, DEVICE_KINDS, 'participants/to/@jid')]], buildEnc(w, p.enc, type)))
    .join('');
  return el('message', [
    ['id', id], ['to', w.addr(out.to, USER_KINDS, 'message/@to')], ['type', type],
    ['t', w.optUint(out.t, 'message/@t')],
    ['dhash', out.dhash === undefined ? undefined : w.valid(out.dhash, isValidDhash, 'message/@dhash')],
  ], el('participants', [], participants));
}
