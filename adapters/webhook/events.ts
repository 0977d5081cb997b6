// The events the webhook adapter POSTs to the provider: their JSON (as zod schemas, which also
// feed the OpenAPI document's `webhooks`), the mapping from the adapter contract's objects, and
// event ids. Times are ISO 8601 UTC strings. No IO.
//
// Event ids are what providers deduplicate on. They are stable across retries (stored with the
// event) and, for messages and statuses, derived from the event's identity, so that the core
// handing the same inbound message over twice (e.g. after a crash) yields the same event id.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { InboundMessage, MessageStatus, Notice } from '../contract.ts';
import { messageStatus } from './schemas.ts';

export const EVENT_TYPES = ['message.received', 'message.status', 'notice'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

const iso = z.iso.datetime();

export const messageReceivedData = z.object({
  id: z.string().meta({ description: "The hub's message id (unique per sender); use it in read receipts and reply_to." }),
  from: z.string().meta({ description: 'Hub user address of the sender.' }),
  from_device: z.string().meta({ description: 'Hub device address that sent it.' }),
  to: z.string().meta({ description: 'Provider user id of the recipient.' }),
  sent_at: iso.meta({ description: "The sender's timestamp." }),
  text: z.string().optional(),
  reply_to: z.object({ id: z.string(), sender: z.string() }).optional(),
  media: z
    .object({
      kind: z.enum(['image', 'video', 'audio', 'voice', 'document']),
      mime: z.string(),
      size: z.number().int(),
      data_base64: z.string().optional(),
      url: z.string().optional().meta({ description: "Causeway's signed URL of the file, encrypted: AES-256-GCM ciphertext followed by the 16-byte tag." }),
      key: z.string().optional().meta({ description: 'base64 of the 32-byte AES-256-GCM key of `url`.' }),
      nonce: z.string().optional().meta({ description: 'base64 of the 12-byte nonce.' }),
      sha256: z.string().optional().meta({ description: 'hex SHA-256 of the plaintext file (verify after decrypting).' }),
      enc_sha256: z.string().optional().meta({ description: 'hex SHA-256 of the downloaded blob.' }),
      filename: z.string().optional(),
      caption: z.string().optional(),
      width: z.number().int().optional(),
      height: z.number().int().optional(),
      duration_ms: z.number().int().optional(),
    })
    .optional(),
  fallbacks: z
    .array(z.object({ feature: z.string(), text: z.string() }))
    .optional()
    .meta({ description: 'Features the sender downgraded (spec 11 <fallback>).' }),
  offline: z.boolean().meta({ description: "Delivered late from the hub's offline store." }),
});

export const noticeData = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('safety-number-changed'), user: z.string(), peer: z.string(), held: z.boolean() }),
  z.object({ kind: z.literal('interop-changed'), user: z.string(), peer: z.string(), enabled: z.boolean() }),
  z.object({ kind: z.literal('undecryptable'), user: z.string(), peer: z.string(), message_id: z.string() }),
  z.object({ kind: z.literal('message-withheld'), user: z.string(), peer: z.string(), message_id: z.string(), feature: z.string(), text: z.string() }),
  z.object({ kind: z.literal('provider-enrolled'), user: z.string(), provider: z.object({ id: z.string(), name: z.string() }) }),
]);

const envelope = <T extends EventType, D extends z.ZodType>(type: T, data: D) =>
  z.object({
    event_id: z.string().meta({ description: 'Stable across retries: deduplicate on it.' }),
    type: z.literal(type),
    created_at: iso,
    data,
  });

export const eventSchemas = {
  'message.received': envelope('message.received', messageReceivedData),
  'message.status': envelope('message.status', messageStatus),
  notice: envelope('notice', noticeData),
} as const;

export const webhookEvent = z.discriminatedUnion('type', [
  eventSchemas['message.received'],
  eventSchemas['message.status'],
  eventSchemas.notice,
]);
export type WebhookEvent = z.infer<typeof webhookEvent>;

/** With `max_events_per_post` above 1: several events of one provider user, in order, in one POST. */
export const batchEvent = z.object({
  events: z.array(webhookEvent).min(2).meta({ description: 'Events of one provider user, oldest first; deduplicate on each event_id.' }),
});

/** A batch body made of stored event bodies, byte for byte. */
export const batchBody = (bodies: string[]): string => `{"events":[${bodies.join(',')}]}`;

/** An event ready to be stored: its id, the provider user it is ordered under, and its exact body. */
export interface PreparedEvent {
  eventId: string;
  type: EventType;
  /** Provider user id: events of one user are POSTed in order. */
  user: string;
  createdAt: string;
  /** The JSON body, byte-for-byte what every attempt POSTs. */
  body: string;
}

