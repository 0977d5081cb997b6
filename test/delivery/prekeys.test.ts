// Prekey upkeep of opted-in provider users (spec 7.1, 8): topped up on the hub's `encrypt`
// notification and when a session opens with the count low; signed prekeys rotated on schedule.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, harness } from './harness.ts';

const ALICE = 'alice@birdy.interop';
let h: Awaited<ReturnType<typeof harness>>;

beforeAll(async () => {
  h = await harness({ users: [{ phone: '+447700900123', name: 'Ada', devices: [0] }] }, { preKeys: 20, lowWater: 15, rotateSignedMs: 3_600_000 });
  await h.core.setInterop('rec', 'alice', true);
});
afterAll(() => h.close());

const hubCount = () => h.hub.core.prekeys.count(ALICE);

describe('prekey upkeep', () => {
  it('tops up after the hub handed keys out, when the hub says they run low', async () => {
    expect(hubCount()).toEqual({ ec: 20, kyber: 20 });
    for (let i = 0; i < 12; i++) h.hub.core.prekeys.takeBundle(ALICE);
    expect(hubCount().ec).toBe(8);
    // the hub's `encrypt` notification (below 10) reaches the open session: Causeway uploads more
    h.hub.core.routeToProvider(ALICE, { kind: 'notification', id: 'low00001', type: 'encrypt', count: { value: 8, kyber: 8 } });
    await eventually(async () => hubCount().ec === 20, 10_000, 'topped up to 20');
    expect(hubCount().kyber).toBe(20);
  });

  it('tops up on session open when the count is below the low-water mark', async () => {
    for (let i = 0; i < 7; i++) h.hub.core.prekeys.takeBundle(ALICE);
    expect(hubCount().ec).toBe(13);
    h.sessions.close(ALICE);
    await h.sessions.get(ALICE);
    await eventually(async () => hubCount().ec === 20, 10_000, 'topped up on open');
  });

  it('rotates the signed prekeys when they are older than the schedule', async () => {
    const store = h.core.accounts.store(ALICE);
    const before = await store.getMarker('active-spk');
    await store.setMarker('rotated-at', Math.floor(Date.now() / 1000) - 7200);
    h.sessions.close(ALICE);
    await h.sessions.get(ALICE);
    await eventually(async () => (await store.getMarker('active-spk')) !== before, 10_000, 'rotation');
    // a hub user starting a session now gets the new signed prekey, and the message decrypts
    const { id } = (await h.control('POST', '/users/447700900123@hub/send', { to: ALICE, text: 'after rotation' })).body as { id: string };
    const m = await eventually(async () => h.connector.delivered.find((x) => x.id === id), 10_000, 'delivered');
    expect(m.text).toBe('after rotation');
  });
});
