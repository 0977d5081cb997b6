// HIP/1 stanza model (spec sections 2–11) as plain typed objects. No IO, no behaviour: the codec
// (parse.ts / build.ts) turns these into XML frames and back. Binary values are Uint8Array here and
// base64 on the wire; integers are numbers; times are UNIX seconds.

/** Enc types of spec 4/12: PreKeySignalMessage, SignalMessage, SenderKeyMessage. */
export type EncType = 'pkmsg' | 'msg' | 'skmsg';

/** Media kinds of spec 4 and 11. */
export const MEDIA_KINDS = ['image', 'video', 'audio', 'voice', 'document'] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];

/** Features the hub does not carry in version 1 (spec 11). */
export const UNSUPPORTED_FEATURES = [
  'sticker', 'status', 'disappearing', 'view-once', 'poll', 'location', 'contact', 'reaction', 'edit', 'delete', 'call',
] as const;
export type UnsupportedFeature = (typeof UNSUPPORTED_FEATURES)[number];

/** One ciphertext for one device (`<enc>`). */
export interface Enc {
  v: 1;
  type: EncType;
  /**
   * Present when the message's type is `media` (spec 4). Any other kind name is kept as a string so
   * that the hub can answer 406 for a declared unsupported kind such as `sticker` (spec 4, error table).
   */
  mediatype?: MediaKind | (string & {});
  /** 1–5 on a resend answering a retry receipt (spec 6.2). */
  count?: number;
  ciphertext: Uint8Array;
}

// ── Session stanzas (spec 2) ────────────────────────────────────────────────────────────────

export interface OpenStanza { kind: 'open'; user: string; token: string }
export interface OpenedStanza { kind: 'opened'; session: string; t: number }
export type FailureReason = 'not-authorized' | 'unknown-provider' | 'delisted' | 'conflict';
export interface FailureStanza { kind: 'failure'; reason: FailureReason }
export interface CloseStanza { kind: 'close'; reason?: string }

// ── Messages (spec 4, 5) ────────────────────────────────────────────────────────────────────

/**
 * `message/@type`: `text` or `media`; any other value is kept as a string so that the hub can answer
 * 406 for a declared feature kind such as `sticker` (spec 4, error table).
 */
export type MessageType = 'text' | 'media' | (string & {});

/** Client → hub (spec 4): one `<to>` per recipient device. */
export interface OutgoingMessage {
  kind: 'message';
  id: string;
  to: string;
  type: MessageType;
  t?: number;
  dhash?: string;
  participants: Array<{ jid: string; enc: Enc }>;
}

/** Hub → client (spec 5): only the `enc` for the session's device. */
export interface IncomingMessage {
  kind: 'message';
  id: string;
  from: string;
  participant: string;
  type: MessageType;
  t: number;
  offline?: boolean;
  enc: Enc;
}

export type MessageStanza = OutgoingMessage | IncomingMessage;

// ── Acks (spec 3, 4, 5, 6, 8) ───────────────────────────────────────────────────────────────

export type AckClass = 'message' | 'receipt' | 'notification' | 'iq' | 'unknown' | (string & {});

export interface AckStanza {
  kind: 'ack';
  class: AckClass;
  id?: string;
  t?: number;
  /** For receipt acks: the receipt's type (absent = delivery). */
  type?: ReceiptType;
  to?: string;
  from?: string;
  participant?: string;
  /** Error code of the table in spec 4 (400, 401, 403, 404, 406, 409, 413, 429, 500, 503). */
  error?: number;
  reason?: string;
  /** Seconds, with 429. */
  retryAfter?: number;
  /** With 406: `<unsupported feature="…"/>`. */
  unsupported?: string;
  /** With 409: the current device list (`<devices>` as in spec 7.3). */
  devices?: DeviceList;
}

// ── Receipts (spec 6) ───────────────────────────────────────────────────────────────────────

/** `delivery` is the absence of a `type` attribute on the wire. */
export type ReceiptType = 'delivery' | 'read' | 'played' | 'retry';

export interface ReceiptStanza {
  kind: 'receipt';
  /** The id of the (first) message it is about. */
  id: string;
  /** Client → hub. */
  to?: string;
  /** Hub → client. */
  from?: string;
  participant?: string;
  type: ReceiptType;
  t?: number;
  /** Further message ids (`<list><item id/></list>`). */
  list?: string[];
  /** Retry receipts only. */
  retry?: { count: number; t: number };
  /** Retry receipts only: the sender device's registration id (4 bytes big-endian on the wire). */
  registration?: number;
  /** Retry receipts from count 2 on: a fresh bundle (children as in a `user` element of 7.2). */
  keys?: KeyBundle;
}

// ── Keys and devices (spec 7) ───────────────────────────────────────────────────────────────

