// The hub's push endpoint (spec 9): POST {push_url} with {"user","pending"} and
// X-Hub-Signature: t=…,v1=HMAC-SHA256(push_secret, t + "." + body). A push is accepted only with a
// valid signature, a `t` within the tolerance, a signature not seen before (replays are refused for
// the tolerance window) and a user of this provider; then the user's session is opened so the hub
// drains its offline store. Anything else is a 4xx and changes nothing.
import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Secret } from '../config/secret.ts';
import { parseAddress, verifiedPushTime } from '../protocol/index.ts';

const MAX_BODY = 4096;
const pushSchema = z.object({ user: z.string(), pending: z.number().int().min(0) });

export interface HubPushOptions {
  secret: Secret | undefined;
  toleranceS: number;
  providerId: string;
  redis: Redis;
  prefix: string;
  /** Opens the user's session (draining happens on open). */
  drain: (user: string) => void;
}

export function hubPushRoutes(o: HubPushOptions): Hono {
  const app = new Hono();
  // The limit is applied while the body is read: an unauthenticated caller must not make us hold
  // an arbitrarily large body in memory before the signature is even looked at.
  const limit = bodyLimit({ maxSize: MAX_BODY, onError: (c) => c.json({ error: 'body too large' }, 413) });
  app.post('/hub/push', limit, async (c) => {
    if (!o.secret) return c.json({ error: 'pushes are not accepted: hub.push_secret is not configured' }, 403);
    const body = await c.req.text();
    const header = c.req.header('x-hub-signature') ?? '';
    const now = Math.floor(Date.now() / 1000);
    const t = verifiedPushTime(o.secret.reveal(), header, body, now, o.toleranceS);
    if (t === undefined) {
      return c.json({ error: 'invalid or expired X-Hub-Signature' }, 401);
    }
    // A push is identified by what was signed (t and body), not by how the header is spelled:
    // spaces, entry order or an extra entry would otherwise let a captured push be replayed.
    const seen = `${o.prefix}:push-seen:${createHash('sha256').update(`${t}.${body}`).digest('base64url')}`;
    if ((await o.redis.set(seen, '1', 'EX', o.toleranceS * 2, 'NX')) !== 'OK') return c.json({ error: 'replayed push' }, 409);
    let parsed;
    try {
      parsed = pushSchema.safeParse(JSON.parse(body));
    } catch {
      return c.json({ error: 'body is not JSON' }, 400);
    }
    if (!parsed.success) return c.json({ error: 'invalid push', issues: parsed.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })) }, 400);
    const addr = parseAddress(parsed.data.user);
    if (addr?.kind !== 'provider-user' || addr.provider !== o.providerId) return c.json({ error: 'user is not a user of this provider', field: 'user' }, 400);
    o.drain(parsed.data.user);
    return c.json({ accepted: true }, 202);
  });
  return app;
}
