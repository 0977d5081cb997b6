// The inbound downgrade policy: a hub user's decrypted message (adapters/contract.ts
// InboundMessage) and what the provider can show (Capabilities) → deliver (possibly converted),
// reject or drop. Pure and deterministic.
//
// HIP/1 carries no feature from the hub (spec 11): what arrives is text, media, a reply, and
// `<fallback for>` entries where the hub user's app downgraded something. So the inbound rules
// apply to those fallbacks — convert: deliver the fallback as it is; reject: do not deliver, tell
// the provider user with a notice; drop: skip it (the caller counts it). A feature listed in
// Capabilities.features is delivered as it is (the provider shows it itself). Media of a kind the
// provider cannot show goes down the chain of media-chain.ts (voice → audio → document), and
// becomes a line of text naming it when no kind is left. Every conversion is appended to the
// message's `fallbacks`, so that the provider can label it, and listed in `downgraded`.
// Rejected and dropped messages are not delivered; the caller still acks them (spec 5) but sends
// no delivery receipt, since the user never got them (docs/downgrade-policy.md).
import type { Capabilities, InboundMessage } from '../../adapters/contract.ts';
import type { PolicyConfig } from '../config/policy-schema.ts';
import type { MediaKind, UnsupportedFeature } from '../protocol/index.ts';
import { FEATURE_ONE, type Downgrade } from './decision.ts';
import { isKnownFeature } from './features.ts';
import { defaultFilename, KIND_LABEL, placeMedia } from './media-chain.ts';
import { actionFor } from './options.ts';
import { byteSize, lines, oneLine, truncateCodePoints } from './text.ts';

export type InboundDecision =
  | { kind: 'deliver'; message: InboundMessage; downgraded: Downgrade[] }
  | {
      kind: 'reject';
      reason: 'unsupported-in-interop' | 'view-once';
      feature: UnsupportedFeature;
      /** For a notice to the provider user (`m.to`): who sent what. */
      peer: string;
      messageId: string;
      /** A sentence the provider can show its user. */
      notice: string;
    }
  | { kind: 'drop'; reason: 'dropped-by-policy'; feature: UnsupportedFeature };

const AS_KIND: Readonly<Record<MediaKind, string>> = {
  image: 'a photo',
  video: 'a video',
  audio: 'audio',
  voice: 'a voice message',
  document: 'a document',
};

function rejectNotice(f: UnsupportedFeature): string {
  if (f === 'view-once') {
    return 'A contact on another network sent you view-once media. It is not shown here, because this app cannot make sure it is viewed only once.';
  }
  return `A contact on another network sent you ${FEATURE_ONE[f]}, which cannot be shown here.`;
}

/** "0:07", "1:02:03". */
function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60));
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm.padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

export function downgradeInbound(m: InboundMessage, capabilities: Capabilities, rules: PolicyConfig): InboundDecision {
  let dropped: UnsupportedFeature | undefined;
  for (const fb of m.fallbacks ?? []) {
    const f = fb.feature;
    if (!isKnownFeature(f) || capabilities.features.includes(f)) continue;
    const action = actionFor(rules, f, 'inbound');
    if (action === 'reject') {
      return { kind: 'reject', reason: f === 'view-once' ? 'view-once' : 'unsupported-in-interop', feature: f, peer: m.from, messageId: m.id, notice: rejectNotice(f) };
    }
    if (action === 'drop') dropped ??= f;
  }
  if (dropped !== undefined) return { kind: 'drop', reason: 'dropped-by-policy', feature: dropped };

  const media = m.media;
  if (media === undefined || capabilities.media.includes(media.kind)) return { kind: 'deliver', message: m, downgraded: [] };

  const label = KIND_LABEL[media.kind];
  const p = placeMedia(media.kind, media.size, (k) => capabilities.media.includes(k));
  if (p.ok) {
    const filename = media.filename ?? (p.kind === 'document' ? defaultFilename(media.kind, media.mime) : undefined);
    return {
      kind: 'deliver',
      message: {
        ...m,
        media: { ...media, kind: p.kind, ...(filename !== undefined ? { filename } : {}) },
        fallbacks: [...(m.fallbacks ?? []), { feature: media.kind, text: `${label}, shown as ${AS_KIND[p.kind]}` }],
      },
      downgraded: [{ feature: media.kind, to: p.kind }],
    };
  }
  const details = [media.durationMs !== undefined && media.kind !== 'image' && media.kind !== 'document' ? clock(media.durationMs) : undefined, byteSize(media.size)];
  const name = media.filename === undefined ? '' : `: ${oneLine(media.filename)}`;
  const attachment = `📎 ${label}${name} (${details.filter((d) => d !== undefined).join(', ')})`;
  const { media: _media, ...rest } = m;
  return {
    kind: 'deliver',
    message: {
      ...rest,
      text: truncateCodePoints(lines(m.text, attachment, media.caption)),
      fallbacks: [...(m.fallbacks ?? []), { feature: media.kind, text: `${label} that this app cannot show, described as text` }],
    },
    downgraded: [{ feature: media.kind, to: 'text' }],
  };
}
