// Matrix → hub for one event of the portal's Matrix user: text (formatting reduced, replies mapped),
// attachments (downloaded, verified, decrypted and streamed to the core: media-in.ts), and the
// events the hub does not carry handed to the core *structured* (`OutboundMessage.feature`: a
// sticker with its image, a location with its coordinates, a poll, and a reaction, edit or
// redaction of a bridged message by its hub message id), so that the core's downgrade policy
// (src/policy) converts, rejects or drops them and reports `downgraded` in the sent status. Only
// what has no structured form — a reaction, edit or redaction of an event the bridge never carried,
// a geo URI it cannot read — is converted here, under the connector's own `downgrade` option.
// This file prepares an event's message; hub-batch.ts hands it to the core with the messages of
// the events around it (one `submitMany`) and records the outcome.
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

/** A portal event's message, ready for the core; its outcome is recorded under `handledKey` (hub-batch.ts). */
export interface Prepared {
  eventId: string;
  portal: Portal;
  message: OutboundMessage;
  handledKey: string;
}

/** The messages of earlier events not handed to the core yet (hub-batch.ts). */
export interface Pending {
  /** Whether the message of this event is among them. */
  has(eventId: string): boolean;
  /** Hands them to the core and records their outcomes. */
  flush(): Promise<void>;
}

/** Why an event's message is not sent: a certain failure status, with a notice unless it was dropped on purpose. */
export class Refusal {
  readonly reason: string;
  readonly why: string;
  readonly notice: boolean;
  constructor(reason: string, why: string, notice = true) {
    this.reason = reason;
    this.why = why;
    this.notice = notice;
  }
}

/** Features whose payload names an earlier message (`target_id`, a hub message id). */
const TARGETED = new Set(['reaction', 'edit', 'delete']);

/**
 * The message for the core from an event of the portal's Matrix user, or undefined when there is
 * none (ignored, a replay the core holds, refused here: its status and notice are posted).
 */
export async function prepareToHub(d: InboundDeps, p: Portal, e: PortalEvent, pending: Pending, handledKey: string): Promise<Prepared | undefined> {
  const b = d.bridge;
  // Before room version 11 a redaction names its target at the top level, not in `content`.
  const content = e.type === 'm.room.redaction' && typeof e.raw.redacts === 'string' && e.content.redacts === undefined ? { ...e.content, redacts: e.raw.redacts } : e.content;
  const c = classify(e.type, content);
  if (c.kind === 'ignore') return undefined;
  // A reply, reaction, edit or redaction of a message still pending: its hub message id exists
  // once the core accepted it.
  const ref = c.kind === 'feature' ? c.target : c.replyTo;
  if (ref !== undefined && pending.has(ref)) await pending.flush();
  let body: Body | Refusal | undefined;
  try {
    body = await bodyOf(d, p, e.eventId, c);
  } catch (err) {
    body = refusalOf(b, e.eventId, err);
  }
  if (body === undefined) return undefined;
  if (body instanceof Refusal) {
    // The earlier messages' outcomes reach the portal first, as when each was submitted alone.
    await pending.flush();
    await refuse(b, p, e.eventId, body);
    return undefined;
  }
  return { eventId: e.eventId, portal: p, handledKey, message: { idempotencyKey: e.eventId, from: p.local, to: p.hubUser, ...body } };
}

async function bodyOf(d: InboundDeps, p: Portal, eventId: string, c: Exclude<Classified, { kind: 'ignore' }>): Promise<Body | Refusal | undefined> {
  const b = d.bridge;
  if (c.kind === 'text') {
    const replyTo = c.replyTo ? await b.portals.messageOf(c.replyTo) : undefined;
    return { text: c.text, ...(replyTo ? { replyTo } : {}) };
  }
  if (c.kind === 'media') {
    // A replayed event whose message the core already holds: nothing to download again.
    if (await b.requireCore().statuses(b.adapterId, eventId)) return undefined;
    const replyTo = c.replyTo ? await b.portals.messageOf(c.replyTo) : undefined;
    const media = await uploadAttachment(b, p.puppet, c.mediaKind, readAttachment(c.content, c.mediaKind));
    return { media, ...(replyTo ? { replyTo } : {}) };
  }
  return featureBody(d, p, eventId, c);
}

