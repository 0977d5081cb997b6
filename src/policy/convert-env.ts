// What a converter gets besides its payload and options, and what it returns. Converters are pure
// functions of these inputs (no clock, no randomness), so a message converts the same way on every
// replica and on every retry.
import type { OutboundMessage } from '../../adapters/contract.ts';
import type { MediaKind } from '../protocol/index.ts';
import type { DropReason, RejectReason } from './decision.ts';
import type { FeatureIssue } from './features.ts';
import { lines } from './text.ts';

export type OutboundMedia = NonNullable<OutboundMessage['media']>;

export interface ConvertEnv {
  /** The message as the adapter submitted it. */
  msg: OutboundMessage;
  /** The sender's address (`alice@birdy.interop`): `sender` of replies to its own messages. */
  self: string;
  /** Whether the hub takes this media kind at this size (size undefined: any size). */
  fits(kind: MediaKind, size: number | undefined): boolean;
  /** Whether the media layer can convert files of one type into another (no transcoder: always false). */
  canTranscode(from: string, to: string): boolean;
}

export type Conversion =
  | {
      kind: 'converted';
      text?: string;
      media?: OutboundMedia;
      replyTo?: { id: string; sender: string };
      /** Text of `<fallback for=FEATURE>`: what the message was (spec 11). */
      fallback: string;
      /** What it became: `text` or a media kind. */
      to: string;
      notice?: string;
      transcode?: { from: string; to: string };
    }
  | { kind: 'reject'; reason: RejectReason; message: string; issues?: FeatureIssue[] }
  | { kind: 'drop'; reason: DropReason; message: string };

/** A text rendering after the message's own text (if any), separated by a blank line. */
export function afterOwnText(env: ConvertEnv, rendering: string): string {
  const own = env.msg.text?.trim() ? env.msg.text : undefined;
  return own === undefined ? rendering : `${own}\n\n${rendering}`;
}

/** Spec 11 content holds one media: a feature that brings its own may not come with `media` too. */
export function mediaConflict(env: ConvertEnv): Conversion | undefined {
  if (env.msg.media === undefined) return undefined;
  return {
    kind: 'reject',
    reason: 'invalid-feature',
    message: 'This message carries two attachments; only one can be sent.',
    issues: [{ path: 'media', message: 'must be absent: the feature brings its own media' }],
  };
}

export { lines };
