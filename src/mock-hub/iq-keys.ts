// Key iqs of spec 7.1/7.2 from provider clients: upload (first upload / reset / rotation / more
// prekeys, signatures checked, reset → identity handling for contacts), count, and fetch of hub
// devices' bundles (one-time keys consumed by SimDevice.takeBundle; a user the sender may not
// message gets a per-user 404 no-such-user as for an unknown one; an unknown device no-such-device).
import { parseAddress } from '../protocol/index.ts';
import type { IqQuery, IqResultPayload, KeyBundle, StanzaErrorBody } from '../protocol/index.ts';
import type { HubContext } from './context.ts';
import { UploadError } from './prekeys.ts';
import type { Sender } from './router.ts';

type Upload = Extract<IqQuery, { op: 'upload' }>;
export type IqAnswer = { result: IqResultPayload } | { error: StanzaErrorBody };

const bad = (): IqAnswer => ({ error: { code: 400, reason: 'bad-request' } });

export function upload(ctx: HubContext, sender: Sender, q: Upload): IqAnswer {
  let outcome;
  try {
    outcome = ctx.prekeys.upload(sender.jid, q, ctx.config.limits.low_prekeys);
  } catch (err) {
    if (err instanceof UploadError) {
      ctx.log.info({ user: sender.jid, why: err.message }, 'upload refused');
      return bad();
    }
    throw err;
  }
  if (outcome.reset) {
    // spec 7.1: every contact learns of the new identity; hub-user contacts are simulated phones,
    // which drop their sessions with the user (spec 8, "drop its sessions")
    ctx.log.info({ user: sender.jid }, 'identity reset');
    void ctx.sim.peerIdentityChanged(sender.jid).catch((err: unknown) => ctx.log.warn({ err }, 'identity change handling failed'));
  }
  return { result: { op: 'empty' } };
}

export function count(ctx: HubContext, sender: Sender): IqAnswer {
  const c = ctx.prekeys.count(sender.jid);
  return { result: { op: 'count', value: c.ec, kyber: c.kyber } };
}

export function fetchBundles(ctx: HubContext, sender: Sender, jids: string[]): IqAnswer {
  if (jids.length === 0) return bad();
  const addrs = jids.map((j) => parseAddress(j));
  if (addrs.some((a) => a === undefined)) return bad();
  const users: Array<{ jid: string; bundle: KeyBundle } | { jid: string; error: StanzaErrorBody }> = [];
  for (const [i, jid] of jids.entries()) {
    const a = addrs[i];
    if (a?.kind !== 'hub-device') {
      users.push({ jid, error: a?.kind === 'hub-user' ? { code: 400, reason: 'bad-request' } : { code: 404, reason: 'no-such-user' } });
      continue;
    }
    const user = ctx.directory.hubUser(`${a.phone}@hub`);
    if (!ctx.directory.reachable(user, sender.provider)) {
      users.push({ jid, error: { code: 404, reason: 'no-such-user' } });
      continue;
    }
    const bundle = ctx.sim.takeBundle(user, a.device);
    if (bundle === undefined) {
      users.push({ jid, error: { code: 404, reason: 'no-such-device' } });
      continue;
    }
    ctx.directory.addContact(user.jid, sender.jid);
    users.push({ jid, bundle });
  }
  return { result: { op: 'bundles', users } };
}
