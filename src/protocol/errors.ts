// HIP/1 error vocabulary: the ack error table of spec 4, the session failure reasons and close
// codes of spec 2/3, and the typed error the codec throws. No IO.

/** Ack error reasons and their codes (spec 4, error table). */
export const ACK_ERRORS = {
  'bad-request': 400,
  'id-reused': 400,
  'unrecognized-stanza': 400,
  'not-authorized': 401,
  'not-opted-in': 403,
  'not-enlisted': 403,
  blocked: 403,
  'no-such-user': 404,
  'unsupported-in-interop': 406,
  'stale-devices': 409,
  'too-large': 413,
  'rate-limited': 429,
  'internal-error': 500,
  unavailable: 503,
} as const;
export type AckErrorReason = keyof typeof ACK_ERRORS;

/** What a client does with each ack error (spec 4, last column). */
export type AckErrorAction = 'fail' | 'reopen' | 'enlist' | 'downgrade' | 'reencrypt' | 'wait' | 'backoff';
export const ACK_ERROR_ACTION: Record<AckErrorReason, AckErrorAction> = {
  'bad-request': 'fail',
  'id-reused': 'fail',
  'unrecognized-stanza': 'fail',
  'not-authorized': 'reopen',
  'not-opted-in': 'fail',
  'not-enlisted': 'enlist',
  blocked: 'fail',
  'no-such-user': 'fail',
  'unsupported-in-interop': 'downgrade',
  'stale-devices': 'reencrypt',
  'too-large': 'fail',
  'rate-limited': 'wait',
  'internal-error': 'backoff',
  unavailable: 'backoff',
};

/** WebSocket close codes used by HIP/1 (spec 2, 3). */
export const CLOSE_CODES = {
  normal: 1000,
  unsupportedData: 1003,
  invalidPayload: 1007,
  messageTooBig: 1009,
  notAuthorized: 4401,
  forbidden: 4403,
  conflict: 4409,
} as const;

/** Limits of spec 2/3. */
export const MAX_FRAME_BYTES = 256 * 1024;
export const MAX_DEPTH = 16;

export type ProtocolErrorCode =
  /** Not well-formed XML (unclosed tags, two roots, bad characters…): close 1007. */
  | 'not-well-formed'
  /** Well-formed but forbidden: DOCTYPE, entity declaration, processing instruction, depth > 16. */
  | 'forbidden-construct'
  /** Frame larger than the limit: close 1009. */
  | 'too-large'
  /** Well-formed, known root, but missing/invalid attributes or children: ack 400 bad-request. */
  | 'bad-request'
  /** Unknown top-level element: ack 400 unrecognized-stanza. */
  | 'unrecognized-stanza'
  /** Content document (spec 11) invalid, bad padding, or not decodable. */
  | 'bad-content';

/**
 * The only error the codec throws for bad input. `root` and `id` are filled when they could be
 * read, so that a hub can answer `<ack class=ROOT id=ID error=400 …/>` (spec 3).
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  readonly root: string | undefined;
  readonly id: string | undefined;
  constructor(code: ProtocolErrorCode, message: string, where: { root?: string; id?: string } = {}) {
    super(message);
    this.code = code;
    this.root = where.root;
    this.id = where.id;
  }

  /** True when the frame itself is unusable and the session must close (spec 3). */
  get fatal(): boolean {
    return this.code === 'not-well-formed' || this.code === 'too-large';
  }

  /** The WebSocket close code for a fatal error, or for any error before `<opened>` (spec 3). */
  get closeCode(): number {
    return this.code === 'too-large' ? CLOSE_CODES.messageTooBig : CLOSE_CODES.invalidPayload;
  }
}
