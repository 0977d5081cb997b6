// The webhook adapter's HTTP API as zod schemas: request bodies, path/query/header values and
// responses. The same objects validate requests (routes.ts) and generate the OpenAPI document
// (openapi.ts), so the document cannot drift from what is enforced. Schemas hold no transforms
// (they must stay representable as JSON Schema); normalization happens in the handlers.
import { z } from 'zod';
import { MEDIA_KINDS } from '../../src/protocol/types.ts';
import { FEATURE_SCHEMAS } from '../../src/policy/features.ts';
import { isFreeText } from '../../src/protocol/fields.ts';

/** Provider user local id (spec 1): 1–64 of [a-z0-9._=-]. */
export const LOCAL_ID_RE = /^[a-z0-9._=-]{1,64}$/;
/** Hub user address (spec 1): E.164 digits without "+", then @hub. */
export const HUB_USER_RE = /^[1-9][0-9]{0,14}@hub$/;
/** E.164 phone number with its "+". */
export const PHONE_RE = /^\+[1-9][0-9]{0,14}$/;
/** HIP message id (spec 3): 8–64 of [A-Za-z0-9_-]. */
export const HIP_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;
/** Idempotency key: 1–128 printable ASCII characters, no leading or trailing space. */
export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7E](?:[\x20-\x7E]{0,126}[\x21-\x7E])?$/;
/** Spec 11: `<text>` holds at most 65,536 Unicode code points. */
export const MAX_TEXT_CODE_POINTS = 65_536;
/** Read receipts per request. */
export const MAX_RECEIPT_IDS = 256;

export const localId = z
  .string()
  .regex(LOCAL_ID_RE, 'must be a provider user id: 1–64 of a-z 0-9 . _ = -')
  .meta({ description: 'Provider user id (the local part of alice@birdy.interop).', examples: ['alice'] });
export const hubUser = z
  .string()
  .regex(HUB_USER_RE, 'must be a hub user address such as 447700900123@hub')
  .meta({ examples: ['447700900123@hub'] });
export const hipId = z.string().regex(HIP_ID_RE, 'must be a message id: 8–64 of A-Z a-z 0-9 _ -');
export const idempotencyKey = z
  .string()
  .regex(IDEMPOTENCY_KEY_RE, 'must be 1–128 printable ASCII characters without leading or trailing spaces')
  .meta({ examples: ['order-7f3a-0001'] });

const recipient = z
  .string()
  .regex(
    /^(?:[1-9][0-9]{0,14}@hub|\+[1-9][0-9]{0,14})$/,
    'must be a hub user address (447700900123@hub) or an E.164 phone number (+447700900123)',
  )
  .meta({ description: 'Hub user address, or an E.164 phone number looked up in the directory first.', examples: ['+447700900123'] });

const userAddress = z
  .string()
  .regex(/^(?:[1-9][0-9]{0,14}@hub|[a-z0-9._=-]{1,64}@[a-z0-9-]{1,32}\.interop)$/, 'must be a hub or provider user address')
  .meta({ examples: ['447700900123@hub'] });

/**
 * Text travels in the hub's content XML (spec 11), which cannot carry most control characters or
 * U+FFFE/U+FFFF: refused here, or it would be queued and then fail when the content is encoded.
 * (Unpaired surrogates have their own message.)
 */
const XML_TEXT_MESSAGE = 'must not contain control characters other than tab, line feed and carriage return, nor U+FFFE or U+FFFF';
/** `s` refused unless every character can travel in the hub's content XML. */
const xmlChars = (s: z.ZodString) =>
  s.refine((v) => v.isWellFormed(), 'must not contain unpaired surrogates').refine((v) => !v.isWellFormed() || isFreeText(v), XML_TEXT_MESSAGE);

