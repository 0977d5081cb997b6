// `<iq>` requests (spec 7, 10, 11) both ways. The query is told apart by `xmlns`, `type` and its
// payload child; a request whose type does not fit its op, an unknown xmlns, or two competing
// payload children is a bad request. Answers (type result/error) live in codec-iq-result.ts.
import { DEVICE_KINDS } from './address.ts';
import { buildPreKey, buildRegistration, buildSignedPreKey, parsePreKey, parseRegistration, parseSignedPreKey } from './codec-keys.ts';
import { buildIqError, buildIqResult, parseIqError, parseIqResult } from './codec-iq-result.ts';
import { isPhone } from './fields.ts';
import type { Reader } from './read.ts';
import { IQ_OP_TYPE } from './types.ts';
import type { IqQuery, IqRequest, IqStanza } from './types.ts';
import { el, textEl } from './write.ts';
import type { Writer } from './write.ts';
import type { XmlElement } from './xml.ts';

const IQ_TYPES = ['get', 'set', 'result', 'error'] as const;

/** Users whose devices can be listed (spec 7.3). */
const DEVICE_OWNER_KINDS = ['hub-user', 'provider-user'] as const;

/** Which of `names` occur among the children; more than one is ambiguous. */
function pick(r: Reader, e: XmlElement, names: readonly string[]): string | undefined {
  const present = names.filter((n) => r.child(e, n) !== undefined);
  if (present.length > 1) r.fail(`iq carries both ${present.join(' and ')}`);
  return present[0];
}

function parseUpload(r: Reader, e: XmlElement): IqQuery {
  const q: Extract<IqQuery, { op: 'upload' }> = { xmlns: 'encrypt', op: 'upload' };
  const registration = r.child(e, 'registration');
  if (registration !== undefined) q.registration = parseRegistration(r, registration);
  const identity = r.child(e, 'identity');
  if (identity !== undefined) q.identity = r.base64(identity);
  const skey = r.child(e, 'skey');
  if (skey !== undefined) q.skey = parseSignedPreKey(r, skey);
  const kyber = r.child(e, 'kyber');
  if (kyber !== undefined) q.kyber = parseSignedPreKey(r, kyber);
  const list = r.child(e, 'list');
  if (list !== undefined) q.preKeys = r.all(list, 'key').map((k) => parsePreKey(r, k));
  const kyberList = r.child(e, 'kyber-list');
  if (kyberList !== undefined) q.kyberPreKeys = r.all(kyberList, 'kyber').map((k) => parseSignedPreKey(r, k));
  return q;
}

function parseQuery(r: Reader, e: XmlElement, type: 'get' | 'set'): IqQuery {
  const xmlns = r.req(e, 'xmlns');
  let q: IqQuery | undefined;
  if (xmlns === 'encrypt') {
    if (type === 'set') q = parseUpload(r, e);
    else {
      const child = pick(r, e, ['count', 'key']);
      if (child === 'count') q = { xmlns, op: 'count' };
      else if (child === 'key') q = { xmlns, op: 'fetch', jids: r.all(r.reqChild(e, 'key'), 'user').map((u) => r.reqAddr(u, 'jid', DEVICE_KINDS)) };
    }
  } else if (xmlns === 'devices') {
    q = { xmlns, op: 'devices', jid: r.reqAddr(r.reqChild(e, 'user'), 'jid', DEVICE_OWNER_KINDS) };
  } else if (xmlns === 'directory') {
    q = { xmlns, op: 'lookup', phone: r.reqCheck(r.reqChild(e, 'lookup'), 'phone', isPhone) };
  } else if (xmlns === 'interop') {
    const child = pick(r, e, ['enlist', 'delist', 'status']);
    if (child === 'enlist' || child === 'delist' || child === 'status') q = { xmlns, op: child };
  } else if (xmlns === 'features') {
    q = { xmlns, op: 'features' };
  } else {
    r.fail(`unknown iq xmlns ${JSON.stringify(xmlns.slice(0, 64))}`);
  }
  if (q === undefined) r.fail(`iq ${xmlns}/${type} without a known payload`);
  if (IQ_OP_TYPE[q.op] !== type) r.fail(`iq ${xmlns} ${q.op} must be type ${IQ_OP_TYPE[q.op]}`);
  return q;
}

