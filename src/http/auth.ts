// Bearer-token authentication for Causeway's HTTP routes (Hono middleware factory). Tokens are
// compared in constant time; with no token configured the route is closed (401), never open.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Secret } from '../config/secret.ts';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function bearerAuth(tokens: ReadonlyArray<Secret>, realm: string): MiddlewareHandler {
  const expected = tokens.map((t) => digest(t.reveal()));
  return async function bearer(c, next) {
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const got = m ? digest(m[1] as string) : undefined;
    if (!got || !expected.some((e) => timingSafeEqual(e, got))) {
      c.header('WWW-Authenticate', `Bearer realm="${realm}"`);
      return c.json({ error: expected.length === 0 ? `${realm} is disabled: no token configured` : 'missing or invalid bearer token' }, 401);
    }
    await next();
  };
}
