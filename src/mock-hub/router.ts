// Message acceptance (spec 4) for messages from provider clients, and their delivery to the
// simulated hub devices (spec 5). Checks, in order: client shape and addresses (400), sender
// enlisted (403 not-enlisted), groups (406, phase 2), provider-user recipients (404 no-such-user
// when unknown or delisted, else 403 not-opted-in: only hub users opt in), declared kinds (406
// unsupported-in-interop with <unsupported feature>), idempotence (same ack and `t` / 400
// id-reused / retry resends), opt-in (403 not-opted-in, one
// answer for unknown, not opted in and not this provider), blocks (403 blocked), then dhash and
// exact participants (409 stale-devices with <devices>, id left unused). Frames over the limit
// never get here (close 1009 at frame level).
import { ACK_ERRORS, MEDIA_KINDS, UNSUPPORTED_FEATURES, deviceAddress, parseAddress, userOf } from '../protocol/index.ts';
import type { AckErrorReason, AckStanza, MessageStanza, OutgoingMessage } from '../protocol/index.ts';
import type { HubContext } from './context.ts';
import type { HubUser } from './directory.ts';
import { messageFingerprint } from './idempotence.ts';

export interface Sender {
  jid: string;
  provider: string;
}

type Ack = (a: AckStanza) => void;

/** Feature name answered for messages to the reserved group address form (spec 1, 12). */
export const GROUPS_FEATURE = 'groups';

const kindsOfConfig = new WeakMap<HubContext['config'], ReadonlySet<string>>();

/** The kinds this hub refuses (the config is fixed for the hub's life: built once per config). */
export function unsupportedKinds(ctx: HubContext): ReadonlySet<string> {
  let kinds = kindsOfConfig.get(ctx.config);
  if (!kinds) {
    // the configured kinds come on top of spec 11's v1 list: a hub never carries those
    kinds = new Set([...UNSUPPORTED_FEATURES, ...(ctx.config.features.unsupported ?? [])]);
    kindsOfConfig.set(ctx.config, kinds);
  }
  return kinds;
}

export function routeMessage(ctx: HubContext, sender: Sender, m: MessageStanza, ack: Ack): void {
  const nack = (reason: AckErrorReason, extra: Partial<AckStanza> = {}): void =>
    ack({ kind: 'ack', class: 'message', id: m.id, error: ACK_ERRORS[reason], reason, ...extra });
  if (!('to' in m) || 'from' in m) return nack('bad-request');
  const to = parseAddress(m.to);
  if (to === undefined) return nack('bad-request');
  if (ctx.directory.providerUser(sender.jid)?.enlisted !== true) return nack('not-enlisted');
  if (to.kind === 'group') return nack('unsupported-in-interop', { unsupported: GROUPS_FEATURE });
  if (to.kind === 'provider-user' || to.kind === 'provider-device') return nack(providerRecipient(ctx, m.to));
  if (to.kind !== 'hub-user') return nack('bad-request');

  const unsupported = unsupportedKinds(ctx);
  if (m.type !== 'text' && m.type !== 'media') {
    return unsupported.has(m.type) ? nack('unsupported-in-interop', { unsupported: m.type }) : nack('bad-request');
  }
  for (const p of m.participants) {
    if (p.enc.type !== 'pkmsg' && p.enc.type !== 'msg') return nack('bad-request');
    if (m.type === 'media') {
      const kind = p.enc.mediatype;
      if (kind === undefined) return nack('bad-request');
      // a feature of spec 11 (e.g. mediatype="sticker") or a kind configured as unsupported: 406
      if (unsupported.has(kind)) return nack('unsupported-in-interop', { unsupported: kind });
      if (!(MEDIA_KINDS as readonly string[]).includes(kind)) return nack('bad-request');
    }
  }

  const prev = ctx.idempotence.get(sender.jid, m.id);
  const user = ctx.directory.hubUser(m.to);
  if (prev !== undefined) {
    if (prev.to !== m.to) return nack('id-reused');
    // the accepted stanza itself again (a lost ack), even one that carried enc/@count: same ack
    if (prev.fingerprint === messageFingerprint(m)) return ack({ kind: 'ack', class: 'message', id: m.id, t: prev.t });
    const only = m.participants.length === 1 ? m.participants[0] : undefined;
    const count = only?.enc.count;
    if (only !== undefined && count !== undefined && count >= 1 && count <= 5) return retryResend(ctx, sender, m, user, prev.retries, ack, nack);
    return nack('id-reused');
  }

  if (!ctx.directory.reachable(user, sender.provider)) return nack('not-opted-in');
  if (ctx.directory.isBlocked(user, sender.jid, sender.provider)) return nack('blocked');
  const current = ctx.directory.deviceAddresses(user);
  const given = new Set(m.participants.map((p) => p.jid));
  const exact = given.size === m.participants.length && given.size === current.length && current.every((d) => given.has(d));
  if (m.dhash !== ctx.directory.dhash(user) || !exact) return nack('stale-devices', { devices: ctx.directory.deviceList(user) });

  const t = nowS();
  ctx.idempotence.put(sender.jid, m.id, m.to, messageFingerprint(m), t);
  ctx.counters.messages_accepted += 1;
  ctx.directory.addContact(user.jid, sender.jid);
  ack({ kind: 'ack', class: 'message', id: m.id, t });
  for (const p of m.participants) deliver(ctx, sender, m, user, p, m.t ?? t);
}