export interface PreKey { id: number; value: Uint8Array }
export interface SignedPreKey { id: number; value: Uint8Array; signature: Uint8Array }

/** One device's bundle as in a `user` element of 7.2. */
export interface KeyBundle {
  registration: number;
  identity: Uint8Array;
  skey: SignedPreKey;
  kyber: SignedPreKey;
  /** Absent when the device has no one-time EC prekeys left. */
  key?: PreKey;
}

export interface DeviceList {
  /** The user address (`447700900123@hub`). */
  jid: string;
  dhash: string;
  /** HIP device numbers, e.g. [0, 3]. */
  devices: number[];
}

export interface StanzaErrorBody { code: number; reason: string }

/** Request payloads, told apart by `xmlns`, `type` and child element. */
export type IqQuery =
  | {
      xmlns: 'encrypt';
      op: 'upload';
      registration?: number;
      identity?: Uint8Array;
      skey?: SignedPreKey;
      kyber?: SignedPreKey;
      preKeys?: PreKey[];
      kyberPreKeys?: SignedPreKey[];
    }
  | { xmlns: 'encrypt'; op: 'count' }
  | { xmlns: 'encrypt'; op: 'fetch'; jids: string[] }
  | { xmlns: 'devices'; op: 'devices'; jid: string }
  | { xmlns: 'directory'; op: 'lookup'; phone: string }
  | { xmlns: 'interop'; op: 'enlist' }
  | { xmlns: 'interop'; op: 'delist' }
  | { xmlns: 'interop'; op: 'status' }
  | { xmlns: 'features'; op: 'features' };

/** Which iq type each op travels with. */
export const IQ_OP_TYPE: Record<IqQuery['op'], 'get' | 'set'> = {
  upload: 'set', count: 'get', fetch: 'get', devices: 'get', lookup: 'get',
  enlist: 'set', delist: 'set', status: 'get', features: 'get',
};

export interface FeatureKind { name: string; maxSize?: number }

/** Result payloads, told apart by their child element (results carry no xmlns). */
export type IqResultPayload =
  | { op: 'empty' }
  | { op: 'count'; value: number; kyber: number }
  | { op: 'bundles'; users: Array<{ jid: string; bundle: KeyBundle } | { jid: string; error: StanzaErrorBody }> }
  | { op: 'devices'; list: DeviceList }
  | { op: 'lookup'; jid: string; name?: string }
  | { op: 'status'; enlisted: boolean }
  | { op: 'features'; kinds: FeatureKind[]; unsupported: string[] };

export interface IqRequest { kind: 'iq'; id: string; type: 'get' | 'set'; query: IqQuery }
export interface IqResult { kind: 'iq'; id: string; type: 'result'; result: IqResultPayload }
export interface IqError { kind: 'iq'; id: string; type: 'error'; error: StanzaErrorBody }
export type IqStanza = IqRequest | IqResult | IqError;

// ── Notifications (spec 8) ──────────────────────────────────────────────────────────────────

export type NotificationStanza =
  | { kind: 'notification'; id: string; t?: number; type: 'encrypt'; count: { value: number; kyber: number } }
  | { kind: 'notification'; id: string; t?: number; type: 'identity'; from: string }
  | { kind: 'notification'; id: string; t?: number; type: 'devices'; from: string; dhash: string }
  | { kind: 'notification'; id: string; t?: number; type: 'interop'; from: string; state: 'enabled' | 'disabled' }
  | { kind: 'notification'; id: string; t?: number; type: 'providers'; providers: Array<{ id: string; name: string }> };

// ── Chat state (spec 3 lists it; its shape is our decision, see docs/protocol-notes.md) ────────

export interface ChatstateStanza {
  kind: 'chatstate';
  to?: string;
  from?: string;
  participant?: string;
  state: 'composing' | 'paused';
}

export type Stanza =
  | OpenStanza
  | OpenedStanza
  | FailureStanza
  | CloseStanza
  | MessageStanza
  | AckStanza
  | ReceiptStanza
  | IqStanza
  | NotificationStanza
  | ChatstateStanza;

export type StanzaKind = Stanza['kind'];

// ── Content (spec 11, inside the encryption) ────────────────────────────────────────────────

export interface MediaRef {
  kind: MediaKind;
  mime: string;
  /** Plaintext bytes. */
  size: number;
  sha256: Uint8Array;
  encSha256: Uint8Array;
  key: Uint8Array;
  nonce: Uint8Array;
  url: string;
  filename?: string;
  width?: number;
  height?: number;
  durationMs?: number;
  caption?: string;
}

export interface Content {
  id: string;
  t: number;
  text?: string;
  media?: MediaRef;
  reply?: { to: string; sender: string };
  fallbacks?: Array<{ for: string; text: string }>;
}
