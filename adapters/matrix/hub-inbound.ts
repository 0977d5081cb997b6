// Hub → Matrix: a hub user's message is posted in the portal by that user's puppet (encrypted with
// the puppet's device in an encrypted portal; an attachment as a Matrix file, encrypted there too:
// media-out.ts), the core's statuses of a Matrix user's messages become send-status events
// (with the policy's conversions), failure notices and the puppet's read receipts, and the core's
// notices become `m.notice`s in the portal. The send uses a transaction id derived from the hub
// message, so a redelivery after a crash is one event on the homeserver, not two.
import type { InboundMessage, MessageStatus, Notice } from '../contract.ts';
import type { Bridge } from './bridge.ts';
import type { Json } from './matrix-api.ts';
import { AttachmentNotBridged, mediaToMatrix } from './media-out.ts';
import { sendStatus } from './to-hub.ts';
import { failureNotice } from './send-status.ts';

export async function deliverToMatrix(b: Bridge, m: InboundMessage): Promise<void> {
  const key = `in|${m.from}|${m.id}`;
  if (await b.portals.handled(key)) return;
  const portal = await b.ensurePortal(b.ids.userOf(m.to), m.to, m.from);
  let text = m.text ?? '';
  for (const f of m.fallbacks ?? []) text = text ? `${text}\n\n${f.text}` : f.text;
  let content: Json | undefined;
  if (m.media) {
    const caption = [text, m.media.caption ?? ''].filter((t) => t !== '' && t !== undefined);
    const joined = [...new Set(caption)].join('\n\n');
    try {
      content = await mediaToMatrix(b, portal, m.media, joined === '' ? undefined : joined);
    } catch (err) {
      if (!(err instanceof AttachmentNotBridged)) throw err;
      const what = `${m.media.kind}${m.media.filename ? `: ${m.media.filename}` : ''}`;
      content = { msgtype: 'm.text', body: `${joined ? `${joined}\n\n` : ''}[${what} — not shown here: ${err.message}]` };
    }
  } else {
    content = { msgtype: 'm.text', body: text };
  }
  if (m.replyTo) {
    const target = await b.portals.eventOf(m.replyTo.id);
    if (target) content['m.relates_to'] = { 'm.in_reply_to': { event_id: target.eventId } };
  }
  const eventId = await b.sendAs(portal.puppet, portal.roomId, 'm.room.message', content, portal.encrypted, [portal.userId], `hub-${m.from}-${m.id}`);
  await b.portals.link(eventId, portal.roomId, m.id, m.from);
  await b.portals.addUnread(portal.roomId, m.id);
  await b.portals.markHandled(key);
}

const WHY: Record<string, string> = {
  'not-opted-in': 'the recipient cannot be reached (they have not turned on third-party chats)',
  blocked: 'the recipient has blocked you',
  'no-such-user': 'your account is not registered with the hub',
  'too-large': 'the message is too large',
  expired: 'it could not be delivered in time',
  'unsupported-in-interop': 'the hub does not carry this kind of message',
};

export async function statusToMatrix(b: Bridge, s: MessageStatus): Promise<void> {
  const ev = await b.portals.eventOf(s.messageId);
  if (!ev) return;
  const portal = await b.portals.byRoom(ev.roomId);
  if (!portal) return;
  const base = { eventId: ev.eventId, ...(s.downgraded ? { downgraded: s.downgraded } : {}) };
  switch (s.state) {
    // A delivery may stand for the acceptance too (status-coalesce.ts): it carries its message.
    case 'sent':
    case 'delivered':
      if (b.config.send_statuses === 'all') {
        await sendStatus(b, portal, { ...base, status: 'SUCCESS', ...(s.message ? { message: s.message } : {}), ...(s.state === 'delivered' ? { deliveredTo: [portal.puppet] } : {}) });
      }
      // What a conversion changes for the sender (an edit sent as a new message…), from the policy.
      if (s.message) await b.notice(portal, `ℹ️ ${s.message}`);
      return;
    case 'read':
    case 'played':
      await b.api.sendReceipt({ userId: portal.puppet }, portal.roomId, ev.eventId);
      return;
    case 'failed': {
      const certain = s.certain ?? true;
      const why = s.message ?? WHY[s.reason ?? ''] ?? s.reason ?? 'unknown error';
      await sendStatus(b, portal, { ...base, status: certain ? 'FAIL_PERMANENT' : 'FAIL_RETRIABLE', ...(s.reason ? { reason: s.reason } : {}), message: why, certain });
      // A drop by policy is reported by the status only (nothing was meant to reach anyone).
      if (s.reason !== 'dropped-by-policy' && s.reason !== 'local-only') await b.notice(portal, failureNotice(certain, why));
      return;
    }
    default:
      return;
  }
}

export async function noticeToMatrix(b: Bridge, n: Notice): Promise<void> {
  const local = n.user.split('@')[0] as string;
  const peer = 'peer' in n ? n.peer : undefined;
  const portal = peer ? await b.portals.byPair(local, peer) : undefined;
  let text: string;
  switch (n.kind) {
    case 'safety-number-changed':
      text = `🔐 The security code of this ${b.config.hub_name} contact changed (new phone or reinstall).${n.held ? ' Your messages are held until you confirm.' : ''}`;
      break;
    case 'interop-changed':
      text = n.enabled ? `This ${b.config.hub_name} contact turned third-party chats on.` : `This ${b.config.hub_name} contact turned third-party chats off: your messages cannot reach them.`;
      break;
    case 'undecryptable':
      text = `⚠️ A message from this ${b.config.hub_name} contact could not be decrypted; their device was asked to send it again.`;
      break;
    case 'message-withheld':
      text = `⚠️ ${n.text}`;
      break;
    case 'provider-enrolled':
      text = `A new network can now be reached through ${b.config.hub_name}: ${n.provider.name}.`;
      break;
  }
  if (portal) {
    await b.notice(portal, text);
    return;
  }
  const userId = b.ids.userOf(local);
  const mgmt = await b.portals.managementRoom(userId);
  if (!mgmt) return;
  await b.botNotice(mgmt, userId, text);
}
