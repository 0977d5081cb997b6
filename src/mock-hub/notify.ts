// Spec 8 notifications to provider users. Each goes through the user's mailbox, so it is stored
// (and pushed) when the user has no session, and stays queued until the client acks it. Hub-user
// changes go only to contacts the hub user is reachable from (spec 10: nothing is revealed to
// providers the user did not accept), except `interop`, which tells a contact that it changed.
import { newId } from '../protocol/index.ts';
import type { HubContext } from './context.ts';
import type { HubUser } from './directory.ts';

/** Contacts of a hub user that are provider users the hub knows, with their provider. */
function contacts(ctx: HubContext, user: HubUser): Array<{ jid: string; provider: string }> {
  return ctx.directory.providerContactsOf(user.jid).flatMap((jid) => {
    const pu = ctx.directory.providerUser(jid);
    return pu === undefined ? [] : [{ jid, provider: pu.provider }];
  });
}

export function notifyDevices(ctx: HubContext, user: HubUser): void {
  const dhash = ctx.directory.dhash(user);
  for (const c of contacts(ctx, user)) {
    if (ctx.directory.reachable(user, c.provider)) ctx.toProvider(c.jid, { kind: 'notification', id: newId(), type: 'devices', from: user.jid, dhash });
  }
}

export function notifyIdentity(ctx: HubContext, user: HubUser): void {
  for (const c of contacts(ctx, user)) {
    if (ctx.directory.reachable(user, c.provider)) ctx.toProvider(c.jid, { kind: 'notification', id: newId(), type: 'identity', from: user.jid });
  }
}

/** Which providers a hub user is reachable from, to compare before and after a change. */
export function reachability(ctx: HubContext, user: HubUser): Map<string, boolean> {
  return new Map([...ctx.directory.providers.keys()].map((p) => [p, ctx.directory.reachable(user, p)]));
}

export function notifyInterop(ctx: HubContext, user: HubUser, before: Map<string, boolean>): void {
  for (const c of contacts(ctx, user)) {
    const now = ctx.directory.reachable(user, c.provider);
    if ((before.get(c.provider) ?? false) === now) continue;
    ctx.toProvider(c.jid, { kind: 'notification', id: newId(), type: 'interop', from: user.jid, state: now ? 'enabled' : 'disabled' });
  }
}

/** A newly enrolled provider, announced to the open sessions of the other providers. */
export function notifyProviders(ctx: HubContext, provider: { id: string; name: string }): void {
  for (const s of ctx.sessions.all()) {
    if (s.provider === provider.id) continue;
    ctx.toProvider(s.user, { kind: 'notification', id: newId(), type: 'providers', providers: [{ id: provider.id, name: provider.name }] });
  }
}

/** Spec 8 `encrypt`: sent once when one-time EC prekeys fall below the threshold. */
export function notifyLowPrekeys(ctx: HubContext, providerUser: string): void {
  if (!ctx.prekeys.takeLowNotice(providerUser, ctx.config.limits.low_prekeys)) return;
  const c = ctx.prekeys.count(providerUser);
  ctx.toProvider(providerUser, { kind: 'notification', id: newId(), type: 'encrypt', count: { value: c.ec, kyber: c.kyber } });
}
