// The hub push endpoint (spec 9) against a replayed push written differently and an oversized
// body: a captured push whose X-Hub-Signature is re-spelled (spaces, order, an extra entry) still
// verifies, so it must be recognised as the same push; and a body over the limit must be refused
// without being read whole into memory.
import { afterAll, describe, expect, it } from 'vitest';
import { pushSignatureHeader } from '../../src/protocol/index.ts';
import { hubPushRig } from '../http/hub-push-rig.ts';

const { cleanup, app, drained, post, now } = hubPushRig();
afterAll(cleanup);

describe('hub push: replays and oversized bodies', () => {
  it('refuses a replay whose signature header is spelled differently', async () => {
    const body = JSON.stringify({ user: 'replay@birdy.interop', pending: 1 });
    const sig = pushSignatureHeader('push-secret', now(), body);
    expect((await post(body, sig)).status).toBe(202);
    const [t, v1] = sig.split(',') as [string, string];
    for (const variant of [`${t}, ${v1}`, `${v1},${t}`, `${sig},v0=x`, ` ${t},${v1} `]) {
      expect((await post(body, variant)).status, variant).toBe(409);
    }
    expect(drained.filter((u) => u === 'replay@birdy.interop')).toHaveLength(1);
  });

  it('refuses a body over the limit without reading all of it', async () => {
    let pulled = 0;
    const chunk = new Uint8Array(1024).fill(0x20);
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled += chunk.length;
        if (pulled > 1024 * 1024) c.close();
        else c.enqueue(chunk);
      },
    });
    const res = await app.request('/hub/push', {
      method: 'POST', body, duplex: 'half',
      headers: { 'content-type': 'application/json', 'x-hub-signature': pushSignatureHeader('push-secret', now(), '{}') },
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(pulled).toBeLessThan(64 * 1024);
  });
});
