// `<notification>` (spec 8), hub → client, both ways. The `type` attribute selects the shape; an
// unknown type is a bad request (the error still carries root and id, so a client can ack it).
// `t` is optional on every type (our decision, docs/protocol-notes.md).
import { USER_KINDS } from './address.ts';
import { isValidDhash } from './dhash.ts';
import { isFreeText, isProviderId } from './fields.ts';
import type { Reader } from './read.ts';
import type { NotificationStanza } from './types.ts';
import { el } from './write.ts';
import type { Writer } from './write.ts';
import type { XmlElement } from './xml.ts';

const TYPES = ['encrypt', 'identity', 'devices', 'interop', 'providers'] as const;
const INTEROP_STATES = ['enabled', 'disabled'] as const;

export function parseNotification(r: Reader, e: XmlElement): NotificationStanza {
  const id = r.id(e);
  const type = r.reqOneOf(e, 'type', TYPES);
  let n: NotificationStanza;
  switch (type) {
    case 'encrypt': {
      const c = r.reqChild(e, 'count');
      n = { kind: 'notification', id, type, count: { value: r.reqUint(c, 'value'), kyber: r.reqUint(c, 'kyber') } };
      break;
    }
    case 'identity':
      n = { kind: 'notification', id, type, from: r.reqAddr(e, 'from', USER_KINDS) };
      break;
    case 'devices':
      n = { kind: 'notification', id, type, from: r.reqAddr(e, 'from', USER_KINDS), dhash: r.reqCheck(e, 'dhash', isValidDhash) };
      break;
    case 'interop':
      n = { kind: 'notification', id, type, from: r.reqAddr(e, 'from', USER_KINDS), state: r.reqOneOf(e, 'state', INTEROP_STATES) };
      break;
    case 'providers':
      n = {
        kind: 'notification', id, type,
        providers: r.all(e, 'provider').map((p) => ({ id: r.reqCheck(p, 'id', isProviderId), name: r.req(p, 'name') })),
      };
      break;
  }
  const t = r.uint(e, 't');
  if (t !== undefined) n.t = t;
  return n;
}

export function buildNotification(w: Writer, n: NotificationStanza): string {
  const attrs: Array<[string, string | undefined]> = [
    ['id', w.id(n.id, 'notification/@id')],
    ['type', w.oneOf(n.type, TYPES, 'notification/@type')],
    ['t', w.optUint(n.t, 'notification/@t')],
  ];
  switch (n.type) {
    case 'encrypt':
      w.need(typeof n.count === 'object' && n.count !== null, 'notification/count is required');
      return el('notification', attrs, el('count', [['value', w.uint(n.count.value, 'count/@value')], ['kyber', w.uint(n.count.kyber, 'count/@kyber')]]));
    case 'identity':
      return el('notification', [...attrs, ['from', w.addr(n.from, USER_KINDS, 'notification/@from')]]);
    case 'devices':
      return el('notification', [...attrs, ['from', w.addr(n.from, USER_KINDS, 'notification/@from')], ['dhash', w.valid(n.dhash, isValidDhash, 'notification/@dhash')]]);
    case 'interop':
      return el('notification', [...attrs, ['from', w.addr(n.from, USER_KINDS, 'notification/@from')], ['state', w.oneOf(n.state, INTEROP_STATES, 'notification/@state')]]);
    case 'providers':
      w.need(Array.isArray(n.providers), 'notification providers must be an array');
      return el('notification', attrs, n.providers.map((p) => el('provider', [
        ['id', w.valid(p.id, isProviderId, 'provider/@id')],
        ['name', w.valid(p.name, isFreeText, 'provider/@name')],
      ])).join(''));
  }
}
