// Rules and converter options as the engine reads them: the parsed `policy.downgrade` section
// (src/config/policy-schema.ts), with every option a rule leaves out taken from the schema's
// defaults. Pure.
import { DOWNGRADE_OPTIONS, type DowngradeAction, type DowngradeOptions, type PolicyConfig } from '../config/policy-schema.ts';
import { UNSUPPORTED_FEATURES, type UnsupportedFeature } from '../protocol/index.ts';

export type Direction = 'outbound' | 'inbound';

/** Every converter's options at their defaults (DOWNGRADE_OPTIONS parsed from `{}`). */
export const DEFAULT_OPTIONS: Readonly<DowngradeOptions> = Object.freeze(
  Object.fromEntries(UNSUPPORTED_FEATURES.map((f) => [f, DOWNGRADE_OPTIONS[f].parse({})])) as DowngradeOptions,
);

export function actionFor(rules: PolicyConfig, feature: UnsupportedFeature, direction: Direction): DowngradeAction {
  return rules.downgrade[feature][direction].action;
}

/** The rule's options, or the defaults when the rule gives none. */
export function optionsFor<F extends UnsupportedFeature>(rules: PolicyConfig, feature: F, direction: Direction): DowngradeOptions[F] {
  const given = (rules.downgrade[feature][direction] as { options?: DowngradeOptions[F] }).options;
  return given ?? DEFAULT_OPTIONS[feature];
}
