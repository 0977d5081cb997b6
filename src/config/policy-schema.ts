// The `policy` section: what happens on a contact's identity change, and how each feature the hub
// does not carry between networks (spec 11, version 1 list) is downgraded in each direction.
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

function directionRule(action: DowngradeAction) {
  return z
    .object({
      action: z.enum(DOWNGRADE_ACTIONS).default(action),
      /** Converter-specific options (e.g. a fallback text template). */
      options: z.record(z.string(), z.unknown()).optional(),
    })
    .strict()
    .prefault({});
}

function featureRule(action: DowngradeAction) {
  return z
    .object({
      /** Provider → hub. */
      outbound: directionRule(action),
      /** Hub → provider. */
      inbound: directionRule(action),
    })
    .strict()
    .prefault({});
}

const downgradeShape = Object.fromEntries(UNSUPPORTED_FEATURES.map((f) => [f, featureRule(DEFAULT_DOWNGRADE[f])])) as {
  [F in UnsupportedFeature]: ReturnType<typeof featureRule>;
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
