// The outbound downgrade policy: a provider user's message (adapters/contract.ts OutboundMessage),
// the `policy.downgrade` rules and what the hub carries → one Decision: send (converted, with spec
// 11 `<fallback>` entries and the `downgraded` list for the sender's status), reject, or drop.
// Pure and deterministic: no IO, no clock, no randomness; it never throws for any message whose
// `feature` is `{ name: string; data: unknown }`.
//
// Order: (1) the feature, if any, is validated (features.ts) and handled by its rule — reject,
// drop, or its converter; (2) the media of the result, if any, is placed on a kind the hub carries
// at its size (media-chain.ts: voice → audio → document, image/video/audio → document), else the
// message is rejected `unsupported-in-interop` or `too-large` (spec 4: 406, 413).
import type { OutboundMessage } from '../../adapters/contract.ts';
import type { PolicyConfig } from '../config/policy-schema.ts';
import type { MediaKind } from '../protocol/index.ts';
import type { ConvertEnv, Conversion } from './convert-env.ts';
import { contact, disappearing, status, sticker, viewOnce } from './convert-media.ts';
import { call, deletion, edit, LOCAL_ONLY_DELETE, location, poll, reaction } from './convert-text.ts';
import { dropMessage, FEATURE_NOUN, rejectMessage, type Decision, type SendDecision } from './decision.ts';
import { checkFeature, type Feature } from './features.ts';
import { carries, mediaLimit, SPEC_FEATURES, type HubFeatures } from './features-cache.ts';
import { defaultFilename, KIND_LABEL, MEDIA_CHAIN, placeMedia } from './media-chain.ts';
import { actionFor, optionsFor } from './options.ts';
import { byteSize, truncateCodePoints } from './text.ts';

export interface OutboundContext {
  /** The sender's address (`alice@birdy.interop`): the `sender` of `<reply>` to its own messages (edit, delete). */
  self: string;
  /** What the hub carries (features-cache.ts); the spec's defaults when absent. */
  hubFeatures?: HubFeatures;
  /** A kind or feature a 406 named (spec 4 `<unsupported feature>`): treated as not carried. */
  forced?: string;
  /** Plaintext size of the media when only its `url` is known (then limits are checked by the media layer). */
  mediaSize?: number;
  /** Whether the media layer can transcode (e.g. an animated GIF sticker to video/mp4); none by default. */
  canTranscode?: (from: string, to: string) => boolean;
}

/** Longest `<fallback>` text written, in code points (names and questions in it are already cut). */
const MAX_FALLBACK = 1000;

const KIND_PLURAL: Readonly<Record<MediaKind, string>> = {
  image: 'Photos',
  video: 'Videos',
  audio: 'Audio files',
  voice: 'Voice messages',
  document: 'Documents',
};

function convert(f: Feature, rules: PolicyConfig, env: ConvertEnv): Conversion {
  switch (f.name) {
    case 'sticker':
      return sticker(f.data, optionsFor(rules, 'sticker', 'outbound'), env);
    case 'status':
      return status(f.data, optionsFor(rules, 'status', 'outbound'), env);
    case 'disappearing':
      return disappearing(f.data, optionsFor(rules, 'disappearing', 'outbound'), env);
    case 'view-once':
      return viewOnce(f.data, optionsFor(rules, 'view-once', 'outbound'), env);
    case 'poll':
      return poll(f.data, optionsFor(rules, 'poll', 'outbound'), env);
    case 'location':
      return location(f.data, optionsFor(rules, 'location', 'outbound'), env);
    case 'contact':
      return contact(f.data, optionsFor(rules, 'contact', 'outbound'), env);
    case 'reaction':
      return reaction(f.data, optionsFor(rules, 'reaction', 'outbound'), env);
    case 'edit':
      return edit(f.data, optionsFor(rules, 'edit', 'outbound'), env);
    case 'delete':
      return deletion(f.data, optionsFor(rules, 'delete', 'outbound'), env);
    case 'call':
      return call(f.data, optionsFor(rules, 'call', 'outbound'), env);
  }
}

