// The adapter contract: the only part of adapters/ the core (src/) knows. One connector per
// provider kind (webhook, Matrix, later MLS). In the spirit of mautrix bridgev2's
// NetworkConnector: the connector hands the core normalized outbound messages (`core.submit`),
// and the core hands the connector inbound messages, receipts, statuses and notices. Optional
// abilities are declared in `capabilities`; where one is missing the policy layer downgrades
// instead of failing.
//
// Addresses: provider users are named by their local id (`alice`, 1–64 of [a-z0-9._=-], spec 1);
// the core adds `@<provider>.interop`. Hub users are named by their hub address
// (`447700900123@hub`); `core.lookup(phone)` finds it from a phone number.
import type { Hono } from 'hono';
import type { MediaKind } from '../src/protocol/types.ts';

/** A message a provider user sends to a hub user. */
export interface OutboundMessage {
  /** The provider's own key for this message: a repeat with the same key is not sent twice. */
  idempotencyKey: string;
  /** Provider user local id. */
  from: string;
  /** Hub user address. */
  to: string;
  text?: string;
  /** A hub message id this one answers (spec 11 `<reply>`). */
  replyTo?: { id: string; sender: string };
  /** Media (issue: media both ways); absent for text. */
  media?: { kind: MediaKind; mime: string; data?: Uint8Array; url?: string; uploadId?: string; filename?: string; caption?: string };
  /** A feature the hub does not carry (sticker, poll, location…), for the downgrade policy. */
  feature?: { name: string; data: Record<string, unknown> };
}

/** A message a hub user sent to a provider user, decrypted. */
export interface InboundMessage {
  /** The hub's message id (unique per sender). */
  id: string;
  /** Hub user address, and the device that sent it. */
  from: string;
  fromDevice: string;
  /** Provider user local id. */
  to: string;
  /** UNIX seconds, as the sender stamped it. */
  t: number;
  text?: string;
  replyTo?: { id: string; sender: string };
  media?: {
    kind: MediaKind; mime: string; size: number; filename?: string; caption?: string; width?: number; height?: number; durationMs?: number;
    /** Small files' bytes, when the adapter asked for them. */
    data?: Uint8Array;
    /**
     * The verified file, re-encrypted by Causeway (AES-256-GCM, fresh key) and hosted at a signed,
     * expiring URL: the provider downloads the blob (ciphertext ‖ tag) and decrypts it.
     */
    hosted?: { url: string; key: Uint8Array; nonce: Uint8Array; sha256: Uint8Array; encSha256: Uint8Array };
    /** The verified plaintext, readable while `deliver` runs (adapters that upload it elsewhere). */
    open?: () => NodeJS.ReadableStream;
  };
  /** The sender downgraded these features (spec 11 `<fallback>`). */
  fallbacks?: Array<{ feature: string; text: string }>;
  /** Delivered late from the hub's offline store. */
  offline: boolean;
}

export type MessageState = 'queued' | 'sent' | 'delivered' | 'read' | 'played' | 'failed';

/** One step in the life of a provider user's message (mautrix-style MessageStatus). */
export interface MessageStatus {
  /** Causeway's id for the message (the HIP message id). */
  messageId: string;
  idempotencyKey: string;
  from: string;
  to: string;
  state: MessageState;
  /** Milliseconds since the epoch. */
  at: number;
  /** For delivered/read/played: the hub device that reported it. */
  device?: string;
  /** For failed: a stable reason code (`not-opted-in`, `blocked`, `too-large`, `expired`…)… */
  reason?: string;
  /** …a sentence the provider can show its user… */
  message?: string;
  /** …and whether the failure is certain (false: the hub may still have it, e.g. ack lost). */
  certain?: boolean;
  /** Features converted on the way (`sticker → image`). */
  downgraded?: Array<{ feature: string; to: string }>;
}

/** Receipts a hub user sent about provider users' messages arrive as MessageStatus updates. */

/** Things the provider should tell its user that are not messages. */
export type Notice =
  | { kind: 'safety-number-changed'; user: string; peer: string; held: boolean }
  | { kind: 'interop-changed'; user: string; peer: string; enabled: boolean }
  | { kind: 'undecryptable'; user: string; peer: string; messageId: string }
  /** A hub message the provider cannot show and the policy rejects (inbound `reject` rule). */
  | { kind: 'message-withheld'; user: string; peer: string; messageId: string; feature: string; text: string }
  | { kind: 'provider-enrolled'; user: string; provider: { id: string; name: string } };

export interface Capabilities {
  /** Media kinds the provider can show; others are downgraded. */
  media: MediaKind[];
  receipts: boolean;
  /** Features it can show when they arrive (none do from the hub in HIP/1). */
  features: string[];
}

/** One message of `CoreApi.submitMany`. */
export type SubmitOutcome = { messageId: string; duplicate: boolean } | { refused: { field: string; message: string } };

/** What the core offers a connector. */
export interface CoreApi {
  /** The provider id the hub assigned (`birdy`). */
  readonly providerId: string;
  /** Queues a message; resolves once it is stored durably. A repeat key answers duplicate: true. */
  submit(adapterId: string, m: OutboundMessage): Promise<{ messageId: string; duplicate: boolean }>;
  /**
   * Several messages in one durable write, in the given order (one conversation's messages keep
   * it); resolves once every accepted one is stored. Per message: accepted (a repeat key answers
   * duplicate: true) or refused as the sender's error (what `submit` throws as SubmitError), with
   * nothing stored for it. Optional: a connector falls back to one `submit` per message.
   */
  submitMany?(adapterId: string, ms: ReadonlyArray<OutboundMessage>): Promise<SubmitOutcome[]>;
  /** The status history of a message. */
  statuses(adapterId: string, idempotencyKeyOrMessageId: string): Promise<MessageStatus[] | undefined>;
  /** Opt a provider user in (keys, upload, enlist) or out (delist); its hub traffic then goes to this adapter. */
  setInterop(adapterId: string, user: string, enabled: boolean): Promise<void>;
  /** A hub user's address for a phone number, if reachable from this provider. */
  lookup(user: string, phone: string): Promise<string | undefined>;
  /**
   * The provider user acknowledged a peer's new safety number (policy `identity_change: hold`):
   * messages held for that peer go out. Resolves whether anything was held.
   */
  acknowledgeIdentity(user: string, peer: string): Promise<boolean>;
  /**
   * Takes a file ahead of its message (large files, streamed): checked by content, encrypted and
   * hosted; the answer's `uploadId` then stands for it in `OutboundMessage.media`. Kept 24 h.
   */
  uploadMedia(u: { kind: MediaKind; mime: string; filename?: string; body: ReadableStream<Uint8Array> }): Promise<{ uploadId: string; mime: string; size: number }>;
  /** The provider user read (or played) hub messages. */
  markRead(user: string, peer: string, messageIds: string[], type: 'read' | 'played'): Promise<void>;
}

/** Errors a connector throws from `deliver` that must not be retried. */
export class PermanentDeliveryError extends Error {
  override readonly name = 'PermanentDeliveryError';
}

export interface Connector {
  readonly type: string;
  readonly id: string;
  readonly capabilities: Capabilities;
  /** Receives the core; does no IO. */
  init(core: CoreApi): void;
  /** HTTP routes of the connector, mounted on the sidecar's app (each authenticates itself). */
  routes?(): Hono;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Hands an inbound message to the provider; resolves once the provider accepted it. */
  deliver(m: InboundMessage): Promise<void>;
  status(s: MessageStatus): Promise<void>;
  notice(n: Notice): Promise<void>;
}
