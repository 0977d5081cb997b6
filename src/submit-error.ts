/** Bad input from an adapter: names the offending field; nothing was queued. */
export class SubmitError extends Error {
  override readonly name = 'SubmitError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/**
 * The sender is over `limits.outbound_rate_per_user`: nothing was queued. Still a SubmitError (named
 * so), so every adapter that knows the sender's refusals treats it as one; `retryAfterS` tells the
 * webhook adapter to answer 429 with Retry-After.
 */
export class RateLimitError extends SubmitError {
  readonly retryAfterS: number;
  /** The config key that set the limit, for the answer to name it. */
  readonly limit = 'limits.outbound_rate_per_user';
  constructor(max: number, perSeconds: number, retryAfterS: number) {
    super('from', `is over limits.outbound_rate_per_user (at most ${max} messages per ${perSeconds} s per user); retry in ${retryAfterS} s`);
    this.retryAfterS = retryAfterS;
  }
}
