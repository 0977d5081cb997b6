// What the downgrade policy answers: send (a converted message with its spec 11 `<fallback>`
// entries and the `downgraded` list for the sender's status), reject (fail with a sentence the
// sender sees) or drop (nothing is sent; the sender is told why). Also the fixed sentences.
// Pure data; reasons are stable codes for MessageStatus.reason (adapters/contract.ts).
import type { OutboundMessage } from '../../adapters/contract.ts';
import type { UnsupportedFeature } from '../protocol/index.ts';
import type { FeatureIssue } from './features.ts';

/** One `<fallback for="…">text</fallback>` of spec 11 (`for` is a feature or media kind token). */
export interface Fallback {
  for: string;
  text: string;
}

/** One conversion, for MessageStatus.downgraded: `{ feature: 'sticker', to: 'image' }`; `to` is `text` or a media kind. */
export interface Downgrade {
  feature: string;
  to: string;
}

export type RejectReason =
  /** The rule for the feature is `reject`, the hub does not carry the kind, or a 406 came back after a downgrade. */
  | 'unsupported-in-interop'
  /** View-once media under a `reject` rule (its privacy promise cannot be kept, spec 11). */
  | 'view-once'
  /** Larger than every kind the hub carries it as (spec 4: 413, spec 11.1 limits). */
  | 'too-large'
  /** `feature.data` does not match its schema (features.ts); `issues` has the paths. */
  | 'invalid-feature'
  /** `feature.name` is not one of the spec 11 features. */
  | 'unknown-feature';

export type DropReason =
  /** The rule for the feature is `drop` (or delete with `notice: false`). */
  | 'dropped-by-policy'
  /** A deletion for the sender only: there is nothing to tell the recipient. */
  | 'local-only';

export type Decision =
  | {
      kind: 'send';
      /** The message to send: `feature` removed; text and/or media; `replyTo` where the conversion answers a message. */
      message: OutboundMessage;
      /** Goes into the content as `<fallback for>` (spec 11); empty when nothing was converted. */
      fallbacks: Fallback[];
      /** For the sender's MessageStatus.downgraded; empty when nothing was converted. */
      downgraded: Downgrade[];
      /** A sentence for the sender when the conversion changes what they may expect (timer, view-once, deletion). */
      notice?: string;
      /** The media layer must convert the file before encrypting it (an animated sticker made a video). */
      transcode?: { from: string; to: string };
    }
  | { kind: 'reject'; reason: RejectReason; feature?: string; message: string; issues?: FeatureIssue[] }
  | { kind: 'drop'; reason: DropReason; feature?: string; message: string };

export type SendDecision = Extract<Decision, { kind: 'send' }>;

/** Plural nouns for sentences about a feature. */
export const FEATURE_NOUN: Readonly<Record<UnsupportedFeature, string>> = {
  sticker: 'Stickers',
  status: 'Status updates',
  disappearing: 'Disappearing messages',
  'view-once': 'View-once media',
  poll: 'Polls',
  location: 'Locations',
  contact: 'Contact cards',
  reaction: 'Reactions',
  edit: 'Edits',
  delete: 'Deletions',
  call: 'Calls',
};

/** Singular nouns with their article, for notices about one message. */
export const FEATURE_ONE: Readonly<Record<UnsupportedFeature, string>> = {
  sticker: 'a sticker',
  status: 'a status update',
  disappearing: 'a disappearing message',
  'view-once': 'view-once media',
  poll: 'a poll',
  location: 'a location',
  contact: 'a contact card',
  reaction: 'a reaction',
  edit: 'an edit',
  delete: 'a deletion',
  call: 'a call',
};

export function rejectMessage(f: UnsupportedFeature): string {
  if (f === 'view-once') {
    return 'View-once media cannot be sent to contacts on other networks: their app cannot make sure it is viewed only once.';
  }
  return `${FEATURE_NOUN[f]} cannot be sent to contacts on other networks.`;
}

export function dropMessage(f: UnsupportedFeature): string {
  if (f === 'delete') return 'Deletions do not reach contacts on other networks: the message stays visible to the recipient. Nothing was sent.';
  return `${FEATURE_NOUN[f]} are not shared with contacts on other networks. Nothing was sent.`;
}
