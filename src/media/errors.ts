// Typed errors of the media module. Every refusal (a blob or file that fails a check, a fetch that
// fails) is a MediaError with a stable `code` for the status reported to the sender or provider and
// a human sentence; nothing that failed a check is ever passed on (issue 4).

export const MEDIA_ERROR_CODES = [
  'too-large',
  'mime-mismatch',
  'unsupported-kind',
  'enc-hash-mismatch',
  'hash-mismatch',
  'size-mismatch',
  'tag-mismatch',
  'fetch-failed',
  'timeout',
] as const;
export type MediaErrorCode = (typeof MEDIA_ERROR_CODES)[number];

export class MediaError extends Error {
  override readonly name = 'MediaError';
  readonly code: MediaErrorCode;
  /**
   * True when trying again later may succeed (network failure, 5xx, timeout); false when the same
   * input will always be refused (wrong hash, too large, MIME mismatch, 4xx).
   */
  readonly retryable: boolean;
  constructor(code: MediaErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.retryable = opts.retryable ?? (code === 'timeout');
  }
}

export function isMediaError(err: unknown): err is MediaError {
  return err instanceof MediaError;
}
