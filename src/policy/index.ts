// Public API of src/policy: the downgrade policy for what the hub does not carry (spec 11), in both
// directions, as pure functions of a message, the `policy` config section, what the hub carries and
// what the provider can show. No IO; docs/downgrade-policy.md says how the delivery code uses it.
export { downgradeOutbound, downgradeAfter406 } from './engine.ts';
export type { OutboundContext, After406Context } from './engine.ts';
export { downgradeInbound } from './inbound.ts';
export type { InboundDecision } from './inbound.ts';
export type { Decision, SendDecision, Fallback, Downgrade, RejectReason, DropReason } from './decision.ts';
export { checkFeature, isKnownFeature, FEATURE_SCHEMAS, mediaSchema } from './features.ts';
export type { Feature, FeatureData, FeatureCheck, FeatureIssue, FeatureMedia } from './features.ts';
export { SPEC_FEATURES, SPEC_MEDIA_LIMITS, featuresFromAnswer, mergeFeatures, withLimits, withRefused, carries, mediaLimit, isStale } from './features-cache.ts';
export type { HubFeatures } from './features-cache.ts';
export { DEFAULT_OPTIONS, optionsFor, actionFor } from './options.ts';
export { buildVcard } from './vcard.ts';
