// Feature payloads an adapter may hand over in `OutboundMessage.feature = { name, data }`
// (adapters/contract.ts): one zod schema per feature the hub does not carry (spec 11, version 1
// list). Pure. Texts must be valid XML character data (they end up in spec 11 content); target ids
// are HIP message ids (spec 3) because they become `<reply to>`. Unknown keys are ignored, so an
// adapter may pass more than the policy reads.
import { z } from 'zod';
import { isValidId, MEDIA_KINDS, UNSUPPORTED_FEATURES } from '../protocol/index.ts';
import type { UnsupportedFeature } from '../protocol/index.ts';
import { isXmlText } from './text.ts';

/** Free text of at most `max` UTF-16 units (the engine truncates what it writes to spec 11's limit). */
function text(max: number) {
  return z.string().max(max).refine(isXmlText, 'must not contain control characters or unpaired surrogates');
}
const nonEmptyText = (max: number) => text(max).refine((s) => s.trim().length > 0, 'must not be empty');

/** A message text, as large as the core accepts (65,536 bytes by default) with room to spare. */
const MESSAGE_TEXT = 262_144;

const targetId = z.string().refine(isValidId, 'must be a HIP message id: 8–64 of A-Z a-z 0-9 _ -');

/** `type/subtype` with optional parameters, as spec 11 `media/@mime`. */
export const MIME_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(?:;[ -~]{0,255})?$/;
const mime = z.string().regex(MIME_RE, 'must be a MIME type such as image/webp');

const mediaFields = {
  mime,
  data: z.instanceof(Uint8Array, { message: 'must be bytes (Uint8Array)' }).optional(),
  url: z
    .string()
    .max(4096)
    .refine((s) => /^https?:\/\/[!-~]+$/.test(s) && URL.canParse(s), 'must be an http(s) URL')
    .optional(),
  filename: nonEmptyText(255).optional(),
  caption: text(4096).optional(),
};
const hasSource = (m: { data?: Uint8Array | undefined; url?: string | undefined }): boolean => m.data !== undefined || m.url !== undefined;
const SOURCE_MESSAGE = { message: 'needs data or url', path: ['data'] };

/** The same shape as `OutboundMessage.media`. */
export const mediaSchema = z.object({ kind: z.enum(MEDIA_KINDS), ...mediaFields }).refine(hasSource, SOURCE_MESSAGE);
export type FeatureMedia = z.output<typeof mediaSchema>;

export const stickerSchema = z.object({
  /** The sticker's own type: image/webp, image/png, image/gif, video/webm, application/x-tgsticker… */
  mime,
  animated: z.boolean().optional(),
  /** The emoji the sticker stands for, if the provider knows it (used in fallback texts). */
  emoji: nonEmptyText(64).optional(),
  /** `kind` and `mime` may be left out here: the sticker's own `mime` counts. */
  media: z.object({ kind: z.enum(MEDIA_KINDS).optional(), ...mediaFields, mime: mime.optional() }).refine(hasSource, SOURCE_MESSAGE),
});

export const locationSchema = z.object({
  latitude: z.number().min(-90).max(90),
  longitude: z.number().min(-180).max(180),
  name: nonEmptyText(1024).optional(),
  address: nonEmptyText(4096).optional(),
  /** A live location: only this position is sent; updates are not. */
  live: z.boolean().optional(),
});

export const PHONE_NUMBER_RE = /^\+?[0-9 ()./-]{1,40}$/;
export const contactSchema = z.object({
  name: nonEmptyText(1024),
  phones: z
    .array(
      z.object({
        number: z
          .string()
          .regex(PHONE_NUMBER_RE, 'must be a phone number: digits, spaces and ( ) . / - with an optional leading +')
          .refine((s) => /[0-9]/.test(s), 'must contain a digit'),
        /** mobile, home, work… or any short text. */
        label: nonEmptyText(64).optional(),
      }),
    )
    .max(50)
    .optional(),
  // XML text too: an email is written into the text form of the card (spec 11 `<text>`).
  emails: z
    .array(text(254).regex(/^[^\s@]+@[^\s@]+$/, 'must be an email address'))
    .max(50)
    .optional(),
  organization: nonEmptyText(1024).optional(),
});