/** The feature's rule applied: a send decision before media placement, or the final reject/drop. */
function handleFeature(msg: OutboundMessage, feature: { name: string; data: unknown }, rules: PolicyConfig, env: ConvertEnv): Decision {
  const check = checkFeature(feature);
  if (!check.ok) {
    const first = check.issues[0];
    return check.unknown
      ? { kind: 'reject', reason: 'unknown-feature', feature: feature.name, message: 'This kind of message cannot be sent to contacts on other networks.', issues: check.issues }
      : {
          kind: 'reject',
          reason: 'invalid-feature',
          feature: feature.name,
          message: `The message could not be read${first ? ` (${first.path}: ${first.message})` : ''}.`,
          issues: check.issues,
        };
  }
  const f = check.feature;
  // A deletion for the sender only has nothing for the recipient, whatever the rule (docs).
  if (f.name === 'delete' && f.data.for_everyone === false) return { ...LOCAL_ONLY_DELETE, feature: f.name };
  const action = actionFor(rules, f.name, 'outbound');
  if (action === 'reject') {
    return { kind: 'reject', reason: f.name === 'view-once' ? 'view-once' : 'unsupported-in-interop', feature: f.name, message: rejectMessage(f.name) };
  }
  if (action === 'drop') return { kind: 'drop', reason: 'dropped-by-policy', feature: f.name, message: dropMessage(f.name) };

  const c = convert(f, rules, env);
  if (c.kind !== 'converted') return { ...c, feature: f.name };
  const { feature: _feature, text: _text, media: ownMedia, replyTo: ownReply, ...base } = msg;
  const message: OutboundMessage = { ...base };
  if (c.text !== undefined && c.text.length > 0) message.text = truncateCodePoints(c.text);
  const media = c.media ?? ownMedia;
  if (media !== undefined) message.media = media;
  const replyTo = c.replyTo ?? ownReply;
  if (replyTo !== undefined) message.replyTo = replyTo;
  return {
    kind: 'send',
    message,
    fallbacks: [{ for: f.name, text: truncateCodePoints(c.fallback, MAX_FALLBACK) }],
    downgraded: [{ feature: f.name, to: c.to }],
    ...(c.notice !== undefined ? { notice: c.notice } : {}),
    ...(c.transcode !== undefined ? { transcode: c.transcode } : {}),
  };
}

/** Puts the message's media on a kind the hub carries at its size, or rejects (spec 4: 406, 413). */
function placeOutboundMedia(d: SendDecision, hub: HubFeatures, accepts: (k: MediaKind) => boolean, mediaSize: number | undefined): Decision {
  const m = d.message.media;
  if (m === undefined) return d;
  const size = m.data?.byteLength ?? (d.transcode ? undefined : mediaSize);
  const limit = (k: MediaKind): number => mediaLimit(hub, k);
  const p = placeMedia(m.kind, size, accepts, limit);
  if (!p.ok) {
    if (p.reason === 'unsupported-in-interop') {
      return { kind: 'reject', reason: 'unsupported-in-interop', feature: m.kind, message: `${KIND_PLURAL[m.kind]} cannot be sent to contacts on other networks.` };
    }
    const largest = Math.max(...MEDIA_CHAIN[m.kind].filter(accepts).map(limit));
    return { kind: 'reject', reason: 'too-large', feature: m.kind, message: `The file is too large to send to contacts on other networks (at most ${byteSize(largest)}).` };
  }
  if (p.kind === m.kind) return d;
  const filename = m.filename ?? (p.kind === 'document' ? defaultFilename(m.kind, m.mime) : undefined);
  return {
    ...d,
    message: { ...d.message, media: { ...m, kind: p.kind, ...(filename !== undefined ? { filename } : {}) } },
    fallbacks: [...d.fallbacks, { for: m.kind, text: KIND_LABEL[m.kind] }],
    downgraded: [...d.downgraded, { feature: m.kind, to: p.kind }],
  };
}

