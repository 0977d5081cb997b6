// Matrix → hub for one event of the portal's Matrix user: text (formatting reduced, replies mapped),
// attachments (downloaded, verified, decrypted and streamed to the core: media-in.ts), and the
// events the hub does not carry handed to the core *structured* (`OutboundMessage.feature`: a
// sticker with its image, a location with its coordinates, a poll, and a reaction, edit or
// redaction of a bridged message by its hub message id), so that the core's downgrade policy
// (src/policy) converts, rejects or drops them and reports `downgraded` in the sent status. Only
// what has no structured form — a reaction, edit or redaction of an event the bridge never carried,
// a geo URI it cannot read — is converted here, under the connector's own `downgrade` option.
import type { OutboundMessage } from '../contract.ts';
import { AttachmentError } from './attachment.ts';
import type { Bridge } from './bridge.ts';
import { classify, type Classified } from './content.ts';
import { MatrixApiError, type Json } from './matrix-api.ts';
import { attachmentFailure, readAttachment, stickerFeature, uploadAttachment } from './media-in.ts';
import type { Portal } from './portals.ts';
import { failureNotice, SEND_STATUS, sendStatusContent, type StatusInput } from './send-status.ts';

export type DowngradeAction = 'convert' | 'reject' | 'drop';

export interface InboundDeps {
  bridge: Bridge;
  /** The connector's action for features the bridge converts itself (no structured form). */
  downgrade: (feature: string) => DowngradeAction;
  /** Keeps an undecryptable event for a retry when keys arrive. */
  deferUndecryptable(roomId: string, event: Json): Promise<void>;
}

export interface PortalEvent {
  eventId: string;
  type: string;
  content: Json;
  raw: Json;
}

type Body = Omit<OutboundMessage, 'idempotencyKey' | 'from' | 'to'>;

/** Features whose payload names an earlier message (`target_id`, a hub message id). */
const TARGETED = new Set(['reaction', 'edit', 'delete']);

/**
 * Hands the event to the core. True when the event was also recorded as handled (under
 * `handledKey`, with its message's links, in one write); else the caller records it.
 */
export async function toHub(d: InboundDeps, p: Portal, e: PortalEvent, handledKey?: string): Promise<boolean> {
  const b = d.bridge;
  const core = b.requireCore();
  // Before room version 11 a redaction names its target at the top level, not in `content`.
  const content = e.type === 'm.room.redaction' && typeof e.raw.redacts === 'string' && e.content.redacts === undefined ? { ...e.content, redacts: e.raw.redacts } : e.content;
  const c = classify(e.type, content);
  if (c.kind === 'ignore') return false;
  const fail = async (reason: string, why: string, notice = true): Promise<void> => {
    await sendStatus(b, p, { eventId: e.eventId, status: 'FAIL_PERMANENT', reason, message: why, certain: true });
    if (notice) await b.notice(p, failureNotice(true, why));
  };
  try {
    let body: Body | undefined;
    if (c.kind === 'text') {
      const replyTo = c.replyTo ? await b.portals.messageOf(c.replyTo) : undefined;
      body = { text: c.text, ...(replyTo ? { replyTo } : {}) };
    } else if (c.kind === 'media') {
      // A replayed event whose message the core already holds: nothing to download again.
      if (await core.statuses(b.adapterId, e.eventId)) return false;
      const replyTo = c.replyTo ? await b.portals.messageOf(c.replyTo) : undefined;
      const media = await uploadAttachment(b, p.puppet, c.mediaKind, readAttachment(c.content, c.mediaKind));
      body = { media, ...(replyTo ? { replyTo } : {}) };
    } else {
      body = await featureBody(d, p, e.eventId, c, fail);
      if (!body) return false;
    }
    const r = await core.submit(b.adapterId, { idempotencyKey: e.eventId, from: p.local, to: p.hubUser, ...body });
    await b.portals.link(e.eventId, p.roomId, r.messageId, `${p.local}@${core.providerId}.interop`, handledKey);
    return handledKey !== undefined;
  } catch (err) {
    const attachment = err instanceof AttachmentError ? err : attachmentFailure(err);
    if (attachment) {
      b.log.info({ eventId: e.eventId, code: attachment.code }, 'attachment refused');
      await fail(attachment.code === 'too-large' ? 'too-large' : 'media-failed', `the attachment could not be sent: ${attachment.message}`);
      return false;
    }
    // The core's SubmitError (src/core.ts), recognized by shape: adapters depend on the contract only.
    if (!(err instanceof Error) || err.name !== 'SubmitError') throw err;
    const field = (err as Error & { field?: string }).field ?? 'message';
    const why = field === 'from' && /opted in/.test(err.message) ? `you have not turned on ${b.config.hub_name} chats (send "optin" to the bridge bot)` : `${field} ${err.message}`;
    await fail(field === 'from' ? 'not-opted-in' : 'bad-request', why);
    return false;
  }
}

/** The message for a feature: structured for the core's policy where possible, else the bridge's own conversion. */
async function featureBody(
  d: InboundDeps, p: Portal, eventId: string, c: Extract<Classified, { kind: 'feature' }>,
  fail: (reason: string, why: string, notice?: boolean) => Promise<void>,
): Promise<Body | undefined> {
  const b = d.bridge;
  if (c.data !== undefined) {
    if (c.feature === 'sticker' && c.sticker) {
      if (await b.requireCore().statuses(b.adapterId, eventId)) return undefined;
      return { feature: { name: 'sticker', data: await stickerFeature(b, p.puppet, c.sticker, String(c.data.mime)) } };
    }
    if (!TARGETED.has(c.feature)) return { feature: { name: c.feature, data: c.data } };
    const target = c.target ? await b.portals.messageOf(c.target) : undefined;
    if (target) {
      const data: Json = { ...c.data, target_id: target.id };
      if (c.feature === 'reaction') data.target_sender = target.sender === p.hubUser ? 'peer' : 'self';
      return { feature: { name: c.feature, data } };
    }
  }
  // No structured form: the bridge converts (or rejects, or drops) by the connector's option.
  const action = d.downgrade(c.feature);
  if (action === 'drop') {
    await fail('dropped-by-policy', `${c.feature} is not carried to ${b.config.hub_name} users; dropped by policy`, false);
    return undefined;
  }
  if (action === 'reject') {
    await fail('rejected-by-policy', `${b.config.hub_name} does not carry ${c.feature} messages`);
    return undefined;
  }
  return { text: c.fallback };
}

export async function sendStatus(b: Bridge, p: Portal, s: StatusInput): Promise<void> {
  try {
    await b.sendToPortal(p, SEND_STATUS, sendStatusContent(s));
  } catch (err) {
    if (!(err instanceof MatrixApiError)) throw err;
    b.log.warn({ err: err.message }, 'send status not delivered to the portal');
  }
}