/**
 * A provider user as recipient: 404 `no-such-user` when unknown or delisted (spec 4 table), else
 * 403 `not-opted-in` — provider-to-provider traffic is not routed, only hub users opt in.
 */
export function providerRecipient(ctx: HubContext, address: string): 'no-such-user' | 'not-opted-in' {
  return ctx.directory.reachableProviderUser(userOf(address)) === undefined ? 'no-such-user' : 'not-opted-in';
}

/**
 * Spec 4/6.2: a resend to one device with enc/@count 1–5 under an accepted id is exempt from the
 * body and dhash checks. Each (device, count) is itself idempotent. A device that is no longer
 * current gets a positive ack and nothing is delivered.
 */
function retryResend(
  ctx: HubContext, sender: Sender, m: OutgoingMessage, user: HubUser | undefined,
  retries: Map<string, { fingerprint: string; t: number }>, ack: Ack, nack: (r: AckErrorReason) => void,
): void {
  const p = m.participants[0]!;
  if (!ctx.directory.reachable(user, sender.provider)) return nack('not-opted-in');
  if (ctx.directory.isBlocked(user, sender.jid, sender.provider)) return nack('blocked');
  const key = `${p.jid}|${p.enc.count ?? 0}`;
  const fp = messageFingerprint(m);
  const seen = retries.get(key);
  if (seen !== undefined) {
    if (seen.fingerprint !== fp) return nack('id-reused');
    return ack({ kind: 'ack', class: 'message', id: m.id, t: seen.t });
  }
  const t = nowS();
  retries.set(key, { fingerprint: fp, t });
  ack({ kind: 'ack', class: 'message', id: m.id, t });
  if (ctx.directory.deviceAddresses(user).includes(p.jid)) deliver(ctx, sender, m, user, p, m.t ?? t);
}

function deliver(ctx: HubContext, sender: Sender, m: OutgoingMessage, user: HubUser, p: OutgoingMessage['participants'][number], t: number): void {
  const a = parseAddress(p.jid);
  if (a?.kind !== 'hub-device') return;
  const sentAtMs = Date.now();
  const held = ctx.faults.routingStopped();
  ctx.faults.route(() => {
    ctx.counters.messages_delivered += 1;
    ctx.sim.deliver(user, a.device, {
      id: m.id, from: sender.jid, participant: deviceAddress(sender.jid, 1), type: m.type, t, enc: p.enc, sentAtMs, offline: held,
    });
  });
}

const nowS = (): number => Math.floor(Date.now() / 1000);
