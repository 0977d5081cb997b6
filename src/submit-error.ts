/** Bad input from an adapter: names the offending field; nothing was queued. */
export class SubmitError extends Error {
  override readonly name = 'SubmitError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}
