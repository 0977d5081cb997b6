// Logger factory: pino with redaction of anything that may hold a credential or message content
// (tokens, secrets, keys, passwords, authorization headers, text/plaintext/ciphertext), up to three
// levels deep. Secret objects (src/config/secret.ts) serialize as "[secret from …]" on their own.
// `pretty` prints one `TIME LEVEL name: msg {fields}` line per entry for humans (pino-pretty is not
// a dependency); redaction applies before either format.
import { pino, type DestinationStream, type Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface LoggerOptions {
  level: LogLevel;
  pretty?: boolean;
  name?: string;
  /** Where lines go (tests pass a buffer); stdout by default. */
  destination?: DestinationStream;
}

/** Field names whose values are never logged. */
export const REDACTED_KEYS = [
  'token', 'tokens', 'access_token', 'api_token', 'api_tokens', 'admin_token',
  'secret', 'push_secret', 'webhook_secret', 'password', 'passphrase',
  'key', 'keys', 'private_key', 'privateKey', 'signing_key', 'key_encryption_keys',
  'authorization', 'Authorization', 'cookie', 'set-cookie',
  'text', 'plaintext', 'ciphertext', 'caption', 'content',
] as const;

/** pino redact paths: each key at the top level and one or two levels down (`req.headers.authorization`). */
export const REDACT_PATHS: string[] = REDACTED_KEYS.flatMap((k) => {
  const seg = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `.${k}` : `["${k}"]`;
  const top = seg.startsWith('.') ? seg.slice(1) : seg;
  return [top, `*${seg}`, `*.*${seg}`];
});

export const REDACTED = '[redacted]';

export function createLogger(opts: LoggerOptions): Logger {
  const destination = opts.destination ?? pino.destination({ dest: 1, sync: false });
  return pino(
    {
      level: opts.level,
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      ...(opts.pretty ? { base: undefined, timestamp: pino.stdTimeFunctions.isoTime } : {}),
    },
    opts.pretty ? prettyDestination(destination) : destination,
  );
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };

/** Turns pino's JSON lines into `HH:MM:SS.mmm LEVEL name: msg {other fields}`. */
function prettyDestination(out: DestinationStream): DestinationStream {
  return {
    write(line: string): void {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const { level, time, msg, name, ...rest } = entry;
      const clock = typeof time === 'string' ? time.slice(11, 23) : '';
      const who = typeof name === 'string' ? `${name}: ` : '';
      const fields = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
      out.write(`${clock} ${LEVEL_NAMES[Number(level)] ?? String(level)} ${who}${String(msg ?? '')}${fields}\n`);
    },
  };
}

/** The URL without user, password, query or fragment (they may carry credentials). */
export function safeUrl(s: string): string {
  try {
    const u = new URL(s);
    const hidden = u.username !== '' || u.password !== '';
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    let text = u.toString();
    if (!s.endsWith('/') && u.pathname === '/') text = text.slice(0, -1);
    return hidden ? text.replace('://', '://***@') : text;
  } catch {
    return '(unparsable URL)';
  }
}