export const pollSchema = z.object({
  question: nonEmptyText(4096),
  options: z.array(nonEmptyText(1024)).min(2).max(12),
  multiple: z.boolean().optional(),
});

export const editSchema = z.object({ target_id: targetId, text: nonEmptyText(MESSAGE_TEXT) });

export const deleteSchema = z.object({ target_id: targetId, for_everyone: z.boolean().optional() });

export const reactionSchema = z.object({
  target_id: targetId,
  emoji: nonEmptyText(64),
  /** The reacted-to message's text, quoted in the fallback. */
  target_text: text(MESSAGE_TEXT).optional(),
  /** Who sent the reacted-to message: the hub user (`peer`, the default) or the sender (`self`). */
  target_sender: z.enum(['peer', 'self']).optional(),
});

/** The message itself may be in `text`/`media` here or in the OutboundMessage's own fields. */
export const disappearingSchema = z.object({
  seconds: z.int().min(1).max(10 * 365 * 86_400),
  text: text(MESSAGE_TEXT).optional(),
  media: mediaSchema.optional(),
});

export const viewOnceSchema = z.object({ media: mediaSchema });

export const statusSchema = z.object({ text: text(MESSAGE_TEXT).optional(), media: mediaSchema.optional() });

export const callSchema = z.object({ video: z.boolean().optional() });

export const FEATURE_SCHEMAS = {
  sticker: stickerSchema,
  status: statusSchema,
  disappearing: disappearingSchema,
  'view-once': viewOnceSchema,
  poll: pollSchema,
  location: locationSchema,
  contact: contactSchema,
  reaction: reactionSchema,
  edit: editSchema,
  delete: deleteSchema,
  call: callSchema,
} as const satisfies Record<UnsupportedFeature, z.ZodType>;

export type FeatureData = { [F in UnsupportedFeature]: z.output<(typeof FEATURE_SCHEMAS)[F]> };
export type StickerData = FeatureData['sticker'];
export type LocationData = FeatureData['location'];
export type ContactData = FeatureData['contact'];
export type PollData = FeatureData['poll'];
export type EditData = FeatureData['edit'];
export type DeleteData = FeatureData['delete'];
export type ReactionData = FeatureData['reaction'];
export type DisappearingData = FeatureData['disappearing'];
export type ViewOnceData = FeatureData['view-once'];
export type StatusData = FeatureData['status'];
export type CallData = FeatureData['call'];

/** A validated feature: the name tells the type of `data`. */
export type Feature = { [F in UnsupportedFeature]: { name: F; data: FeatureData[F] } }[UnsupportedFeature];

/** One problem, with a path from the OutboundMessage (`feature.data.options[2]`). */
export interface FeatureIssue {
  path: string;
  message: string;
}

export type FeatureCheck = { ok: true; feature: Feature } | { ok: false; unknown: boolean; issues: FeatureIssue[] };

export function isKnownFeature(name: string): name is UnsupportedFeature {
  return (UNSUPPORTED_FEATURES as readonly string[]).includes(name);
}

/** `['feature', 'data', 'options', 2]` → `feature.data.options[2]`. */
export function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? String(seg) : `.${String(seg)}`;
  return out;
}

/** Validates `OutboundMessage.feature`. Never throws. */
export function checkFeature(feature: { name: string; data: unknown }): FeatureCheck {
  if (!isKnownFeature(feature.name)) {
    return { ok: false, unknown: true, issues: [{ path: 'feature.name', message: `must be one of ${UNSUPPORTED_FEATURES.join(', ')}` }] };
  }
  const r = FEATURE_SCHEMAS[feature.name].safeParse(feature.data);
  if (!r.success) {
    return {
      ok: false,
      unknown: false,
      issues: r.error.issues.map((i) => ({ path: issuePath(['feature', 'data', ...i.path]), message: i.message })),
    };
  }
  return { ok: true, feature: { name: feature.name, data: r.data } as Feature };
}