/** The policy for one outbound message. */
export function downgradeOutbound(msg: OutboundMessage, rules: PolicyConfig, ctx: OutboundContext): Decision {
  const hub = ctx.hubFeatures ?? SPEC_FEATURES;
  const forced = ctx.forced;
  const accepts = (k: MediaKind): boolean => carries(hub, k) && k !== forced && forced !== 'media';
  const env: ConvertEnv = {
    msg,
    self: ctx.self,
    fits: (k, size) => accepts(k) && (size === undefined || size <= mediaLimit(hub, k)),
    canTranscode: (from, to) => ctx.canTranscode?.(from, to) ?? false,
  };
  let d: Decision;
  if (msg.feature === undefined) {
    const { feature: _feature, ...plain } = msg;
    d = { kind: 'send', message: plain, fallbacks: [], downgraded: [] };
  } else {
    d = handleFeature(msg, msg.feature, rules, env);
  }
  return d.kind === 'send' ? placeOutboundMedia(d, hub, accepts, ctx.mediaSize) : d;
}

export interface After406Context extends OutboundContext {
  /** The message was already sent again after a 406: a second 406 fails it for good. */
  resent?: boolean;
}

/** "stickers", "voice messages", "“gif” messages" for sentences about a refused kind or feature. */
function nounOf(name: string): string {
  if (Object.hasOwn(FEATURE_NOUN, name)) return FEATURE_NOUN[name as keyof typeof FEATURE_NOUN].toLowerCase();
  if (Object.hasOwn(KIND_PLURAL, name)) return KIND_PLURAL[name as MediaKind].toLowerCase();
  return `“${name}” messages`;
}

/** Whether a message as sent declares `name` to the hub (spec 4: `type`, `enc/@mediatype`). */
function declares(m: OutboundMessage, name: string): boolean {
  if (m.feature?.name === name) return true;
  if (m.media === undefined) return name === 'text';
  return name === 'media' || m.media.kind === name;
}

/**
 * The 406 path (spec 4: `unsupported-in-interop`, "downgrade per policy and send again, else fail
 * permanently"). `feature` is the ack's `<unsupported feature>`; when absent, the media kind is
 * taken (our stanzas declare nothing else). Returns a send decision to be sent again exactly once
 * (call again with `resent: true` if that one is refused too), or a permanent reject. `msg` may be
 * the original (with its feature) or the converted message that was refused.
 */
export function downgradeAfter406(msg: OutboundMessage, feature: string | undefined, rules: PolicyConfig, ctx: After406Context): Decision {
  const named = feature ?? msg.media?.kind;
  const what = named === undefined ? 'this message' : nounOf(named);
  if (ctx.resent || named === undefined) {
    return {
      kind: 'reject',
      reason: 'unsupported-in-interop',
      ...(named !== undefined ? { feature: named } : {}),
      message: `The other network does not accept ${what}${ctx.resent ? ', even after downgrading' : ''}.`,
    };
  }
  const { forced: _forced, resent: _resent, ...plain } = ctx;
  // What was sent: decided while the hub was taken to carry `named` (the caller may already have
  // learned the refusal, docs step 3, or a fresh `features` answer may list it as unsupported).
  const hub = plain.hubFeatures ?? SPEC_FEATURES;
  const { [named]: _refused, ...refusedBefore } = hub.refused;
  const hubBefore: HubFeatures = { ...hub, refused: refusedBefore, unsupported: hub.unsupported.filter((n) => n !== named) };
  const before = downgradeOutbound(msg, rules, { ...plain, hubFeatures: hubBefore });
  const sent = before.kind === 'send' ? before.message : msg;
  const after = downgradeOutbound(msg, rules, { ...plain, forced: named });
  if (after.kind !== 'send') return after;
  if ((declares(sent, named) || declares(msg, named)) && !declares(after.message, named)) return after;
  return { kind: 'reject', reason: 'unsupported-in-interop', feature: named, message: `The other network does not accept ${what}, and this message cannot be downgraded further.` };
}