const isoOf = (ms: number): string => new Date(ms).toISOString();

function derivedId(parts: Array<string | number>): string {
  return `evt_${createHash('sha256').update(parts.join('\n'), 'utf8').digest('base64url').slice(0, 22)}`;
}

function prepare(type: EventType, eventId: string, user: string, data: unknown, now: number): PreparedEvent {
  const createdAt = isoOf(now);
  return { eventId, type, user, createdAt, body: JSON.stringify({ event_id: eventId, type, created_at: createdAt, data }) };
}

export function statusJson(s: MessageStatus): z.infer<typeof messageStatus> {
  return {
    message_id: s.messageId,
    idempotency_key: s.idempotencyKey,
    from: s.from,
    to: s.to,
    state: s.state,
    at: isoOf(s.at),
    ...(s.device !== undefined ? { device: s.device } : {}),
    ...(s.reason !== undefined ? { reason: s.reason } : {}),
    ...(s.message !== undefined ? { message: s.message } : {}),
    ...(s.certain !== undefined ? { certain: s.certain } : {}),
    ...(s.downgraded !== undefined ? { downgraded: s.downgraded.map((d) => ({ feature: d.feature, to: d.to })) } : {}),
  };
}

export function inboundEvent(adapterId: string, m: InboundMessage, now: number): PreparedEvent {
  const media = m.media;
  const data: z.infer<typeof messageReceivedData> = {
    id: m.id,
    from: m.from,
    from_device: m.fromDevice,
    to: m.to,
    sent_at: isoOf(m.t * 1000),
    ...(m.text !== undefined ? { text: m.text } : {}),
    ...(m.replyTo !== undefined ? { reply_to: { id: m.replyTo.id, sender: m.replyTo.sender } } : {}),
    ...(media !== undefined
      ? {
          media: {
            kind: media.kind,
            mime: media.mime,
            size: media.size,
            ...(media.data !== undefined ? { data_base64: Buffer.from(media.data).toString('base64') } : {}),
            ...(media.hosted !== undefined
              ? {
                  url: media.hosted.url,
                  key: Buffer.from(media.hosted.key).toString('base64'),
                  nonce: Buffer.from(media.hosted.nonce).toString('base64'),
                  sha256: Buffer.from(media.hosted.sha256).toString('hex'),
                  enc_sha256: Buffer.from(media.hosted.encSha256).toString('hex'),
                }
              : {}),
            ...(media.filename !== undefined ? { filename: media.filename } : {}),
            ...(media.caption !== undefined ? { caption: media.caption } : {}),
            ...(media.width !== undefined ? { width: media.width } : {}),
            ...(media.height !== undefined ? { height: media.height } : {}),
            ...(media.durationMs !== undefined ? { duration_ms: media.durationMs } : {}),
          },
        }
      : {}),
    ...(m.fallbacks !== undefined ? { fallbacks: m.fallbacks.map((f) => ({ feature: f.feature, text: f.text })) } : {}),
    offline: m.offline,
  };
  // (from, id) identifies a hub message (spec 5: receivers deduplicate on it).
  return prepare('message.received', derivedId(['message.received', adapterId, m.from, m.id]), m.to, data, now);
}

export function statusEvent(adapterId: string, s: MessageStatus, now: number): PreparedEvent {
  const id = derivedId(['message.status', adapterId, s.messageId, s.state, s.device ?? '', s.at]);
  return prepare('message.status', id, s.from, statusJson(s), now);
}

export function noticeEvent(n: Notice, now: number): PreparedEvent {
  const data: z.infer<typeof noticeData> =
    n.kind === 'undecryptable'
      ? { kind: n.kind, user: n.user, peer: n.peer, message_id: n.messageId }
      : n.kind === 'message-withheld'
        ? { kind: n.kind, user: n.user, peer: n.peer, message_id: n.messageId, feature: n.feature, text: n.text }
      : n.kind === 'provider-enrolled'
        ? { kind: n.kind, user: n.user, provider: { id: n.provider.id, name: n.provider.name } }
        : n.kind === 'safety-number-changed'
          ? { kind: n.kind, user: n.user, peer: n.peer, held: n.held }
          : { kind: n.kind, user: n.user, peer: n.peer, enabled: n.enabled };
  // Notices have no identity of their own: a repeat is a new notice.
  return prepare('notice', `evt_${randomBytes(16).toString('base64url')}`, n.user, data, now);
}
