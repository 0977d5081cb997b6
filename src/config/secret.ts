// Secrets in configuration. A secret field takes a literal string, `{ env: NAME }` or
// `{ file: PATH }`; it is resolved while the config is validated (so a missing variable or file is
// reported with the field's path) and wrapped in `Secret`, which never prints its value.
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { z } from 'zod';

/** A secret value that does not leak through logs, JSON or string interpolation. */
export class Secret {
  readonly #value: string;
  readonly source: string;
  constructor(value: string, source: string) {
    this.#value = value;
    this.source = source;
  }
  /** The value itself: call only where it is used (signing, comparing), never to log. */
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return `[secret from ${this.source}]`;
  }
  toJSON(): string {
    return this.toString();
  }
  [inspect.custom](): string {
    return this.toString();
  }
}

export const secretSchema = z
  .union([
    z.string().min(1, 'a secret must not be empty'),
    z.object({ env: z.string().min(1) }).strict(),
    z.object({ file: z.string().min(1) }).strict(),
  ])
  .transform((v, ctx): Secret => {
    if (typeof v === 'string') return new Secret(v, 'config file');
    if ('env' in v) {
      const value = process.env[v.env];
      if (value === undefined || value === '') {
        ctx.addIssue({ code: 'custom', message: `environment variable ${v.env} is not set` });
        return z.NEVER;
      }
      return new Secret(value, `env ${v.env}`);
    }
    try {
      const value = readFileSync(v.file, 'utf8').replace(/\r?\n$/, '');
      if (value === '') {
        ctx.addIssue({ code: 'custom', message: `secret file ${v.file} is empty` });
        return z.NEVER;
      }
      return new Secret(value, `file ${v.file}`);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `cannot read secret file ${v.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
      return z.NEVER;
    }
  });
