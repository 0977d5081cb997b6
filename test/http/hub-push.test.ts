import { afterAll, describe, expect, it } from 'vitest';
import { hubPushRoutes } from '../../src/http/hub-push.ts';
import { pushSignatureHeader } from '../../src/protocol/index.ts';
import { hubPushRig } from './hub-push-rig.ts';

const { redis, prefix, cleanup, drained, post, now } = hubPushRig();
afterAll(cleanup);

describe('hub push endpoint (spec 9)', () => {
  it('accepts a signed push once and opens the user session', async () => {
    const body = JSON.stringify({ user: 'alice@birdy.interop', pending: 3 });
    const sig = pushSignatureHeader('push-secret', now(), body);
    expect((await post(body, sig)).status).toBe(202);
    expect(drained).toEqual(['alice@birdy.interop']);
    // the same push again is a replay
    expect((await post(body, sig)).status).toBe(409);
    expect(drained).toHaveLength(1);
  });

  it('refuses forged, stale, malformed and foreign pushes without acting', async () => {
    const body = JSON.stringify({ user: 'bob@birdy.interop', pending: 1 });
    expect((await post(body, pushSignatureHeader('wrong-secret', now(), body))).status).toBe(401);
    expect((await post(body, pushSignatureHeader('push-secret', now() - 301, body))).status).toBe(401);
    expect((await post(body, 'garbage')).status).toBe(401);
    const tampered = JSON.stringify({ user: 'bob@birdy.interop', pending: 2 });
    expect((await post(tampered, pushSignatureHeader('push-secret', now(), body))).status).toBe(401);
    const foreign = JSON.stringify({ user: 'eve@haiket.interop', pending: 1 });
    expect((await post(foreign, pushSignatureHeader('push-secret', now(), foreign))).status).toBe(400);
    const notJson = 'user=bob';
    expect((await post(notJson, pushSignatureHeader('push-secret', now(), notJson))).status).toBe(400);
    const badShape = JSON.stringify({ user: 'bob@birdy.interop', pending: -1 });
    expect((await post(badShape, pushSignatureHeader('push-secret', now(), badShape))).status).toBe(400);
    expect(drained.filter((u) => u !== 'alice@birdy.interop')).toEqual([]);
  });

  it('is closed when no push secret is configured', async () => {
    const closed = hubPushRoutes({ secret: undefined, toleranceS: 300, providerId: 'birdy', redis, prefix, drain: () => undefined });
    expect((await closed.request('/hub/push', { method: 'POST', body: '{}' })).status).toBe(403);
  });
});