export function parseIq(r: Reader, e: XmlElement): IqStanza {
  const id = r.id(e);
  const type = r.reqOneOf(e, 'type', IQ_TYPES);
  if (type === 'result') return { kind: 'iq', id, type, result: parseIqResult(r, e) };
  if (type === 'error') return { kind: 'iq', id, type, error: parseIqError(r, e) };
  return { kind: 'iq', id, type, query: parseQuery(r, e, type) };
}

function buildQuery(w: Writer, q: IqQuery): string {
  switch (q.op) {
    case 'upload':
      return (q.registration === undefined ? '' : buildRegistration(w, q.registration))
        + (q.identity === undefined ? '' : textEl('identity', [], w.base64(q.identity, 'identity')))
        + (q.skey === undefined ? '' : buildSignedPreKey(w, 'skey', q.skey))
        + (q.kyber === undefined ? '' : buildSignedPreKey(w, 'kyber', q.kyber))
        + (q.preKeys === undefined ? '' : el('list', [], q.preKeys.map((k) => buildPreKey(w, 'key', k)).join('')))
        + (q.kyberPreKeys === undefined ? '' : el('kyber-list', [], q.kyberPreKeys.map((k) => buildSignedPreKey(w, 'kyber', k)).join('')));
    case 'count': return el('count', []);
    case 'fetch': return el('key', [], q.jids.map((j) => el('user', [['jid', w.addr(j, DEVICE_KINDS, 'key/user/@jid')]])).join(''));
    case 'devices': return el('user', [['jid', w.addr(q.jid, DEVICE_OWNER_KINDS, 'user/@jid')]]);
    case 'lookup': return el('lookup', [['phone', w.valid(q.phone, isPhone, 'lookup/@phone')]]);
    case 'enlist': case 'delist': case 'status': return el(q.op, []);
    case 'features': return '';
  }
}

/** Expected xmlns of each op (spec 7, 10, 11). */
const OP_XMLNS: Record<IqQuery['op'], IqQuery['xmlns']> = {
  upload: 'encrypt', count: 'encrypt', fetch: 'encrypt', devices: 'devices', lookup: 'directory',
  enlist: 'interop', delist: 'interop', status: 'interop', features: 'features',
};

function buildRequest(w: Writer, s: IqRequest): string {
  const q = s.query;
  w.need(typeof q === 'object' && q !== null && Object.hasOwn(OP_XMLNS, q.op), 'iq/query: unknown op');
  w.need(OP_XMLNS[q.op] === q.xmlns, `iq ${q.op} must have xmlns ${OP_XMLNS[q.op]}`);
  w.need(IQ_OP_TYPE[q.op] === s.type, `iq ${q.op} must be type ${IQ_OP_TYPE[q.op]}`);
  if (q.op === 'fetch') w.need(Array.isArray(q.jids), 'iq fetch: jids must be an array');
  if (q.op === 'upload') {
    w.need(q.preKeys === undefined || Array.isArray(q.preKeys), 'iq upload: preKeys must be an array');
    w.need(q.kyberPreKeys === undefined || Array.isArray(q.kyberPreKeys), 'iq upload: kyberPreKeys must be an array');
  }
  return el('iq', [['id', w.id(s.id, 'iq/@id')], ['type', s.type], ['xmlns', q.xmlns]], buildQuery(w, q));
}

export function buildIq(w: Writer, s: IqStanza): string {
  if (s.type === 'result') return el('iq', [['id', w.id(s.id, 'iq/@id')], ['type', 'result']], buildIqResult(w, s.result));
  if (s.type === 'error') return el('iq', [['id', w.id(s.id, 'iq/@id')], ['type', 'error']], buildIqError(w, s.error));
  w.need(s.type === 'get' || s.type === 'set', 'iq/@type must be get, set, result or error');
  return buildRequest(w, s);
}
