// The `policy` section: what happens on a contact's identity change, and how each feature the hub
// does not carry between networks (spec 11, version 1 list) is downgraded in each direction.
// Each feature's `options` are checked here (so `check-config` reports a bad template with its
// path); they are optional in the parsed config, and src/policy fills the defaults below.
import { z } from 'zod';
import { UNSUPPORTED_FEATURES, type UnsupportedFeature } from '../protocol/types.ts';

export const DOWNGRADE_ACTIONS = ['convert', 'reject', 'drop'] as const;
export type DowngradeAction = (typeof DOWNGRADE_ACTIONS)[number];

/**
 * Defaults per feature: convert to a readable fallback (spec 11 `<fallback for=…>`) where a text
 * rendering keeps the meaning; reject view-once (its privacy promise cannot be kept as text) and
 * calls; drop status updates (there is no conversation to put them in).
 */
export const DEFAULT_DOWNGRADE: Record<UnsupportedFeature, DowngradeAction> = {
  sticker: 'convert',
  status: 'drop',
  disappearing: 'convert',
  'view-once': 'reject',
  poll: 'convert',
  location: 'convert',
  contact: 'convert',
  reaction: 'convert',
  edit: 'convert',
  delete: 'convert',
  call: 'reject',
};

/** Control characters other than tab/LF/CR cannot travel in XML text (spec 11 content). */
// eslint-disable-next-line no-control-regex
const NOT_XML_TEXT = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

/** A user-visible text that may use `{name}` placeholders from `allowed`. */
function template(allowed: readonly string[], fallback: string) {
  return z
    .string()
    .min(1)
    .max(1000)
    .refine((s) => s.isWellFormed() && !NOT_XML_TEXT.test(s), 'must not contain control characters or unpaired surrogates')
    .refine(
      (s) => [...s.matchAll(/\{([^{}]*)\}/g)].every((m) => allowed.includes(m[1] as string)),
      allowed.length > 0 ? `may use only the placeholders ${allowed.map((a) => `{${a}}`).join(' ')}` : 'may not use placeholders',
    )
    .default(fallback);
}

export const DEFAULT_MAP_URL = 'https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map={zoom}/{lat}/{lon}';

/** Options of each feature's converter; both directions share them (inbound uses few, see docs/downgrade-policy.md). */
export const DOWNGRADE_OPTIONS = {
  sticker: z
    .object({
      /** What an animated sticker becomes: video (if it is one, or a transcoder can make one), the original animated image, or a document. */
      animated_to: z.enum(['video', 'image', 'document']).default('video'),
    })
    .strict(),
  status: z.object({ prefix: template([], '📣 Status update: ') }).strict(),
  disappearing: z.object({ notify_sender: z.boolean().default(true) }).strict(),
  'view-once': z.object({ notify_sender: z.boolean().default(true) }).strict(),
  poll: z
    .object({
      footer: template([], '(Reply with the number.)'),
      footer_multiple: template([], '(Reply with one or more numbers.)'),
    })
    .strict(),
  location: z
    .object({
      map_url: template(['lat', 'lon', 'zoom'], DEFAULT_MAP_URL)
        .refine((s) => /^https?:\/\/[^\s]+$/.test(s), 'must be an http(s) URL template')
        .refine((s) => s.includes('{lat}') && s.includes('{lon}'), 'must contain {lat} and {lon}'),
      zoom: z.int().min(1).max(19).default(16),
    })
    .strict(),
  contact: z
    .object({
      /** vcard: a .vcf document (spec 11 media kind document); text: the details as text. */
      format: z.enum(['vcard', 'text']).default('vcard'),
      vcard_version: z.enum(['3.0', '4.0']).default('3.0'),
    })
    .strict(),
  reaction: z
    .object({
      text: template(['emoji', 'excerpt'], 'reacted {emoji} to “{excerpt}”'),
      text_no_excerpt: template(['emoji'], 'reacted {emoji}'),
      /** Longest quote of the reacted-to text, in user-perceived characters. */
      excerpt_length: z.int().min(1).max(500).default(60),
    })
    .strict(),
  edit: z.object({ prefix: template([], '✏️ Edited: ') }).strict(),
  delete: z
    .object({
      /** true: tell the recipient with a text; false: drop the deletion (nothing is sent). */
      notice: z.boolean().default(true),
      text: template(['sender'], '🗑️ {sender} deleted a message'),
    })
    .strict(),
  call: z
    .object({
      text: template(['sender'], '📞 {sender} tried to call you. Calls do not work across networks.'),
      text_video: template(['sender'], '📹 {sender} tried to video call you. Calls do not work across networks.'),
    })
    .strict(),
} as const satisfies Record<UnsupportedFeature, z.ZodType>;

export type DowngradeOptions = { [F in UnsupportedFeature]: z.output<(typeof DOWNGRADE_OPTIONS)[F]> };

function directionRule<F extends UnsupportedFeature>(feature: F) {
  return z
    .object({
      action: z.enum(DOWNGRADE_ACTIONS).default(DEFAULT_DOWNGRADE[feature]),
      /** Converter options; absent = every default of DOWNGRADE_OPTIONS[feature]. */
      options: DOWNGRADE_OPTIONS[feature].optional(),
    })
    .strict()
    .prefault({});
}

function featureRule<F extends UnsupportedFeature>(feature: F) {
  return z
    .object({
      /** Provider → hub. */
      outbound: directionRule(feature),
      /** Hub → provider. */
      inbound: directionRule(feature),
    })
    .strict()
    .prefault({});
}

const downgradeShape = Object.fromEntries(UNSUPPORTED_FEATURES.map((f) => [f, featureRule(f)])) as {
  [F in UnsupportedFeature]: ReturnType<typeof featureRule<F>>;
};

export const policySchema = z
  .object({
    /**
     * A hub contact's identity key changed (spec 8): `continue` re-establishes the session and
     * tells the provider user; `hold` keeps outbound messages until the user acknowledges it.
     */
    identity_change: z.enum(['continue', 'hold']).default('continue'),
    downgrade: z.object(downgradeShape).strict().prefault({}),
  })
  .strict()
  .prefault({});

export type PolicyConfig = z.output<typeof policySchema>;
