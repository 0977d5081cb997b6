// The application service's HTTP routes (Matrix AS API v1): transactions, users and rooms queries,
// ping. Every request must carry the hs_token (`Authorization: Bearer`, AS API "Authorization", or
// the legacy `access_token` query parameter, which must match too when both are given; missing →
// 401 M_MISSING_TOKEN, wrong → 403 M_FORBIDDEN), compared in constant time.
// Transactions are deduplicated by txnId in Redis: a txnId is recorded only after everything it
// carried was handled and the crypto state it changed was persisted, so a homeserver retrying
// after a failure or a lost answer gets the work done exactly once (events are idempotent by
// event id on the way, see transaction.ts).
import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Json } from './matrix-api.ts';
import { Serial } from './serial.ts';

export interface AppserviceRoutesOptions {
  hsToken: () => string;
  redis: Redis;
  /** Redis key base of this adapter. */
  base: string;
  txnRetentionS: number;
  logger: Logger;
  onTransaction(txnId: string, body: Json): Promise<void>;
  /** Users query: true if the bridge provides (and has now registered) this user. */
  userExists(userId: string): Promise<boolean>;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

function hsAuth(token: () => string): MiddlewareHandler {
  return async function hsTokenAuth(c, next) {
    // A homeserver supporting legacy spec versions also sends `access_token` in the query (older
    // ones only that, some beside an empty "Bearer "); when both are given, both must match.
    const header = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const query = c.req.query('access_token');
    const given = [header, query].filter((t): t is string => t !== undefined && t !== '');
    if (given.length === 0) return c.json({ errcode: 'M_MISSING_TOKEN', error: 'missing hs_token' }, 401);
    const want = digest(token());
    if (!given.every((t) => timingSafeEqual(digest(t), want))) return c.json({ errcode: 'M_FORBIDDEN', error: 'bad hs_token' }, 403);
    await next();
  };
}

export function appserviceRoutes(o: AppserviceRoutesOptions): Hono {
  const app = new Hono();
  const serial = new Serial();
  const doneKey = (txnId: string): string => `${o.base}:txn:${txnId}`;
  app.use('/_matrix/app/*', hsAuth(o.hsToken));

  app.put('/_matrix/app/v1/transactions/:txnId', async (c) => {
    const txnId = c.req.param('txnId');
    let body: Json;
    try {
      body = (await c.req.json()) as Json;
    } catch {
      return c.json({ errcode: 'M_NOT_JSON', error: 'body is not JSON' }, 400);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return c.json({ errcode: 'M_BAD_JSON', error: 'body must be an object' }, 400);
    // One transaction at a time in this process (homeservers send them in order anyway).
    return serial.run('txn', async () => {
      if ((await o.redis.exists(doneKey(txnId))) === 1) {
        o.logger.debug({ txnId }, 'transaction already handled');
        return c.json({}, 200);
      }
      try {
        await o.onTransaction(txnId, body);
      } catch (err) {
        const name = (err as Error).name;
        if (name === 'LeaseBusyError' || name === 'LeaseLostError') {
          // Another replica runs the bridge's devices (lease.ts): the homeserver retries, and a retry
          // reaches the holder or finds the lease handed over or expired.
          o.logger.info({ txnId, why: (err as Error).message }, 'transaction refused for now: the bridge lease is elsewhere');
          c.header('Retry-After', '1');
          return c.json({ errcode: 'M_UNKNOWN', error: 'another replica is serving the bridge; retry' }, 503);
        }
        o.logger.warn({ txnId, err: (err as Error).message }, 'transaction failed; the homeserver will retry it');
        return c.json({ errcode: 'M_UNKNOWN', error: 'transaction not handled, retry later' }, 500);
      }
      await o.redis.set(doneKey(txnId), '1', 'EX', o.txnRetentionS);
      return c.json({}, 200);
    });
  });

  app.get('/_matrix/app/v1/users/:userId', async (c) => {
    if (await o.userExists(c.req.param('userId'))) return c.json({}, 200);
    return c.json({ errcode: 'M_NOT_FOUND', error: 'no such user here' }, 404);
  });
  app.get('/_matrix/app/v1/rooms/:alias', (c) => c.json({ errcode: 'M_NOT_FOUND', error: 'the bridge provides no room aliases' }, 404));
  app.post('/_matrix/app/v1/ping', (c) => c.json({}, 200));
  app.all('/_matrix/app/*', (c) => c.json({ errcode: 'M_UNRECOGNIZED', error: 'unrecognized request' }, 404));
  return app;
}