const text = xmlChars(z.string().min(1, 'must not be empty'))
  .refine((s) => s.length <= MAX_TEXT_CODE_POINTS || [...s].length <= MAX_TEXT_CODE_POINTS, `must be at most ${MAX_TEXT_CODE_POINTS} characters`)
  .meta({ description: `Plain text, 1–${MAX_TEXT_CODE_POINTS} Unicode code points (spec 11).` });

export const replyTo = z
  .object({ id: hipId.meta({ description: 'Id of the message answered.' }), sender: userAddress })
  .strict();

// ── requests ───────────────────────────────────────────────────────────────────────────────

/**
 * A feature the hub does not carry (spec 11): sticker, location, poll, contact, reaction, edit,
 * delete, disappearing, view-once, status, call. The downgrade policy converts, rejects or drops it
 * (docs/downgrade-policy.md); its data is validated here so a malformed one is a 400 with its path.
 */
const feature = z
  .discriminatedUnion(
    'name',
    Object.entries(FEATURE_SCHEMAS).map(([name, data]) => z.object({ name: z.literal(name), data }).strict()) as unknown as [
      z.ZodObject<{ name: z.ZodLiteral<string>; data: z.ZodType }>,
      ...Array<z.ZodObject<{ name: z.ZodLiteral<string>; data: z.ZodType }>>,
    ],
  )
  .meta({ description: 'A feature the hub does not carry, converted per the downgrade policy.' });

/** An attachment (spec 11): inline as base64 (within the 1 MiB request limit) or a URL Causeway fetches. */
const media = z
  .object({
    kind: z.enum(MEDIA_KINDS).meta({ description: '`voice` is an Opus or AAC recording played inline.' }),
    mime: z.string().regex(/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i, 'must be a MIME type such as image/jpeg'),
    data_base64: z.base64().optional().meta({ description: 'The file, base64; for files up to about 700 KB.' }),
    upload_id: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'must be an upload_id from POST /v1/media').optional().meta({ description: 'A file uploaded with POST /v1/media (any size up to the kind limit).' }),
    url: z.url({ protocol: /^https?$/ }).optional().meta({ description: 'Where Causeway fetches the file (size-capped, time-limited).' }),
    filename: z.string().min(1).max(255).optional(),
    caption: xmlChars(z.string().max(1024)).optional(),
  })
  .strict()
  .refine((m) => [m.data_base64, m.url, m.upload_id].filter((x) => x !== undefined).length === 1, { message: 'give exactly one of data_base64, url or upload_id', path: ['data_base64'] });

/** POST /v1/media: the file is the raw body, its type the Content-Type. */
export const uploadQuery = z
  .object({ kind: z.enum(MEDIA_KINDS), filename: z.string().min(1).max(255).optional() })
  .strict();

/** The fields of a message, shared by POST /v1/messages and each item of POST /v1/messages/batch. */
const messageFields = { from: localId, to: recipient, text: text.optional(), reply_to: replyTo.optional(), media: media.optional(), feature: feature.optional() };
const hasContent = (b: { text?: unknown; feature?: unknown; media?: unknown }): boolean => b.text !== undefined || b.feature !== undefined || b.media !== undefined;

export const sendMessageBody = z
  .object(messageFields)
  .strict()
  .refine(hasContent, { message: 'give text, media or feature', path: ['text'] });

/** Default of the adapter's `max_messages_per_batch`. */
export const DEFAULT_MAX_MESSAGES_PER_BATCH = 100;

/** One message of a batch: the single endpoint's body plus its own idempotency key (the header there). */
export const batchItem = z
  .object({ idempotency_key: idempotencyKey.meta({ description: 'Same rules and meaning as the Idempotency-Key header of POST /v1/messages.' }), ...messageFields })
  .strict()
  .refine(hasContent, { message: 'give text, media or feature', path: ['text'] });

/**
 * POST /v1/messages/batch. The item count is checked by the route before the items (413 above
 * `max_messages_per_batch`), so this schema bounds it only for the document.
 */
export function batchBody(maxMessages: number) {
  return z
    .object({ messages: z.array(batchItem).min(1, 'give at least one message').max(maxMessages, `at most ${maxMessages} messages per request`) })
    .strict();
}

