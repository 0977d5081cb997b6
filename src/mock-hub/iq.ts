// iq requests from provider clients (spec 7, 10, 11): dispatch by op, and the directory, interop
// and features answers. Every answer is an iq with the request's id: `result` with the payload or
// `error` with <error code reason/>.
// Decisions (docs/mock-hub.md): enlist without uploaded keys is 400 bad-request; a lookup with a
// phone that is not E.164 is 400; delist also forgets the user's contacts and stored stanzas.
import { MEDIA_KINDS, parseAddress } from '../protocol/index.ts';
import type { FeatureKind, IqError, IqRequest, IqResult } from '../protocol/index.ts';
import type { HubContext } from './context.ts';
import { count, fetchBundles, upload } from './iq-keys.ts';
import type { IqAnswer } from './iq-keys.ts';
import { unsupportedKinds } from './router.ts';
import type { Sender } from './router.ts';

export function handleIq(ctx: HubContext, sender: Sender, iq: IqRequest): IqResult | IqError {
  const a = answer(ctx, sender, iq);
  return 'result' in a
    ? { kind: 'iq', id: iq.id, type: 'result', result: a.result }
    : { kind: 'iq', id: iq.id, type: 'error', error: a.error };
}

function answer(ctx: HubContext, sender: Sender, iq: IqRequest): IqAnswer {
  const q = iq.query;
  switch (q.op) {
    case 'upload':
      return upload(ctx, sender, q);
    case 'count':
      return count(ctx, sender);
    case 'fetch':
      return fetchBundles(ctx, sender, q.jids);
    case 'devices': {
      // provider users are not reachable from provider users (docs/mock-hub.md): 404 as for unknown
      const kind = parseAddress(q.jid)?.kind;
      if (kind !== 'hub-user') return kind === 'provider-user' ? notFound() : { error: { code: 400, reason: 'bad-request' } };
      const user = ctx.directory.hubUser(q.jid);
      if (!ctx.directory.reachable(user, sender.provider)) return notFound();
      return { result: { op: 'devices', list: ctx.directory.deviceList(user) } };
    }
    case 'lookup': {
      const m = /^\+?([1-9][0-9]{0,14})$/.exec(q.phone);
      if (m === null) return { error: { code: 400, reason: 'bad-request' } };
      const user = ctx.directory.hubUser(`${m[1]}@hub`);
      if (!ctx.directory.reachable(user, sender.provider)) return notFound();
      return { result: { op: 'lookup', jid: user.jid, ...(user.name === undefined ? {} : { name: user.name }) } };
    }
    case 'enlist': {
      if (!ctx.prekeys.has(sender.jid)) return { error: { code: 400, reason: 'bad-request' } };
      ctx.directory.ensureProviderUser(sender.jid, sender.provider).enlisted = true;
      return { result: { op: 'empty' } };
    }
    case 'delist': {
      // spec 10: removes the user, its keys and its stored stanzas; hub users then get 404
      const pu = ctx.directory.ensureProviderUser(sender.jid, sender.provider);
      pu.enlisted = false;
      ctx.prekeys.remove(sender.jid);
      ctx.mailboxes.clear(sender.jid);
      ctx.directory.dropContactsOf(sender.jid);
      return { result: { op: 'empty' } };
    }
    case 'status':
      return { result: { op: 'status', enlisted: ctx.directory.providerUser(sender.jid)?.enlisted === true } };
    case 'features':
      return { result: features(ctx) };
  }
}

function notFound(): IqAnswer {
  return { error: { code: 404, reason: 'no-such-user' } };
}

/** Spec 11: what the hub carries (with size limits) and what it does not. */
function features(ctx: HubContext): Extract<IqAnswer, { result: unknown }>['result'] {
  const unsupported = unsupportedKinds(ctx);
  const max = ctx.config.features.max_size;
  const kinds: FeatureKind[] = [{ name: 'text' }];
  for (const k of MEDIA_KINDS) if (!unsupported.has(k)) kinds.push({ name: k, maxSize: max[k] });
  return { op: 'features', kinds, unsupported: [...unsupported] };
}
