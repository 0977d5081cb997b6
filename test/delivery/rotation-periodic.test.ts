// Issue 3: signed prekeys rotate on a schedule. A provider user whose hub session stays open (a busy
// user is never idle-closed) must still get the rotation: not only when a session opens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, harness } from './harness.ts';

const ALICE = 'alice@birdy.interop';
let h: Awaited<ReturnType<typeof harness>>;

beforeAll(async () => {
  // A 10 s schedule: checked every second (a tenth of it, at least 1 s).
  h = await harness({ users: [{ phone: '+447700900123', name: 'Ada', devices: [0] }] }, { preKeys: 20, lowWater: 5, rotateSignedMs: 10_000 });
  await h.core.setInterop('rec', 'alice', true);
});
afterAll(() => h.close());

describe('signed prekey rotation on a long-lived session', () => {
  it('rotates while the session stays open, and the hub gets the new signed prekey', async () => {
    const conn = await h.sessions.get(ALICE);
    const store = h.core.accounts.store(ALICE);
    const before = await store.getMarker('active-spk');
    await store.setMarker('rotated-at', Math.floor(Date.now() / 1000) - 3600);
    const after = await eventually(async () => {
      const now = await store.getMarker('active-spk');
      return now !== before ? now : undefined;
    }, 10_000, 'rotation on the open session');
    // the same session all along: nothing was reopened
    expect(await h.sessions.get(ALICE)).toBe(conn);
    expect(conn.open).toBe(true);
    // the marker says when the hub took it (written once the upload's ack is in, just after the
    // new key became active), and the hub hands the new signed prekey out
    await eventually(async () => ((await store.getMarker('rotated-at')) ?? 0) > Math.floor(Date.now() / 1000) - 60, 10_000, 'rotation time recorded');
    await eventually(async () => h.hub.core.prekeys.takeBundle(ALICE)?.skey.id === after, 10_000, 'hub has the new signed prekey');
    // a hub user starting a session now uses it, and the message decrypts
    const { id } = (await h.control('POST', '/users/447700900123@hub/send', { to: ALICE, text: 'after rotation' })).body as { id: string };
    const m = await eventually(async () => h.connector.delivered.find((x) => x.id === id), 10_000, 'delivered');
    expect(m.text).toBe('after rotation');
  });
});
