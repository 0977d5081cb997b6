// The hub push endpoint (spec 9) on a real Redis: provider "birdy", push secret "push-secret", a
// 300 s tolerance, and the users it drains recorded; with a poster of a body under a signature
// header. The set-up of hub-push.test.ts and hub/push-replay.test.ts.
import { Secret } from '../../src/config/secret.ts';
import { hubPushRoutes } from '../../src/http/hub-push.ts';
import { testRedis } from '../support/redis.ts';

export function hubPushRig() {
  const { redis, prefix, cleanup } = testRedis();
  const drained: string[] = [];
  const app = hubPushRoutes({ secret: new Secret('push-secret', 'test'), toleranceS: 300, providerId: 'birdy', redis, prefix, drain: (u) => drained.push(u) });
  const post = (body: string, sig: string) => app.request('/hub/push', { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-hub-signature': sig } });
  const now = () => Math.floor(Date.now() / 1000);
  return { redis, prefix, cleanup, app, drained, post, now };
}