export const interopBody = z.object({ enabled: z.boolean() }).strict();

export const safetyNumberBody = z
  .object({ peer: hubUser.meta({ description: 'The hub user whose new safety number the provider user acknowledged.' }) })
  .strict();

export const receiptsBody = z
  .object({
    user: localId.meta({ description: 'The provider user who read the messages.' }),
    peer: hubUser.meta({ description: 'The hub user who sent them.' }),
    message_ids: z.array(hipId).min(1).max(MAX_RECEIPT_IDS),
    type: z.enum(['read', 'played']).meta({ description: '`played` for voice messages.' }),
  })
  .strict()
  ;

export const directoryQuery = z
  .object({
    user: localId.meta({ description: 'The provider user asking (reachability is per provider).' }),
    phone: z
      .string()
      .regex(PHONE_RE, 'must be an E.164 phone number such as +447700900123')
      .meta({ description: 'E.164 number; send "+" as %2B.', examples: ['+447700900123'] }),
  })
  .strict();

export const userParams = z.object({ id: localId }).strict();
export const messageParams = z
  .object({ ref: idempotencyKey.meta({ description: 'The Idempotency-Key the message was sent with, or its message_id.' }) })
  .strict();

// ── responses ──────────────────────────────────────────────────────────────────────────────

export const issue = z.object({
  field: z.string().meta({ description: 'Dotted path of the offending value (reply_to.id), or the header/parameter name.' }),
  in: z.enum(['body', 'query', 'path', 'header']),
  message: z.string(),
});
export const errorResponse = z
  .object({ error: z.string(), issues: z.array(issue).optional() })
  ;

/** The 429 of a sender over limits.outbound_rate_per_user (also told by the Retry-After header). */
export const rateLimited = errorResponse.extend({ limit: z.string(), retry_after_s: z.number().int() });

export const messageAccepted = z
  .object({ message_id: z.string(), status: z.literal('queued'), duplicate: z.boolean() })
  ;

export const batchResult = z
  .object({
    results: z
      .array(
        z.discriminatedUnion('status', [
          z.object({ idempotency_key: z.string(), status: z.literal('queued'), message_id: z.string(), duplicate: z.boolean() }),
          z.object({ idempotency_key: z.string(), status: z.literal('rejected'), error: z.string(), issues: z.array(issue) }),
        ]),
      )
      .meta({ description: 'One entry per message, in request order: what POST /v1/messages would have answered it (202 → queued, 422 → rejected).' }),
    queued: z.number().int(),
    rejected: z.number().int(),
  });

export const messageStatus = z
  .object({
    message_id: z.string(),
    idempotency_key: z.string(),
    from: z.string(),
    to: z.string(),
    state: z.enum(['queued', 'sent', 'delivered', 'read', 'played', 'failed']),
    at: z.iso.datetime(),
    device: z.string().optional().meta({ description: 'Hub device that reported delivered/read/played.' }),
    reason: z.string().optional().meta({ description: 'Stable failure code: not-opted-in, blocked, too-large, expired…' }),
    message: z.string().optional().meta({ description: 'A sentence the provider can show its user.' }),
    certain: z.boolean().optional().meta({ description: 'False when the hub may still have the message (ack lost).' }),
    downgraded: z.array(z.object({ feature: z.string(), to: z.string() })).optional(),
  })
  ;

export const messageHistory = z
  .object({ message_id: z.string(), statuses: z.array(messageStatus) })
  ;

export const interopResult = z.object({ user: z.string(), enabled: z.boolean() });
export const safetyNumberResult = z.object({ user: z.string(), peer: z.string(), released: z.boolean() });
export const directoryResult = z.object({ jid: z.string() });
export const receiptsAccepted = z.object({ accepted: z.number().int() });
export const uploadResult = z.object({ upload_id: z.string(), mime: z.string(), size: z.number().int() });
