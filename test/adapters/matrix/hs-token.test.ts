// The hs_token check against the AS API's "Authorization" rules (v1.4+): the `Authorization:
// Bearer` header is the token; a homeserver supporting legacy versions may also send the
// `access_token` query parameter (alongside the header, or alone: older homeservers), and the
// application service should ensure both match when both are given.
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { appserviceRoutes } from '../../../adapters/matrix/routes.ts';
import { testRedis } from '../../support/redis.ts';

describe('appservice routes: hs_token in the header and the legacy query parameter', () => {
  const { redis, prefix, cleanup } = testRedis();
  afterAll(() => cleanup());
  const handled: string[] = [];
  const app = appserviceRoutes({
    hsToken: () => 'HS', redis, base: prefix, txnRetentionS: 60, logger: pino({ level: 'silent' }),
    onTransaction: async (txnId) => void handled.push(txnId),
    userExists: async () => false,
  });
  const put = (path: string, auth?: string) =>
    app.request(path, { method: 'PUT', headers: { 'content-type': 'application/json', ...(auth !== undefined ? { authorization: auth } : {}) }, body: JSON.stringify({ events: [] }) });

  it('refuses a request whose query token differs from its header token', async () => {
    const r = await put('/_matrix/app/v1/transactions/q1?access_token=WRONG', 'Bearer HS');
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ errcode: 'M_FORBIDDEN' });
    expect(handled).toEqual([]);
  });

  it('accepts the token as the legacy query parameter (alone, or beside an empty Bearer header), and refuses a wrong one', async () => {
    expect((await put('/_matrix/app/v1/transactions/q2?access_token=HS')).status).toBe(200);
    expect((await put('/_matrix/app/v1/transactions/q3?access_token=HS', 'Bearer ')).status).toBe(200);
    expect((await put('/_matrix/app/v1/transactions/q4?access_token=HS', 'Bearer HS')).status).toBe(200);
    expect((await put('/_matrix/app/v1/transactions/q5?access_token=nope')).status).toBe(403);
    expect((await put('/_matrix/app/v1/transactions/q6')).status).toBe(401);
    expect(handled).toEqual(['q2', 'q3', 'q4']);
  });
});
