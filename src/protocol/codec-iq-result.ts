// `<iq type="result">` payloads, told apart by their child element (results carry no xmlns, spec 7),
// and `<iq type="error"><error code reason/></iq>`. A result without a known payload child is the
// empty result; two different payload children are a bad request.
import { DEVICE_KINDS } from './address.ts';
import { buildBundleChildren, buildDeviceList, parseBundle, parseDeviceList } from './codec-keys.ts';
import { isErrorCode, isFreeText, isKindName, isToken } from './fields.ts';
import type { Reader } from './read.ts';
import type { FeatureKind, IqResultPayload, StanzaErrorBody } from './types.ts';
import { el } from './write.ts';
import type { Writer } from './write.ts';
import type { XmlElement } from './xml.ts';

const PAYLOADS = ['count', 'list', 'devices', 'result', 'status', 'features'] as const;

export function parseErrorBody(r: Reader, e: XmlElement): StanzaErrorBody {
  const code = r.reqUint(e, 'code');
  if (!isErrorCode(code)) r.fail('error/@code must be 100–599');
  return { code, reason: r.reqCheck(e, 'reason', isToken) };
}

export function buildErrorBody(w: Writer, b: StanzaErrorBody): string {
  w.need(typeof b === 'object' && b !== null, 'error body is required');
  return el('error', [['code', String(w.valid(b.code, isErrorCode, 'error/@code'))], ['reason', w.valid(b.reason, isToken, 'error/@reason')]]);
}

export function parseIqError(r: Reader, e: XmlElement): StanzaErrorBody {
  return parseErrorBody(r, r.reqChild(e, 'error'));
}

export function buildIqError(w: Writer, b: StanzaErrorBody): string {
  return buildErrorBody(w, b);
}

function parseFeatures(r: Reader, e: XmlElement): IqResultPayload {
  const kinds = r.all(e, 'kind').map((k): FeatureKind => {
    const kind: FeatureKind = { name: r.reqCheck(k, 'name', isKindName) };
    const maxSize = r.uint(k, 'max-size');
    if (maxSize !== undefined) kind.maxSize = maxSize;
    return kind;
  });
  return { op: 'features', kinds, unsupported: r.all(e, 'unsupported').map((u) => r.reqCheck(u, 'name', isKindName)) };
}

export function parseIqResult(r: Reader, e: XmlElement): IqResultPayload {
  const present = PAYLOADS.filter((n) => r.child(e, n) !== undefined);
  if (present.length > 1) r.fail(`iq result carries both ${present.join(' and ')}`);
  const name = present[0];
  if (name === undefined) return { op: 'empty' };
  const p = r.reqChild(e, name);
  switch (name) {
    case 'count': return { op: 'count', value: r.reqUint(p, 'value'), kyber: r.reqUint(p, 'kyber') };
    case 'list': return {
      op: 'bundles',
      users: r.all(p, 'user').map((u) => {
        const jid = r.reqAddr(u, 'jid', DEVICE_KINDS);
        const error = r.child(u, 'error');
        return error === undefined ? { jid, bundle: parseBundle(r, u) } : { jid, error: parseErrorBody(r, error) };
      }),
    };
    case 'devices': return { op: 'devices', list: parseDeviceList(r, p) };
    case 'result': {
      const out: IqResultPayload = { op: 'lookup', jid: r.reqAddr(p, 'jid', ['hub-user']) };
      const name = r.attr(p, 'name');
      if (name !== undefined) out.name = name;
      return out;
    }
    case 'status': return { op: 'status', enlisted: r.reqOneOf(p, 'enlisted', ['true', 'false']) === 'true' };
    case 'features': return parseFeatures(r, p);
  }
}

export function buildIqResult(w: Writer, p: IqResultPayload): string {
  w.need(typeof p === 'object' && p !== null, 'iq result payload is required');
  switch (p.op) {
    case 'empty': return '';
    case 'count': return el('count', [['value', w.uint(p.value, 'count/@value')], ['kyber', w.uint(p.kyber, 'count/@kyber')]]);
    case 'bundles':
      w.need(Array.isArray(p.users), 'bundles: users must be an array');
      return el('list', [], p.users.map((u) => {
        const jid: [string, string] = ['jid', w.addr(u.jid, DEVICE_KINDS, 'list/user/@jid')];
        if ('error' in u && u.error !== undefined) {
          w.need(!('bundle' in u) || u.bundle === undefined, 'a user carries a bundle or an error, not both');
          return el('user', [jid], buildErrorBody(w, u.error));
        }
        w.need('bundle' in u, 'a user needs a bundle or an error');
        return el('user', [jid], buildBundleChildren(w, (u as { bundle: Parameters<typeof buildBundleChildren>[1] }).bundle));
      }).join(''));
    case 'devices': return buildDeviceList(w, p.list);
    case 'lookup': return el('result', [
      ['jid', w.addr(p.jid, ['hub-user'], 'result/@jid')],
      ['name', p.name === undefined ? undefined : w.valid(p.name, isFreeText, 'result/@name')],
    ]);
    case 'status':
      w.need(typeof p.enlisted === 'boolean', 'status/@enlisted must be a boolean');
      return el('status', [['enlisted', p.enlisted ? 'true' : 'false']]);
    case 'features':
      w.need(Array.isArray(p.kinds) && Array.isArray(p.unsupported), 'features: kinds and unsupported must be arrays');
      return el('features', [], p.kinds.map((k) => el('kind', [
        ['name', w.valid(k.name, isKindName, 'kind/@name')],
        ['max-size', k.maxSize === undefined ? undefined : w.uint(k.maxSize, 'kind/@max-size')],
      ])).join('') + p.unsupported.map((n) => el('unsupported', [['name', w.valid(n, isKindName, 'unsupported/@name')]])).join(''));
    default:
      return w.fail(`unknown iq result op ${String((p as { op: unknown }).op)}`);
  }
}