/** The refusal for what failed while preparing a message (an attachment, the core's SubmitError); anything else is thrown on. */
function refusalOf(b: Bridge, eventId: string, err: unknown): Refusal {
  const attachment = err instanceof AttachmentError ? err : attachmentFailure(err);
  if (attachment) {
    b.log.info({ eventId, code: attachment.code }, 'attachment refused');
    return new Refusal(attachment.code === 'too-large' ? 'too-large' : 'media-failed', `the attachment could not be sent: ${attachment.message}`);
  }
  // The core's SubmitError (src/core.ts), recognized by shape: adapters depend on the contract only.
  if (!(err instanceof Error) || err.name !== 'SubmitError') throw err;
  return coreRefusal(b, (err as Error & { field?: string }).field ?? 'message', err.message);
}

/** The refusal of a message the core refused as the sender's error (`submit`'s SubmitError, `submitMany`'s `refused`). */
export function coreRefusal(b: Bridge, field: string, message: string): Refusal {
  const why = field === 'from' && /opted in/.test(message) ? `you have not turned on ${b.config.hub_name} chats (send "optin" to the bridge bot)` : `${field} ${message}`;
  return new Refusal(field === 'from' ? 'not-opted-in' : 'bad-request', why);
}

/**
 * Tells the sender in the portal: a certain failure status, and a notice. Both are best effort: a
 * Matrix error posting them is logged, not thrown. A permanent one (the puppet left the room or
 * lost its power) would fail the transaction again on every homeserver retry, blocking the
 * transactions behind it; a transient one is not retried either, since the retry would post the
 * status again (the event is recorded as handled only after this).
 */
export async function refuse(b: Bridge, p: Portal, eventId: string, r: Refusal): Promise<void> {
  await sendStatus(b, p, { eventId, status: 'FAIL_PERMANENT', reason: r.reason, message: r.why, certain: true });
  if (r.notice) await postNotice(b, p, failureNotice(true, r.why));
}

/**
 * Sends a report to the Matrix user, best effort: a Matrix error (the puppet left, lost its power
 * level…) is logged as `what` not delivered, never a failed transaction (see `refuse`).
 */
export async function bestEffort(b: Bridge, what: string, send: () => Promise<unknown>): Promise<void> {
  try {
    await send();
  } catch (err) {
    if (!(err instanceof MatrixApiError)) throw err;
    b.log.warn({ err: err.message }, `${what} not delivered`);
  }
}

/** A failure notice from the puppet in the portal; a Matrix error is logged (see `refuse`). */
export function postNotice(b: Bridge, p: Portal, text: string): Promise<void> {
  return bestEffort(b, 'failure notice to the portal', () => b.notice(p, text));
}

/** The message for a feature: structured for the core's policy where possible, else the bridge's own conversion. */
async function featureBody(d: InboundDeps, p: Portal, eventId: string, c: Extract<Classified, { kind: 'feature' }>): Promise<Body | Refusal | undefined> {
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
  if (action === 'drop') return new Refusal('dropped-by-policy', `${c.feature} is not carried to ${b.config.hub_name} users; dropped by policy`, false);
  if (action === 'reject') return new Refusal('rejected-by-policy', `${b.config.hub_name} does not carry ${c.feature} messages`);
  return { text: c.fallback };
}

export function sendStatus(b: Bridge, p: Portal, s: StatusInput): Promise<void> {
  return bestEffort(b, 'send status to the portal', () => b.sendToPortal(p, SEND_STATUS, sendStatusContent(s)));
}
